FROM python:3.11-slim

# MALLOC_ARENA_MAX: worker threads (aiosqlite, file writes) otherwise each reserve an arena.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATABASE_PATH=/data/bot.sqlite3 MALLOC_ARENA_MAX=2
WORKDIR /app

# Dependencies first, so code changes don't reinstall them.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY bot/ bot/
COPY cogs/ cogs/

RUN useradd --create-home --uid 10001 singer && mkdir /data && chown singer /data
USER singer
VOLUME ["/data"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status != 200)"
CMD ["python", "-m", "bot"]
