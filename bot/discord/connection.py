"""How the bot reaches Discord and stays reached, through discord.py 2.7's seams.

discord.py, left alone, waits minutes for an endpoint that never answers, crashes when the
gateway refuses the first connection (its issue #10520), backs off up to 17 minutes between
reconnects, logs a 50-line traceback for each, and warns about voice this bot never uses.
Here each of those gets a bound, a retry or one line; `SingingBot` calls in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Literal

import aiohttp
import discord
from discord.backoff import ExponentialBackoff
from discord.utils import MISSING

from bot.core.startup import (
    REFUSED_LOGIN,
    Backoff,
    DiscordUnreachable,
    StartupFailure,
    describe,
    probe_discord,
)

if TYPE_CHECKING:
    from bot.discord.bot import SingingBot

log = logging.getLogger(__name__)

# discord.py waits 60 s for the gateway's handshake and HELLO; a gateway that accepted the
# connection and says nothing is not going to, so the next attempt comes sooner.
GATEWAY_CONNECT_TIMEOUT = 15.0
# discord.py's REST requests: no total (a result upload may be 100 MB), seconds to connect.
REST_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)
# The longest wait between two reconnect attempts, in seconds.
RECONNECT_CAP = 60.0
# The gateway closed the connection because the token is wrong.
GATEWAY_AUTHENTICATION_FAILED = 4004
# ... because SHARD_IDS/SHARD_COUNT name no shard, or the shards hold too many servers.
GATEWAY_INVALID_SHARD = 4010
GATEWAY_SHARDING_REQUIRED = 4011
SHARD_PROBLEMS = {
    GATEWAY_INVALID_SHARD: (
        "Discord refused the shard (4010 Invalid shard): check SHARD_COUNT and SHARD_IDS "
        "(docs/scaling.md)"
    ),
    GATEWAY_SHARDING_REQUIRED: (
        "Discord requires more shards (4011 Sharding required: no shard may hold more than "
        "2,500 servers): set SHARD_COUNT, about one shard per 1,000 servers (docs/scaling.md)"
    ),
}


def tune_discord_py() -> None:
    """Every patch below, once per process, before the client is made."""
    bound_gateway_connect()
    cap_reconnect_backoff()
    silence_voice_warnings()


def bound_gateway_connect() -> None:
    """Give each gateway connection attempt GATEWAY_CONNECT_TIMEOUT instead of 60 s."""
    socket_class = discord.gateway.DiscordWebSocket
    original = socket_class.from_client
    if getattr(original, "bounded", False):
        return

    async def from_client(*args: object, **kwargs: object) -> discord.gateway.DiscordWebSocket:
        coro = original(*args, **kwargs)  # type: ignore[arg-type]
        return await asyncio.wait_for(coro, GATEWAY_CONNECT_TIMEOUT)

    from_client.bounded = True  # type: ignore[attr-defined]
    socket_class.from_client = from_client  # type: ignore[method-assign]


class CappedBackoff(ExponentialBackoff[Literal[False]]):
    """discord.py's reconnect backoff (random up to 1, 2, 4 … s), at most RECONNECT_CAP:
    its own grows to 1024 s, so a bot would sit out most of an hour after Discord is back."""

    def delay(self) -> float:
        return min(RECONNECT_CAP, super().delay())


def cap_reconnect_backoff() -> None:
    discord.client.ExponentialBackoff = CappedBackoff  # type: ignore[misc,assignment]
    # Each shard of an AutoShardedBot keeps its own backoff, made from discord.shard's name.
    discord.shard.ExponentialBackoff = CappedBackoff  # type: ignore[misc,assignment]


def silence_voice_warnings() -> None:
    """This bot never joins voice: discord.py's "PyNaCl/davey is not installed" warnings,
    logged once per process when a client is made, say nothing an owner should act on."""
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False


class ReconnectLines(logging.Filter):
    """discord.py's "Attempting a reconnect" records, each a 50-line traceback, as one line.

    Before the first connection (`ws` still None) discord.py's loop cannot go on (discord.py
    issue #10520: it reads `self.ws.sequence` and dies with an AttributeError), so
    `SingingBot.connect_and_stay` retries and says so itself: the record is dropped.
    """

    def __init__(self, bot: discord.Client) -> None:
        super().__init__()
        self._bot = bot

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Attempting a reconnect"):
            return True
        if self._bot.ws is None:
            return False
        error = record.exc_info[1] if record.exc_info else None
        delay = record.args[0] if isinstance(record.args, tuple) and record.args else 0.0
        reason = describe(error) if error is not None else "closed"
        record.msg = "lost the connection to Discord (%s); reconnecting in %.1f s"
        record.args = (reason, delay)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text = None, None
        return True


class ShardLines(logging.Filter):
    """A sharded bot's connection troubles (discord.shard logs each with a traceback, and
    retries by itself) as one line each, naming the shard."""

    SHAPES = (
        (
            "Attempting a reconnect for shard ID",
            "lost shard %s's connection to Discord (%s); reconnecting in %.1f s",
        ),
        (
            "Failed to connect for shard_id",
            "can't open shard %s's gateway connection (%s); retrying in 5 s",
        ),
    )

    def filter(self, record: logging.LogRecord) -> bool:
        for start, line in self.SHAPES:
            if str(record.msg).startswith(start):
                args = record.args if isinstance(record.args, tuple) else ()
                error = record.exc_info[1] if record.exc_info else None
                reason = describe(error) if error is not None else "closed"
                record.msg = line
                record.args = (args[0] if args else "?", reason, *args[1:2])
                record.levelno, record.levelname = logging.WARNING, "WARNING"
                record.exc_info, record.exc_text = None, None
        return True


# The names discord.py 2.7 gives the tasks that run commands, modal submits and button clicks.
INTERACTION_TASKS = (
    "CommandTree-invoker",
    "discord-ui-modal-dispatch-",
    "discord-ui-view-dispatch-",
)


def interaction_handlers() -> set[asyncio.Task[object]]:
    """discord.py's tasks still handling an interaction (answering a member)."""
    current = asyncio.current_task()
    return {
        task
        for task in asyncio.all_tasks()
        if task is not current and task.get_name().startswith(INTERACTION_TASKS)
    }


