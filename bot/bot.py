"""The discord.py Bot: wires the services together, loads the cogs, syncs commands."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from typing import Literal

import aiohttp
import discord
from discord.backoff import ExponentialBackoff
from discord.ext import commands
from discord.utils import MISSING

from bot.config import Settings
from bot.http import HttpServer
from bot.intake import Intake
from bot.models import Task
from bot.quota import QuotaService
from bot.startup import (
    REFUSED_LOGIN,
    Backoff,
    DiscordUnreachable,
    StartupFailure,
    describe,
    port_problem,
    probe_discord,
)
from bot.store import Store
from bot.tracker import Tracker
from bot.tree import SingingTree, send_ephemeral
from bot.ui.modals import is_stale_modal

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.sing", "cogs.inpaint", "cogs.quota", "cogs.status", "cogs.delivery")
COMMANDS_HASH_KEY = "global_commands_hash"


# discord.py waits 60 s for the gateway's handshake and HELLO; a gateway that accepted the
# connection and says nothing is not going to, so the next attempt comes sooner.
GATEWAY_CONNECT_TIMEOUT = 15.0
# discord.py's REST requests: no total (a result upload may be 100 MB), seconds to connect.
REST_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)
# The longest wait between two reconnect attempts, in seconds.
RECONNECT_CAP = 60.0
# The gateway closed the connection because the token is wrong.
GATEWAY_AUTHENTICATION_FAILED = 4004


def point_discord_at(settings: Settings) -> None:
    """Let the bot talk to any Discord-compatible server (or the project's stand-in)."""
    import yarl

    discord.http.Route.BASE = settings.discord_api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
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


class SingingBot(commands.Bot):
    def __init__(
        self,
        *,
        settings: Settings,
        session: aiohttp.ClientSession,
        store: Store,
        tracker: Tracker,
        quota: QuotaService,
        intake: Intake,
        http_server: HttpServer,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents(guilds=True),
            tree_cls=SingingTree,
            # Nothing the bot sends pings anyone unless a message says so explicitly.
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            # Without the members intent there is no chunking to wait for; discord.py's 2 s
            # default only delays readiness (and so recovery's status updates) at start-up.
            guild_ready_timeout=0.5,
        )
        self.settings = settings
        self.session = session
        self.store = store
        self.tracker = tracker
        self.quota = quota
        self.intake = intake
        self.http_server = http_server
        # Set once SIGTERM (or anything) asked the bot to stop: new commands are turned away.
        self.stopping = asyncio.Event()
        self._setup_started = False
        self._shutdown: asyncio.Task[None] | None = None
        logging.getLogger("discord.client").addFilter(ReconnectLines(self))

    async def setup_hook(self) -> None:
        self._setup_started = True
        self._bound_rest_timeouts()
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self._sync_commands()
        keep = {t.audio_path for t in await self.store.unfinished_tasks() if t.audio_path}
        if removed := self.intake.remove_orphans(keep):
            log.info("removed %d audio files left by an interrupted request", removed)
        if self.stopping.is_set():  # told to stop while logging in: start no work
            return
        await self.tracker.start()

    # --- start ------------------------------------------------------------------------------

    async def start_http_server(self) -> None:
        """Before Discord: a taken port is the owner's to fix now, not after a login."""
        try:
            await self.http_server.start()
        except OSError as error:
            if self.settings.uses_webhooks:
                raise port_problem(
                    self.settings.webhook_host, self.settings.webhook_port, error
                ) from None
            # Without PUBLIC_BASE_URL the receiver only serves /healthz: not worth dying for.
            log.warning("webhook receiver not started (%s); polling only", error.strerror)

    async def sign_in(self) -> bool:
        """Log in (which runs `setup_hook`), waiting out Discord being unreachable; False
        when the bot was asked to stop first. A refused token is a `StartupFailure`."""
        token = self.settings.discord_token
        base = self.settings.discord_api_base
        backoff = Backoff()
        attempt = 0
        while not self.stopping.is_set():
            try:
                await probe_discord(self.session, base, token)
                await self.login(token)
                return True
            except discord.LoginFailure:
                raise StartupFailure(REFUSED_LOGIN) from None
            except DiscordUnreachable as error:
                reason = str(error)
            except (OSError, aiohttp.ClientError, discord.HTTPException) as error:
                # Discord went away between the probe and discord.py's own login.
                if self._setup_started:
                    raise
                reason = describe(error)
                # static_login opens a new session (over `connector`) at every call.
                await self.http.close()
                self.http.connector = MISSING
            attempt += 1
            delay = backoff.next()
            log.warning(
                "can't reach Discord at %s (%s); retrying in %g s (attempt %d)",
                base,
                reason,
                delay,
                attempt,
            )
            await self._pause(delay)
        return False

    def _bound_rest_timeouts(self) -> None:
        """discord.py's REST session (made by its login, just now) has aiohttp's default
        timeouts: five minutes for a request Discord accepted and never answers. It takes
        no timeout of its own, so it gets one here: seconds to connect, a minute of silence
        (the gateway's websocket is not affected: aiohttp reads it without a read timeout
        when discord.py sets none for it)."""
        session = getattr(self.http, "_HTTPClient__session", None)
        if isinstance(session, aiohttp.ClientSession) and hasattr(session, "_timeout"):
            session._timeout = REST_TIMEOUT  # private to aiohttp: see the docstring
        else:  # a discord.py or aiohttp that moved it: keep their defaults, say so once
            log.debug("discord.py's REST session not found; its timeouts are aiohttp's")

    async def connect_and_stay(self) -> None:
        """Connect to the gateway and stay connected until the bot is closed.

        Once connected, discord.py reconnects by itself. Before that, a refused gateway ends
        its loop in an AttributeError (discord.py issue #10520), so the first connection is
        retried here, with the same capped backoff.
        """
        backoff = Backoff()
        attempt = 0
        while not self.is_closed():
            try:
                await self.connect(reconnect=True)
                return
            except AttributeError as error:
                cause = error.__context__
                if self.ws is not None or cause is None:
                    raise
            except discord.ConnectionClosed as error:
                if error.code == GATEWAY_AUTHENTICATION_FAILED:
                    raise StartupFailure(REFUSED_LOGIN) from None
                raise
            if self.is_closed():
                return
            attempt += 1
            delay = backoff.next()
            log.warning(
                "can't open Discord's gateway at %s (%s); retrying in %g s (attempt %d)",
                self.settings.discord_gateway_url,
                describe(cause),
                delay,
                attempt,
            )
            await self._pause(delay)

    async def _pause(self, seconds: float) -> None:
        """Sleep, cut short by a request to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def on_ready(self) -> None:
        mode = (
            f"webhooks at {self.settings.public_base_url}"
            if self.settings.public_base_url
            else "polling"
        )
        log.info("ready as %s in %d guilds; %s", self.user, len(self.guilds), mode)

    async def on_resumed(self) -> None:
        log.info("reconnected to Discord")

    async def _sync_commands(self) -> None:
        if self.settings.dev_guild_id:
            guild = discord.Object(self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild %s", len(synced), guild.id)
            return
        # Global sync is slow to propagate and rate limited: only when the commands changed.
        payload = sorted(
            (command.to_dict(self.tree) for command in self.tree.get_commands()),
            key=lambda c: c["name"],
        )
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        store = self.store
        if await store.get_value(COMMANDS_HASH_KEY) == digest:
            log.info("global commands unchanged; not syncing")
            return
        synced = await self.tree.sync()
        await store.set_value(COMMANDS_HASH_KEY, digest)
        log.info("synced %d global commands", len(synced))

    def channel_for(self, task: Task) -> discord.abc.Messageable:
        """Where a task's status and results go: the channel it was asked in."""
        channel = self.get_channel(task.channel_id)
        if isinstance(channel, discord.abc.Messageable):
            return channel
        return self.get_partial_messageable(task.channel_id, guild_id=task.guild_id)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if is_stale_modal(interaction):
            await send_ephemeral(
                interaction,
                "That lyrics form has expired (I may have restarted). Please run the command "
                "again; nothing was charged.",
            )

    # --- stop -------------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop taking new work, let submits already uploading finish (within
        SHUTDOWN_GRACE_SECONDS), then close. Called again (discord.py does), it waits for the
        first call."""
        if self._shutdown is None:
            self._shutdown = asyncio.create_task(self._shut_down(), name="shutdown")
        await asyncio.shield(self._shutdown)

    async def _shut_down(self) -> None:
        self.stopping.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.shutdown_grace_seconds
        await self.tracker.stop(grace=self.settings.shutdown_grace_seconds)
        # A lyrics form's handler that waited for its upload now answers the member; Discord
        # must still be there for it.
        if handlers := interaction_handlers():
            await asyncio.wait(handlers, timeout=max(0.0, deadline - loop.time()))
        await self.http_server.stop()
        await super().close()
