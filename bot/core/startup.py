"""What stops the bot at start, in one line an owner can act on, and how it waits for Discord.

An owner's mistake (a bad token, a port that is taken, a database path the bot can't use) is a
`StartupFailure`: `__main__` logs its one line and exits with its code (2, like a bad
setting), never a traceback. Discord or the network being away is not a mistake: the bot
waits it out with `Backoff` (1, 2, 4 … 60 s), one line per attempt, and never exits for it.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import aiohttp

from bot.core.errors import StorageError

# Discord's REST answers in well under a second; one that accepted the connection but says
# nothing for this long is not going to (aiohttp's own default waits five minutes).
PROBE_TIMEOUT = 10.0
EXIT_OWNER_ERROR = 2

REFUSED_LOGIN = (
    "Discord refused DISCORD_TOKEN (401 Unauthorized): reset the token in the developer "
    "portal (your application → Bot → Reset Token) and put the new one in .env"
)


class StartupFailure(Exception):
    """Something only the owner can fix; its text names the cause and the fix."""

    def __init__(self, message: str, exit_code: int = EXIT_OWNER_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class DiscordUnreachable(Exception):
    """Discord's REST did not answer usefully; the text says how, in a few words."""


class Backoff:
    """Capped exponential delays: `first`, doubled each time, at most `cap`."""

    def __init__(self, first: float = 1.0, cap: float = 60.0) -> None:
        self._first = first
        self._cap = cap
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(self._cap, delay * 2)
        return delay

    def reset(self) -> None:
        self._next = self._first


def describe(error: BaseException) -> str:
    """A network error in a few words ("connection refused", "the name x doesn't resolve")."""
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return f"the name {error.host} doesn't resolve"
    if isinstance(error, aiohttp.ClientConnectorError):
        code = error.os_error.errno
        why = os.strerror(code).lower() if code else str(error.os_error) or "can't connect"
        return f"{error.host}:{error.port}: {why}"
    if isinstance(error, aiohttp.WSServerHandshakeError):
        return f"the gateway answered HTTP {error.status}"
    if isinstance(error, aiohttp.ClientResponseError):
        return f"HTTP {error.status}"
    if isinstance(error, TimeoutError):
        return "no answer in time"
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno).lower()
    text = str(error).splitlines()[0][:200] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


async def probe_discord(session: aiohttp.ClientSession, api_base: str, token: str) -> None:
    """Ask Discord's REST who the token belongs to, within PROBE_TIMEOUT.

    Raises `StartupFailure` for a refused token, `DiscordUnreachable` when Discord can't be
    reached or answers with an outage. discord.py's own login would wait minutes for an
    endpoint that never answers, and leaves a traceback; this call has a bound.
    """
    timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT, sock_connect=PROBE_TIMEOUT)
    headers = {"Authorization": f"Bot {token}"}
    try:
        async with session.get(f"{api_base}/users/@me", headers=headers, timeout=timeout) as r:
            status = r.status
    except TimeoutError:
        raise DiscordUnreachable(f"no answer within {PROBE_TIMEOUT:g} s") from None
    except aiohttp.ClientError as error:
        raise DiscordUnreachable(describe(error)) from None
    if status == 401:
        raise StartupFailure(REFUSED_LOGIN)
    if status == 429 or status >= 500:
        raise DiscordUnreachable(f"it answered HTTP {status}")


def database_problem(path: Path, error: BaseException) -> StartupFailure:
    """`DATABASE_PATH` can't be used: why, and what to do about it."""
    fix = "point DATABASE_PATH at a file in a folder the bot's user can write"
    if isinstance(error, StorageError) and error.reason == "not_a_database":
        return StartupFailure(
            f"DATABASE_PATH {path} is not an SQLite database: point DATABASE_PATH at a new "
            "file name, or put the bot's own database back there"
        )
    if isinstance(error, PermissionError) or (
        isinstance(error, StorageError) and error.reason == "read_only"
    ):
        return StartupFailure(
            f"DATABASE_PATH {path} can't be created or written (permission denied): {fix}, "
            "or give that user write access"
        )
    if isinstance(error, OSError):
        why = os.strerror(error.errno).lower() if error.errno else str(error)
        if error.errno == errno.ENOSPC:
            return StartupFailure(f"DATABASE_PATH {path}: the disk is full; free some space")
        return StartupFailure(f"DATABASE_PATH {path} can't be used ({why}): {fix}")
    return StartupFailure(f"DATABASE_PATH {path} can't be used ({describe(error)}): {fix}")


def database_url_problem(redacted: str, error: BaseException) -> StartupFailure:
    """`DATABASE_URL` can't be used: why (the URL shown without its password)."""
    reason = getattr(error, "reason", "")
    why = str(error).splitlines()[0] if str(error) else describe(error)
    if reason == "unreachable" or isinstance(error, OSError):
        return StartupFailure(
            f"DATABASE_URL {redacted} can't be reached ({why}): check the host, port, user, "
            "password and database name, and that PostgreSQL is running"
        )
    return StartupFailure(f"DATABASE_URL {redacted} can't be used ({why})")


def port_problem(host: str, port: int, error: OSError, *, webhooks: bool) -> StartupFailure:
    """The bot's HTTP server can't listen: the port is taken, or the address is wrong.

    Fatal in every mode: when polling the port still serves /livez, /readyz (the container's
    health check) and /metrics, and a bot running without them looks dead to its supervisor.
    """
    if error.errno == errno.EADDRINUSE:
        also = " (and PUBLIC_BASE_URL's proxy or tunnel with it)" if webhooks else ""
        return StartupFailure(
            f"WEBHOOK_PORT {port} on {host}: address already in use by another program; stop "
            f"it, or set WEBHOOK_PORT to a free port{also}"
        )
    if error.errno == errno.EACCES:
        return StartupFailure(
            f"WEBHOOK_PORT {port} needs privileges this user lacks: use a port above 1023"
        )
    why = os.strerror(error.errno).lower() if error.errno else str(error)
    return StartupFailure(
        f"can't listen on WEBHOOK_HOST {host} port {port} ({why}): set WEBHOOK_HOST to an "
        "address of this machine (0.0.0.0 for all)"
    )
