"""Settings, read from the environment once at start-up.

`load_settings` never reads `.env` itself (that is `__main__`'s job), so tests can pass a plain
dict. Bad settings raise one `ConfigError` naming every one of them and what is wrong (all the
missing ones together first), never a value: some settings are secrets. An owner fixes them
all in one go, not one per start.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from bot.core.errors import ConfigError

T = TypeVar("T")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MIN_TOKEN_LENGTH = 16  # METRICS_TOKEN

UrlOrigin = tuple[str, str, int]  # scheme, host, port: what a URL may be fetched from
DISCORD_CDN_ORIGINS: frozenset[UrlOrigin] = frozenset(
    {("https", "cdn.discordapp.com", 443), ("https", "media.discordapp.net", 443)}
)


def origin_of(url: str) -> UrlOrigin:
    """(scheme, host, port) of `url`, lower case, the port filled in; ValueError if bad."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme, 0)
    return scheme, (parts.hostname or "").lower(), port


@dataclass(frozen=True, slots=True)
class Settings:
    discord_token: str = field(repr=False)
    musicgpt_api_key: str = field(repr=False)
    musicgpt_api_base: str = "https://api.musicgpt.com/api/public"
    discord_api_base: str = "https://discord.com/api/v10"
    discord_gateway_url: str = "wss://gateway.discord.gg/"
    dev_guild_id: int | None = None
    database_path: Path = Path("data/bot.sqlite3")
    public_base_url: str | None = None
    # Where the receiver listens. Unset: every interface when MusicGPT must reach it
    # (PUBLIC_BASE_URL set), only this machine when polling (then it serves just the health
    # checks, and nothing outside needs it).
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8080
    user_daily_quota: int = 5
    user_max_active: int = 2
    musicgpt_max_parallel: int = 1
    musicgpt_polls_per_minute: int = 20
    max_audio_mb: int = 25
    audio_spool_mb: int = 4096
    poll_give_up_minutes: int = 30
    # Uploads kept after submit for Again: how long after their last use, and how much in
    # all (least recently used go first). 0 for either keeps nothing.
    input_retention_days: int = 7
    input_store_mb: int = 2048
    # On SIGTERM, how long submits already uploading to MusicGPT get to finish (compose's
    # stop_grace_period must be longer, or Docker kills the bot first).
    shutdown_grace_seconds: int = 20
    log_level: str = "INFO"
    # Whether result posts show what the song cost in MusicGPT credits, to the whole channel.
    show_cost: bool = False
    # The bearer token GET /metrics asks for; None: /metrics answers only on a loopback bind
    # without webhooks, and 403 where other machines can reach the port (bot/http.py).
    metrics_token: str | None = field(default=None, repr=False)

    @property
    def max_audio_bytes(self) -> int:
        return self.max_audio_mb * 1024 * 1024

    @property
    def audio_spool_bytes(self) -> int:
        return self.audio_spool_mb * 1024 * 1024

    @property
    def input_store_bytes(self) -> int:
        return self.input_store_mb * 1024 * 1024

    @property
    def attachment_origins(self) -> frozenset[UrlOrigin]:
        """Where attachments may be downloaded from: Discord's CDN, and the API host (a
        Discord-compatible server or the test stand-in serves attachments from there)."""
        return DISCORD_CDN_ORIGINS | {origin_of(self.discord_api_base)}

    @property
    def uses_webhooks(self) -> bool:
        return self.public_base_url is not None


REQUIRED = ("DISCORD_TOKEN", "MUSICGPT_API_KEY")


def _missing(env: Mapping[str, str]) -> str | None:
    """One sentence naming every required setting that isn't set, or None."""
    names = [name for name in REQUIRED if not env.get(name, "").strip()]
    if not names:
        return None
    if len(names) == 1:
        return f"{names[0]} is required but not set (see .env.example)"
    listed = ", ".join(names[:-1]) + f" and {names[-1]}"
    return f"{listed} are required but not set (see .env.example)"


def _optional(env: Mapping[str, str], name: str, parse: Callable[[str, str], T], default: T) -> T:
    raw = env.get(name, "").strip()
    return parse(name, raw) if raw else default