async def sign_in(bot: SingingBot) -> bool:
    """Log in (which runs `setup_hook`), waiting out Discord being unreachable; False
    when the bot was asked to stop first. A refused token is a `StartupFailure`."""
    token = bot.settings.discord_token
    base = bot.settings.discord_api_base
    backoff = Backoff()
    attempt = 0
    while not bot.stopping.is_set():
        try:
            await probe_discord(bot.session, base, token)
            await bot.login(token)
            return True
        except discord.LoginFailure:
            raise StartupFailure(REFUSED_LOGIN) from None
        except DiscordUnreachable as error:
            reason = str(error)
        except (OSError, aiohttp.ClientError, discord.HTTPException) as error:
            # Discord went away between the probe and discord.py's own login.
            if bot.setup_started:
                raise
            reason = describe(error)
            # static_login opens a new session (over `connector`) at every call.
            await bot.http.close()
            bot.http.connector = MISSING
        attempt += 1
        delay = backoff.next()
        log.warning(
            "can't reach Discord at %s (%s); retrying in %g s (attempt %d)",
            base,
            reason,
            delay,
            attempt,
        )
        await _pause(bot.stopping, delay)
    return False


def bound_rest_timeouts(http: discord.http.HTTPClient) -> None:
    """discord.py's REST session (made by its login, just now) has aiohttp's default
    timeouts: five minutes for a request Discord accepted and never answers. It takes
    no timeout of its own, so it gets one here: seconds to connect, a minute of silence
    (the gateway's websocket is not affected: aiohttp reads it without a read timeout
    when discord.py sets none for it)."""
    session = getattr(http, "_HTTPClient__session", None)
    if isinstance(session, aiohttp.ClientSession) and hasattr(session, "_timeout"):
        session._timeout = REST_TIMEOUT  # private to aiohttp: see the docstring
    else:  # a discord.py or aiohttp that moved it: keep their defaults, say so once
        log.debug("discord.py's REST session not found; its timeouts are aiohttp's")


async def connect_and_stay(bot: SingingBot) -> None:
    """Connect to the gateway and stay connected until the bot is closed.

    Once connected, discord.py reconnects by itself. Before that, a refused gateway ends
    its loop in an AttributeError (discord.py issue #10520), so the first connection is
    retried here, with the same capped backoff.
    """
    backoff = Backoff()
    attempt = 0
    while not bot.is_closed():
        try:
            await bot.connect(reconnect=True)
            return
        except AttributeError as error:
            cause = error.__context__
            if bot.ws is not None or cause is None:
                raise
        except discord.ConnectionClosed as error:
            if error.code == GATEWAY_AUTHENTICATION_FAILED:
                raise StartupFailure(REFUSED_LOGIN) from None
            if error.code in SHARD_PROBLEMS:
                raise StartupFailure(SHARD_PROBLEMS[error.code]) from None
            raise
        if bot.is_closed():
            return
        attempt += 1
        delay = backoff.next()
        log.warning(
            "can't open Discord's gateway at %s (%s); retrying in %g s (attempt %d)",
            bot.settings.discord_gateway_url,
            describe(cause),
            delay,
            attempt,
        )
        await _pause(bot.stopping, delay)


async def _pause(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep, cut short by a request to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
