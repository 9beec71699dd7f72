"""The bot's environment: what an operator would put in .env, pointing at the stand-ins.

The variable names are the bot's contract (see .env.example); nothing else configures it.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.standins.discord import DiscordStandIn
from tests.standins.musicgpt import MusicGPTStandIn

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "audio"

# The DATABASE_URL every bot a test starts gets unless the test sets its own: None keeps the
# bot on SQLite at DATABASE_PATH. The `on_both_databases` fixture (tests/e2e/conftest.py)
# sets it to a fresh PostgreSQL database for the PostgreSQL run of a test.
DEFAULT_DATABASE_URL: str | None = None


def bot_env(
    dc: DiscordStandIn,
    mg: MusicGPTStandIn,
    tmp: Path,
    webhook_port: int,
    *,
    webhooks: bool = True,
    log_level: str = "DEBUG",
    **overrides: str,
) -> dict[str, str]:
    """The environment of `python -m bot` between `dc` and `mg`, its database under `tmp`
    (or in PostgreSQL: DEFAULT_DATABASE_URL, or a DATABASE_URL override).

    `webhooks=True` sets PUBLIC_BASE_URL, so MusicGPT is asked to call the bot back. An
    override of "" removes the variable (e.g. `DEV_GUILD_ID=""`: commands synced globally).
    """
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "DISCORD_TOKEN": dc.token,
        "MUSICGPT_API_KEY": mg.api_key,
        "MUSICGPT_API_BASE": mg.base_url,
        "DISCORD_API_BASE": dc.api_base,
        "DISCORD_GATEWAY_URL": dc.gateway_url,
        "DEV_GUILD_ID": str(dc.guild_id),
        "DATABASE_PATH": str(tmp / "data" / "bot.sqlite3"),
        "WEBHOOK_HOST": "127.0.0.1",
        "WEBHOOK_PORT": str(webhook_port),
        "LOG_LEVEL": log_level,
    }
    if webhooks:
        env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{webhook_port}"
    if DEFAULT_DATABASE_URL:
        env["DATABASE_URL"] = DEFAULT_DATABASE_URL  # DATABASE_PATH's folder still holds files
    env.update(overrides)
    return {k: v for k, v in env.items() if v != ""}


def with_webhook_port(env: dict[str, str], port: int) -> None:
    """Move the bot's webhook receiver (and the URL it gives MusicGPT) to `port`."""
    env["WEBHOOK_PORT"] = str(port)
    if "PUBLIC_BASE_URL" in env:
        env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