class _Problems:
    """What is wrong with the settings, collected so one line can name all of it."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.found: list[str] = []

    def optional(self, name: str, parse: Callable[[str, str], T], default: T) -> T:
        try:
            return _optional(self.env, name, parse, default)
        except ConfigError as error:
            self.found.append(str(error))
            return default


def _int_at_least(minimum: int) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number") from None
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}")
        return value

    return parse


def _port(name: str, raw: str) -> int:
    value = _int_at_least(0)(name, raw)
    if value > 65535:
        raise ConfigError(f"{name} must be a port number between 0 and 65535")
    return value


def _url(*schemes: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        parts = urlsplit(raw)
        if parts.scheme not in schemes or not parts.netloc:
            raise ConfigError(f"{name} must be a {'/'.join(schemes)} URL")
        return raw.rstrip("/") if parts.scheme.startswith("http") else raw

    return parse


def _text(name: str, raw: str) -> str:
    return raw


def _token(name: str, raw: str) -> str:
    # It may face the internet: a short one could be guessed. A header carries ASCII, no spaces.
    plain = all(c.isascii() and c.isprintable() and not c.isspace() for c in raw)
    if len(raw) < MIN_TOKEN_LENGTH or not plain:
        raise ConfigError(
            f"{name} must be at least {MIN_TOKEN_LENGTH} ASCII characters without spaces "
            "(e.g. from `openssl rand -hex 32`)"
        )
    return raw


def _flag(name: str, raw: str) -> bool:
    value = raw.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false")


def _log_level(name: str, raw: str) -> str:
    level = raw.upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"{name} must be one of {', '.join(LOG_LEVELS)}")
    return level


def _default_webhook_host(env: Mapping[str, str], polling_only: str) -> str:
    if env.get("PUBLIC_BASE_URL", "").strip():
        return "0.0.0.0"  # noqa: S104 - MusicGPT must reach it from outside
    return polling_only


def load_settings(env: Mapping[str, str]) -> Settings:
    """Build Settings from an environment mapping, or raise one ConfigError naming every
    problem ("DISCORD_TOKEN and MUSICGPT_API_KEY are required but not set ...; WEBHOOK_PORT
    must be ...")."""
    defaults = Settings(discord_token="-", musicgpt_api_key="-")  # noqa: S106 - placeholders
    problems = _Problems(env)
    optional = problems.optional
    settings = Settings(
        discord_token=env.get("DISCORD_TOKEN", "").strip(),
        musicgpt_api_key=env.get("MUSICGPT_API_KEY", "").strip(),
        musicgpt_api_base=optional(
            "MUSICGPT_API_BASE", _url("http", "https"), defaults.musicgpt_api_base
        ),
        discord_api_base=optional(
            "DISCORD_API_BASE", _url("http", "https"), defaults.discord_api_base
        ),
        discord_gateway_url=optional(
            "DISCORD_GATEWAY_URL", _url("ws", "wss"), defaults.discord_gateway_url
        ),
        dev_guild_id=optional("DEV_GUILD_ID", _int_at_least(1), None),
        database_path=Path(optional("DATABASE_PATH", _text, str(defaults.database_path))),
        public_base_url=optional("PUBLIC_BASE_URL", _url("http", "https"), None),
        webhook_host=optional(
            "WEBHOOK_HOST", _text, _default_webhook_host(env, defaults.webhook_host)
        ),
        webhook_port=optional("WEBHOOK_PORT", _port, defaults.webhook_port),
        user_daily_quota=optional("USER_DAILY_QUOTA", _int_at_least(1), defaults.user_daily_quota),
        user_max_active=optional("USER_MAX_ACTIVE", _int_at_least(1), defaults.user_max_active),
        musicgpt_max_parallel=optional(
            "MUSICGPT_MAX_PARALLEL", _int_at_least(1), defaults.musicgpt_max_parallel
        ),
        musicgpt_polls_per_minute=optional(
            "MUSICGPT_POLLS_PER_MINUTE", _int_at_least(1), defaults.musicgpt_polls_per_minute
        ),
        max_audio_mb=optional("MAX_AUDIO_MB", _int_at_least(1), defaults.max_audio_mb),
        audio_spool_mb=optional("AUDIO_SPOOL_MB", _int_at_least(1), defaults.audio_spool_mb),
        input_retention_days=optional(
            "INPUT_RETENTION_DAYS", _int_at_least(0), defaults.input_retention_days
        ),
        input_store_mb=optional("INPUT_STORE_MB", _int_at_least(0), defaults.input_store_mb),
        poll_give_up_minutes=optional(
            "POLL_GIVE_UP_MINUTES", _int_at_least(1), defaults.poll_give_up_minutes
        ),
        shutdown_grace_seconds=optional(
            "SHUTDOWN_GRACE_SECONDS", _int_at_least(0), defaults.shutdown_grace_seconds
        ),
        log_level=optional("LOG_LEVEL", _log_level, defaults.log_level),
        show_cost=optional("SHOW_COST", _flag, defaults.show_cost),
        metrics_token=optional("METRICS_TOKEN", _token, None),
    )
    if missing := _missing(env):
        problems.found.insert(0, missing)
    if problems.found:
        raise ConfigError("; ".join(problems.found))
    return settings
