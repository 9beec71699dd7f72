# The bot in one image: `docker compose up -d` (compose.yaml), or see docs/operations.md "Docker".
# Pinned to a patch release so a rebuild is the same image; move it up with each 3.11 patch.
FROM python:3.11.15-slim-trixie

# The image owns DATABASE_PATH: the database and the audio waiting beside it live in the
# /data volume, which the bot's user can write (.env.example leaves it commented out, since
# an --env-file value would override this one).
# MALLOC_ARENA_MAX: worker threads (aiosqlite, file writes) otherwise each reserve an arena.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_PATH=/data/bot.sqlite3 \
    MALLOC_ARENA_MAX=2
WORKDIR /app

# Dependencies first, so code changes don't reinstall them. Every runtime dependency ships a
# manylinux wheel (PyAV bundles FFmpeg), so no compiler and no apt packages are needed.
COPY requirements.txt .
RUN pip install --no-cache-dir --root-user-action=ignore -r requirements.txt

# Everything `python -m bot` imports lives in these two packages (tests/unit/test_docker.py
# checks); files stay root's, so the bot can't rewrite its own code.
COPY bot/ bot/
COPY cogs/ cogs/

# A numeric user, so Kubernetes' runAsNonRoot and `docker run --user` checks can see it is
# not root; --no-log-init keeps a high UID from bloating /var/log/faillog.
RUN groupadd --system --gid 10001 singer \
    && useradd --system --no-log-init --uid 10001 --gid 10001 --home-dir /app singer \
    && mkdir /data \
    && chown 10001:10001 /data
USER 10001:10001
VOLUME ["/data"]
# WEBHOOK_PORT's default; publishing it for webhooks needs PUBLIC_BASE_URL (the bot then
# listens on 0.0.0.0) or WEBHOOK_HOST=0.0.0.0: otherwise it listens on 127.0.0.1 only.
EXPOSE 8080

# Exec form expands no variables, so bot.healthcheck reads WEBHOOK_PORT itself and asks
# /readyz. Failures within the start period don't count: start-up (connecting to Discord,
# syncing commands, resuming unfinished tasks) takes about a second on a small server, and
# the margin covers a slow network or a big backlog.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "bot.healthcheck"]
CMD ["python", "-m", "bot"]
