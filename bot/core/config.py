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
from urllib.parse import parse_qsl, unquote, urlsplit

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
    # PostgreSQL (postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME); None: SQLite at
    # database_path. It may hold a password: log `database_url_redacted`, never this.
    database_url: str | None = field(default=None, repr=False)
    # Gateway shards: how many the bot has in all, and the ones this process opens (every one,
    # 0..shard_count-1, when SHARD_IDS is unset). None for both: one unsharded process, as ever.
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
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

    @property
    def uses_postgres(self) -> bool:
        return self.database_url is not None

    @property
    def database_url_redacted(self) -> str | None:
        """DATABASE_URL as a log line may show it: the password replaced by <redacted>."""
        return None if self.database_url is None else redacted_url(self.database_url)

    @property
    def database_secrets(self) -> tuple[str, ...]:
        """What of DATABASE_URL a log filter must hide wherever it turns up: the URL itself and
        its password, as written and decoded (a driver's error may quote either)."""
        if self.database_url is None:
            return ()
        return (self.database_url, *_passwords(self.database_url))


REQUIRED = ("DISCORD_TOKEN", "MUSICGPT_API_KEY")
DATABASE_URL_SCHEMES = ("postgresql", "postgres")
DATABASE_URL_FORM = "postgresql://USER@HOST:PORT/DBNAME"
REDACTED = "<redacted>"


def _passwords(url: str) -> list[str]:
    """The password in `url`'s user part or its `password=` parameter, as written and as
    decoded, without repeats."""
    parts = urlsplit(url)
    found: list[str] = []
    userinfo = parts.netloc.rpartition("@")[0]
    if ":" in userinfo:
        found.append(userinfo.partition(":")[2])
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key.lower() == "password":
            found.append(value)
    found += [unquote(p) for p in found]
    return [p for p in dict.fromkeys(found) if p]


def redacted_url(url: str) -> str:
    """`url` with any password (in the user part or a `password=` parameter) replaced by
    <redacted>: postgresql://bot:s3cret@db/bot -> postgresql://bot:<redacted>@db/bot."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    netloc = parts.netloc
    if ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:{REDACTED}{at}{hostport}"
    query = "&".join(
        f"{piece.partition('=')[0]}={REDACTED}"
        if piece.partition("=")[0].lower() == "password"
        else piece
        for piece in parts.query.split("&")
    )
    return parts._replace(netloc=netloc, query=query).geturl()


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


def _database_url(name: str, raw: str) -> str:
    """A PostgreSQL URL asyncpg can connect with: postgresql:// or postgres://, a host (in the
    URL, or a `host=` parameter for a Unix socket), a port if any, one database name."""
    problem = ConfigError(f"{name} must be a {DATABASE_URL_FORM} URL")
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError when the port isn't a port
    except ValueError:
        raise problem from None
    hosts = [v for k, v in parse_qsl(parts.query) if k == "host"]
    database = unquote(parts.path.removeprefix("/"))
    if (
        parts.scheme.lower() not in DATABASE_URL_SCHEMES
        or not (parts.hostname or hosts)
        or not database
        or "/" in database
        or parts.fragment
    ):
        raise problem
    return raw


def _shard_ids(name: str, raw: str) -> tuple[int, ...]:
    pieces = [piece.strip() for piece in raw.split(",")]
    if not all(piece.isascii() and piece.isdigit() for piece in pieces):
        raise ConfigError(f"{name} must be shard numbers separated by commas (e.g. 0,1)")
    ids = [int(piece) for piece in pieces]
    if len(set(ids)) < len(ids):
        raise ConfigError(f"{name} names a shard more than once")
    return tuple(sorted(ids))


def _shard_slice(
    problems: _Problems, count: int | None, ids: tuple[int, ...] | None
) -> tuple[int, ...] | None:
    """The shards this process opens: SHARD_IDS checked against SHARD_COUNT, or all of them."""
    if count is None:
        # A malformed SHARD_COUNT was reported already; one that is missing is this problem.
        if ids is not None and not problems.env.get("SHARD_COUNT", "").strip():
            problems.found.append("SHARD_IDS needs SHARD_COUNT (how many shards there are in all)")
        return None
    if ids is None:
        return tuple(range(count))
    if ids[-1] >= count:
        problems.found.append(f"SHARD_IDS must be shard numbers from 0 to {count - 1}")
        return tuple(range(count))
    return ids


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
        shard_count=(shard_count := optional("SHARD_COUNT", _int_at_least(1), None)),
        shard_ids=_shard_slice(problems, shard_count, optional("SHARD_IDS", _shard_ids, None)),
        database_path=Path(optional("DATABASE_PATH", _text, str(defaults.database_path))),
        database_url=optional("DATABASE_URL", _database_url, None),
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


def validated_database_url(name: str, raw: str) -> str:
    """`raw` if it is a PostgreSQL URL the bot can use (as DATABASE_URL is checked), else
    ConfigError naming `name` (`python -m bot copy-db URL`)."""
    return _database_url(name, raw.strip())


def url_passwords(url: str) -> list[str]:
    """What of `url` a message must not show: its password, as written and decoded."""
    return _passwords(url)
