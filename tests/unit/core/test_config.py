"""Settings from the environment, and what `python -m bot` does with bad ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.config import load_settings
from bot.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
BASE = {"DISCORD_TOKEN": "discord-secret-token", "MUSICGPT_API_KEY": "mg-secret-key"}


def test_defaults() -> None:
    settings = load_settings(BASE)
    assert settings.musicgpt_api_base == "https://api.musicgpt.com/api/public"
    assert settings.discord_api_base == "https://discord.com/api/v10"
    assert settings.discord_gateway_url == "wss://gateway.discord.gg/"
    assert settings.dev_guild_id is None
    assert settings.database_path == Path("data/bot.sqlite3")
    assert settings.public_base_url is None and not settings.uses_webhooks
    # Polling only: the receiver serves only the health checks, to this machine alone.
    assert (settings.webhook_host, settings.webhook_port) == ("127.0.0.1", 8080)
    assert (settings.user_daily_quota, settings.user_max_active) == (5, 2)
    assert (settings.musicgpt_max_parallel, settings.musicgpt_polls_per_minute) == (1, 20)
    assert settings.max_audio_mb == 25 and settings.max_audio_bytes == 25 * 1024 * 1024
    assert settings.audio_spool_mb == 4096 and settings.audio_spool_bytes == 4096 * 1024 * 1024
    assert settings.log_level == "INFO"
    assert settings.shutdown_grace_seconds == 20


def test_overrides() -> None:
    settings = load_settings(
        {
            **BASE,
            "DEV_GUILD_ID": "123",
            "PUBLIC_BASE_URL": "https://bot.example.com/",
            "USER_DAILY_QUOTA": "9",
            "LOG_LEVEL": "debug",
            "WEBHOOK_PORT": "0",
            "AUDIO_SPOOL_MB": "512",
            "SHUTDOWN_GRACE_SECONDS": "0",
        }
    )
    assert settings.shutdown_grace_seconds == 0
    assert settings.audio_spool_bytes == 512 * 1024 * 1024
    assert settings.dev_guild_id == 123
    assert settings.public_base_url == "https://bot.example.com"
    assert settings.user_daily_quota == 9 and settings.log_level == "DEBUG"
    assert settings.webhook_port == 0
    assert settings.webhook_host == "0.0.0.0"  # webhooks: MusicGPT must reach it


@pytest.mark.parametrize(
    ("env", "host"),
    [
        ({}, "127.0.0.1"),
        ({"PUBLIC_BASE_URL": "https://bot.example.com"}, "0.0.0.0"),
        ({"WEBHOOK_HOST": "0.0.0.0"}, "0.0.0.0"),  # asked for explicitly: polling or not
        ({"PUBLIC_BASE_URL": "https://bot.example.com", "WEBHOOK_HOST": "10.0.0.5"}, "10.0.0.5"),
        ({"WEBHOOK_HOST": "  "}, "127.0.0.1"),
    ],
)
def test_webhook_host(env: dict[str, str], host: str) -> None:
    assert load_settings({**BASE, **env}).webhook_host == host


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("USER_DAILY_QUOTA", "five", "USER_DAILY_QUOTA must be a whole number"),
        ("USER_MAX_ACTIVE", "0", "USER_MAX_ACTIVE must be at least 1"),
        ("WEBHOOK_PORT", "70000", "WEBHOOK_PORT must be a port number"),
        ("PUBLIC_BASE_URL", "ftp://x", "PUBLIC_BASE_URL must be a http/https URL"),
        ("DISCORD_GATEWAY_URL", "http://x", "DISCORD_GATEWAY_URL must be a ws/wss URL"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be one of"),
        ("DEV_GUILD_ID", "abc", "DEV_GUILD_ID must be a whole number"),
        ("AUDIO_SPOOL_MB", "0", "AUDIO_SPOOL_MB must be at least 1"),
        ("AUDIO_SPOOL_MB", "4 GB", "AUDIO_SPOOL_MB must be a whole number"),
        ("SHUTDOWN_GRACE_SECONDS", "-1", "SHUTDOWN_GRACE_SECONDS must be at least 0"),
        ("SHUTDOWN_GRACE_SECONDS", "20s", "SHUTDOWN_GRACE_SECONDS must be a whole number"),
    ],
)
def test_malformed_values_name_the_setting(name: str, value: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint) as caught:
        load_settings({**BASE, name: value})
    assert value not in str(caught.value) or value.isdigit()


def test_secrets_stay_out_of_repr() -> None:
    text = repr(load_settings(BASE))
    assert "discord-secret-token" not in text and "mg-secret-key" not in text


def run_bot(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,  # no .env there
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_python_m_bot_without_settings_exits_2_naming_every_missing_one(tmp_path: Path) -> None:
    result = run_bot({"WEBHOOK_PORT": "http"}, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: DISCORD_TOKEN and MUSICGPT_API_KEY are required but not set (see .env.example); "
        "WEBHOOK_PORT must be a whole number"
    )


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"MUSICGPT_API_KEY": "k", "MAX_AUDIO_MB": "0", "LOG_LEVEL": "LOUD"})
    assert str(caught.value) == (
        "DISCORD_TOKEN is required but not set (see .env.example); "
        "MAX_AUDIO_MB must be at least 1; "
        "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
    )
    with pytest.raises(ConfigError, match=r"^DISCORD_TOKEN and MUSICGPT_API_KEY are required"):
        load_settings({"DISCORD_TOKEN": "  "})


def test_malformed_setting_exits_2_without_echoing_secrets(tmp_path: Path) -> None:
    result = run_bot({**BASE, "MAX_AUDIO_MB": "lots"}, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: MAX_AUDIO_MB must be a whole number"
    assert "secret" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("raw", "shown"),
    [(None, False), ("", False), ("false", False), ("0", False), ("true", True), ("YES", True)],
)
def test_show_cost_is_off_unless_the_owner_turns_it_on(raw: str | None, shown: bool) -> None:
    env = BASE if raw is None else {**BASE, "SHOW_COST": raw}
    assert load_settings(env).show_cost is shown


def test_show_cost_must_be_true_or_false() -> None:
    with pytest.raises(ConfigError, match=r"^SHOW_COST must be true or false$"):
        load_settings({**BASE, "SHOW_COST": "sometimes"})


def test_show_cost_is_in_env_example() -> None:
    assert "\nSHOW_COST=false\n" in (ROOT / ".env.example").read_text()


# --- several processes: DATABASE_URL, SHARD_COUNT, SHARD_IDS (docs/scaling.md) -------------


def test_one_process_on_sqlite_unless_told_otherwise() -> None:
    settings = load_settings(BASE)
    assert settings.database_url is None and not settings.uses_postgres
    assert settings.database_url_redacted is None and settings.database_secrets == ()
    assert (settings.shard_count, settings.shard_ids) == (None, None)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://bot@127.0.0.1:5432/singbot",
        "postgres://bot@db/singbot",  # libpq's short scheme; the port defaults to 5432
        "postgresql://bot:s3cret-pass@db.internal:6543/singbot?sslmode=require",
        "postgresql://[::1]:5432/singbot",
        "postgresql:///singbot?host=/var/run/postgresql",  # a Unix socket
    ],
)
def test_database_url_takes_postgresql_urls(url: str) -> None:
    settings = load_settings({**BASE, "DATABASE_URL": f" {url} "})
    assert settings.database_url == url and settings.uses_postgres
    # The SQLite path stays what it was: audio waiting for MusicGPT still goes next to it.
    assert settings.database_path == Path("data/bot.sqlite3")


@pytest.mark.parametrize(
    "url",
    [
        "mysql://bot@db/singbot",
        "sqlite:///data/bot.sqlite3",
        "data/bot.sqlite3",
        "postgresql://bot@db",  # no database
        "postgresql://bot@db/",
        "postgresql://bot@db/singbot/extra",
        "postgresql://bot@db:port/singbot",
        "postgresql://bot@db:99999/singbot",
        "postgresql:///singbot",  # no host at all
    ],
)
def test_database_url_must_be_a_postgresql_url(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE, "DATABASE_URL": url})
    assert str(caught.value) == "DATABASE_URL must be a postgresql://USER@HOST:PORT/DBNAME URL"


def test_the_database_password_stays_out_of_repr_and_the_redacted_form() -> None:
    url = "postgresql://bot:pa%40ss-w0rd-long@db:5432/singbot?sslmode=require&password=other-one"
    settings = load_settings({**BASE, "DATABASE_URL": url})
    for shown in (repr(settings), settings.database_url_redacted or ""):
        assert "pa%40ss" not in shown and "pa@ss" not in shown and "other-one" not in shown
    assert settings.database_url_redacted == (
        "postgresql://bot:<redacted>@db:5432/singbot?sslmode=require&password=<redacted>"
    )
    assert set(settings.database_secrets) == {
        url,
        "pa%40ss-w0rd-long",
        "pa@ss-w0rd-long",
        "other-one",
    }


def test_a_url_without_a_password_is_shown_as_it_is() -> None:
    settings = load_settings({**BASE, "DATABASE_URL": "postgres://bot@db/singbot"})
    assert settings.database_url_redacted == "postgres://bot@db/singbot"
    assert settings.database_secrets == ("postgres://bot@db/singbot",)


def test_a_bad_database_url_never_echoes_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE, "DATABASE_URL": "mysql://bot:hunter2-secret@db/x"})
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("env", "count", "ids"),
    [
        ({"SHARD_COUNT": "1"}, 1, (0,)),
        ({"SHARD_COUNT": "4"}, 4, (0, 1, 2, 3)),  # without SHARD_IDS: every shard, here
        ({"SHARD_COUNT": "2", "SHARD_IDS": "1"}, 2, (1,)),
        ({"SHARD_COUNT": "6", "SHARD_IDS": " 4, 2 ,0"}, 6, (0, 2, 4)),
        ({"SHARD_COUNT": "3", "SHARD_IDS": " "}, 3, (0, 1, 2)),  # blank is unset
    ],
)
def test_shards(env: dict[str, str], count: int, ids: tuple[int, ...]) -> None:
    settings = load_settings({**BASE, **env})
    assert (settings.shard_count, settings.shard_ids) == (count, ids)


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT must be at least 1"),
        ({"SHARD_COUNT": "two"}, "SHARD_COUNT must be a whole number"),
        ({"SHARD_IDS": "0"}, "SHARD_IDS needs SHARD_COUNT (how many shards there are in all)"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0,2"}, "SHARD_IDS must be shard numbers from 0 to 1"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "1,1"}, "SHARD_IDS names a shard more than once"),
        (
            {"SHARD_COUNT": "2", "SHARD_IDS": "0;1"},
            "SHARD_IDS must be shard numbers separated by commas (e.g. 0,1)",
        ),
        (
            {"SHARD_COUNT": "2", "SHARD_IDS": "-1"},
            "SHARD_IDS must be shard numbers separated by commas (e.g. 0,1)",
        ),
        (
            {"SHARD_COUNT": "2", "SHARD_IDS": "0,"},
            "SHARD_IDS must be shard numbers separated by commas (e.g. 0,1)",
        ),
        # A SHARD_COUNT that is there but wrong is the one problem, not a second one.
        ({"SHARD_COUNT": "x", "SHARD_IDS": "0"}, "SHARD_COUNT must be a whole number"),
    ],
)
def test_bad_shards_are_named(env: dict[str, str], complaint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE, **env})
    assert str(caught.value) == complaint


def test_every_scaling_problem_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {"SHARD_IDS": "0,0", "DATABASE_URL": "postgresql://db", "MUSICGPT_API_KEY": "k"}
        )
    assert str(caught.value) == (
        "DISCORD_TOKEN is required but not set (see .env.example); "
        "SHARD_IDS names a shard more than once; "
        "DATABASE_URL must be a postgresql://USER@HOST:PORT/DBNAME URL"
    )
