"""The discord.py Bot: holds the services, builds the Discord-side ones, loads the cogs,
syncs commands.

The Discord-side services are plain classes built in `setup_hook`, before any cog loads,
and held as typed attributes: the thread opener, the status renderer, the poster (the
tracker's `ResultPoster` and `CopySender`), the song door and the button handlers. Cogs hold
commands, menus and listeners only, and reach the services through the bot, never through
each other, so no load order matters and a cog that fails to load takes only its commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from typing import Any

import aiohttp
import discord
import yarl
from discord.ext import commands

from bot.core.config import Settings
from bot.core.media.inputs import InputStore
from bot.core.media.waveform_jobs import Waveforms
from bot.core.models import Task
from bot.core.servers.guild_settings import GuildSettingsService
from bot.core.songs.intake import Intake
from bot.core.songs.quota import QuotaService
from bot.core.startup import Backoff, describe, port_problem
from bot.core.store import Store
from bot.core.tracker import Tracker, musicgpt_silent_text
from bot.core.wording import count
from bot.discord import connection as discord_link
from bot.discord.songs.clicks import ButtonHandlers
from bot.discord.songs.door import SongDoor
from bot.discord.songs.poster import Poster
from bot.discord.songs.status import StatusRenderer
from bot.discord.songs.threads import ThreadOpener
from bot.discord.songs.votes import VoteBoard
from bot.discord.translator import CatalogTranslator
from bot.discord.tree import SingingTree, send_ephemeral
from bot.discord.ui.buttons import DYNAMIC_ITEMS
from bot.discord.ui.modals import stale_modal_message
from bot.http import HttpServer

log = logging.getLogger(__name__)

EXTENSIONS = (
    "cogs.sing",
    "cogs.inpaint",
    "cogs.extend",
    "cogs.quota",
    "cogs.history",
    "cogs.queue",
    "cogs.help",
    "cogs.context",
    "cogs.notify",
    "cogs.settings",
    "cogs.usage",
    "cogs.song",
)
COMMANDS_HASH_KEY = "global_commands_hash"


def point_discord_at(settings: Settings) -> None:
    """Let the bot talk to any Discord-compatible server (or the project's stand-in)."""
    import yarl

    discord.http.Route.BASE = settings.discord_api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
    discord_link.tune_discord_py()


def syncs_commands(settings: Settings) -> bool:
    """Whether this process syncs the commands: the one holding shard 0, or an unsharded one.
    Every process of a sharded bot starts with the same commands, and one PUT is enough
    (Discord rate-limits them), so the others leave it to shard 0's process."""
    return settings.shard_ids is None or 0 in settings.shard_ids


def holds_server(settings: Settings, guild_id: int | None) -> bool:
    """Whether this process holds a server's shard (Discord's `(guild_id >> 22) % SHARD_COUNT`;
    DMs come to shard 0): always, unsharded."""
    if settings.shard_ids is None or settings.shard_count is None:
        return True
    shard = 0 if guild_id is None else (guild_id >> 22) % settings.shard_count
    return shard in settings.shard_ids


class SingingBot(commands.Bot):
    """The bot, unsharded: one gateway connection for every server, as with one process.

    `ShardedSingingBot` (below) is the same bot opening only SHARD_IDS of SHARD_COUNT;
    `bot_class` picks. Unsharded stays a plain `commands.Bot` rather than an
    `AutoShardedBot` left to choose: that one asks /gateway/bot and opens however many shards
    Discord recommends, and reconnects through discord.py's shard code instead of the
    bounded, one-line paths of `bot.discord.connection`.
    """

    # The Discord-side services, built in `setup_hook` (see the module's docstring).
    thread_opener: ThreadOpener
    status_renderer: StatusRenderer
    poster: Poster
    door: SongDoor
    # What the result and status buttons call (`bot.discord.ui.buttons`).
    button_actions: ButtonHandlers
    # The 👍 buttons: votes counted, result messages redrawn (coalesced).
    votes: VoteBoard

    def __init__(
        self,
        *,
        settings: Settings,
        session: aiohttp.ClientSession,
        store: Store,
        tracker: Tracker,
        quota: QuotaService,
        intake: Intake,
        inputs: InputStore,
        guild_settings: GuildSettingsService,
        http_server: HttpServer,
        waveforms: Waveforms | None = None,
    ) -> None:
        super().__init__(
            **self._shard_options(settings),
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
        # Uploads kept for Again: `await self.inputs.reuse(sha256)`.
        self.inputs = inputs
        # What each server's owner set with /settings: `await self.guild_settings.get(id)`.
        self.guild_settings = guild_settings
        self.http_server = http_server
        # Inpaints' waveform pictures, which the status renderer shows.
        self.waveforms = waveforms
        # Set once SIGTERM (or anything) asked the bot to stop: new commands are turned away.
        self.stopping = asyncio.Event()
        self.setup_started = False  # discord_link.sign_in: login may be retried until then
        self._shutdown: asyncio.Task[None] | None = None
        logging.getLogger("discord.client").addFilter(discord_link.ReconnectLines(self))
        logging.getLogger("discord.shard").addFilter(discord_link.ShardLines())
        self._gateway_up = False
        self._services_started = False
        # Each server's Discord locale as its interactions last said it (fresher than the
        # cached guild's `preferred_locale` when an owner changed it): `public_locale`.
        self._guild_locales: dict[int, str] = {}

    def _shard_options(self, settings: Settings) -> dict[str, Any]:
        """What the discord.py client is given about shards: nothing, unsharded."""
        return {}

    @property
    def gateway_connected(self) -> bool:
        """Connected to Discord's gateway right now: what /readyz reports.

        Not `is_ready()`, which stays true from the first READY on, through every outage.
        """
        return self._gateway_up and not self.is_closed()

    def shard_states(self) -> dict[int, bool] | None:
        """The shards this process holds, each connected or not (/readyz); None: unsharded."""
        return None

    # discord.py dispatches these as the gateway comes and goes: `connect` on READY,
    # `resumed` on RESUMED, `disconnect` whenever the connection is lost or being replaced
    # (`on_ready` and `on_resumed`, below, also mark the gateway up).
    async def on_connect(self) -> None:
        self._gateway_up = True

    async def on_disconnect(self) -> None:
        self._gateway_up = False

    async def setup_hook(self) -> None:
        self.setup_started = True
        discord_link.bound_rest_timeouts(self.http)
        # Buttons are data: their custom_id says what to do, so clicks on messages posted
        # before this start (months ago, or before a SIGKILL) work with nothing in memory.
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        await self.tree.set_translator(CatalogTranslator())  # command texts in 5 languages
        self._build_services()
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self._sync_commands_patiently()
        if self.stopping.is_set():  # told to stop while waiting for Discord
            return
        keep = {t.audio_path for t in await self.store.unfinished_tasks() if t.audio_path}
        if removed := self.intake.remove_orphans(keep):
            log.info("removed %s left by an interrupted request", count(removed, "audio file"))
        if self.stopping.is_set():  # told to stop while logging in: start no work
            return
        await self.tracker.start()

    def _build_services(self) -> None:
        self.thread_opener = ThreadOpener(self)
        self.status_renderer = StatusRenderer(self)
        self.poster = Poster(self, self.thread_opener)
        self.door = SongDoor(self)
        self.status_renderer.on_drawn.append(self.door.changed)  # private answers follow
        self.button_actions = ButtonHandlers(self)
        self.votes = VoteBoard(self)
        self.tracker.attach(self.poster)
        self.tracker.delivery.attach_copies(self.poster)
        # Both wait for the gateway's READY before their first look.
        self.thread_opener.start()
        self.status_renderer.start()
        self.votes.start()
        self._services_started = True

    # --- start ------------------------------------------------------------------------------

    async def start_http_server(self) -> None:
        """Before Discord: a taken port is the owner's to fix now, not after a login."""
        try:
            await self.http_server.start()
        except OSError as error:
            # Fatal when polling too: the port also serves /livez, /readyz and /metrics.
            settings = self.settings
            raise port_problem(
                settings.webhook_host, settings.webhook_port, error, webhooks=settings.uses_webhooks
            ) from None

    async def sign_in(self) -> bool:
        """Log in (which runs `setup_hook`), waiting out Discord being unreachable; False
        when the bot was asked to stop first. A refused token is a `StartupFailure`."""
        return await discord_link.sign_in(self)

    async def connect_and_stay(self) -> None:
        """Connect to the gateway and stay connected (reconnecting) until closed."""
        await discord_link.connect_and_stay(self)

    async def on_ready(self) -> None:
        self._gateway_up = True
        mode = (
            f"webhooks at {self.settings.public_base_url}"
            if self.settings.public_base_url
            else "polling"
        )
        # Sharded, `guilds` are this process's shards' servers only.
        ready = f"ready as {self.user} in {count(len(self.guilds), 'server')}; {mode}"
        if (silent := self.tracker.musicgpt_silent) is not None:  # the start-up key check's
            log.warning("%s, but %s", ready, musicgpt_silent_text(silent))
        else:
            log.info("%s", ready)

    async def on_resumed(self) -> None:
        self._gateway_up = True
        log.info("reconnected to Discord")

    async def _sync_commands_patiently(self) -> None:
        """The command sync is the first call after the login: Discord failing just then is
        waited out like at sign-in, one line per attempt, never a traceback and an exit."""
        backoff = Backoff()
        attempt = 0
        while not self.stopping.is_set():
            try:
                await self._sync_commands()
                return
            except (OSError, aiohttp.ClientError, discord.DiscordServerError) as error:
                reason = (
                    f"HTTP {error.status}"
                    if isinstance(error, discord.HTTPException)
                    else describe(error)
                )
            attempt += 1
            delay = backoff.next()
            log.warning(
                "couldn't sync my commands with Discord (%s); retrying in %g s (attempt %d)",
                reason,
                delay,
                attempt,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)

    async def _sync_commands(self) -> None:
        if not syncs_commands(self.settings):
            log.info("not syncing commands: the process holding shard 0 does")
            return
        if self.settings.dev_guild_id:
            guild = discord.Object(self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %s to guild %s", count(len(synced), "command"), guild.id)
            return
        # Global sync is slow to propagate and rate limited: only when the commands changed,
        # translations included (`to_dict` leaves them out: a new .po must sync too).
        translator = self.tree.translator
        payload = sorted(
            [
                await command.get_translated_payload(self.tree, translator)
                if translator
                else command.to_dict(self.tree)
                for command in self.tree.get_commands()
            ],
            key=lambda c: c["name"],
        )
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        store = self.store
        if await store.get_value(COMMANDS_HASH_KEY) == digest:
            log.info("global commands unchanged; not syncing")
            return
        synced = await self.tree.sync()
        await store.set_value(COMMANDS_HASH_KEY, digest)
        log.info("synced %s", count(len(synced), "global command"))

    def channel_for(self, task: Task) -> discord.abc.Messageable:
        """Where a task's posts go: its thread when it has one (`ThreadOpener`), else the
        channel it was asked in (which is a thread itself for a song asked inside one)."""
        return self._messageable(task.thread_id or task.channel_id, task.guild_id)

    def holds(self, guild_id: int | None) -> bool:
        """Whether this process answers that server (`holds_server`; DMs: None)."""
        return holds_server(self.settings, guild_id)

    def status_channel_for(self, task: Task) -> discord.abc.Messageable:
        """Where the task's status message is: the channel it was asked in, also when the
        message started a thread (a thread's starter message stays in the parent channel)."""
        return self._messageable(task.channel_id, task.guild_id)

    async def public_locale(self, guild_id: int | None) -> str | None:
        """The locale of my public messages in a server (statuses, results' words, thread
        names): /settings language, else the server's Discord locale, as its latest
        interaction said it (`guild_locale`) or GUILD_CREATE gave it (`preferred_locale`);
        None (English) outside a server."""
        if guild_id is None:
            return None
        guild_locale = self._guild_locales.get(guild_id)  # the latest interaction's word
        if guild_locale is None and (guild := self.get_guild(guild_id)) is not None:
            guild_locale = guild.preferred_locale.value
        return (await self.guild_settings.get(guild_id)).public_locale(guild_locale)

    def _messageable(self, channel_id: int, guild_id: int | None) -> discord.abc.Messageable:
        # An archived thread is not in the cache; its id still takes posts (which wake it).
        channel = self.get_channel(channel_id)
        if isinstance(channel, discord.abc.Messageable):
            return channel
        return self.get_partial_messageable(channel_id, guild_id=guild_id)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.guild_id is not None and interaction.guild_locale is not None:
            self._guild_locales[interaction.guild_id] = interaction.guild_locale.value
        if stale := stale_modal_message(interaction):
            await send_ephemeral(interaction, stale)

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
        if handlers := discord_link.interaction_handlers():
            await asyncio.wait(handlers, timeout=max(0.0, deadline - loop.time()))
        await self.http_server.stop()
        if self._services_started:
            self.status_renderer.stop()
            self.thread_opener.stop()
            await self.votes.close()
        await super().close()


class ShardedSingingBot(SingingBot, commands.AutoShardedBot):
    """The bot opening exactly SHARD_IDS of SHARD_COUNT gateway shards (all of them when
    SHARD_IDS is unset). Discord sends each server's events and interactions to shard
    `(guild_id >> 22) % SHARD_COUNT`, so this process answers its shards' servers; the queue,
    polls and deliveries are the database's, and reach any channel by REST (`_messageable`).
    """

    def __init__(self, **kwargs: Any) -> None:
        self._shards_up: set[int] = set()
        super().__init__(**kwargs)

    def _shard_options(self, settings: Settings) -> dict[str, Any]:
        # Settings give SHARD_IDS whenever SHARD_COUNT is set (all shards, unless it says).
        return {"shard_count": settings.shard_count, "shard_ids": list(settings.shard_ids or ())}

    @property
    def gateway_connected(self) -> bool:
        """Every shard this process holds is connected now (a process is only as connected
        as its least connected shard: a server on a lost shard gets no answer)."""
        states = self.shard_states()
        return all(states.values()) and not self.is_closed()

    def shard_states(self) -> dict[int, bool]:
        return {shard: shard in self._shards_up for shard in self.settings.shard_ids or ()}

    # discord.py dispatches these per shard as each comes and goes (`connect` and
    # `disconnect` too, for any shard: the unsharded flag above means nothing here).
    async def on_shard_connect(self, shard_id: int) -> None:
        self._shards_up.add(shard_id)

    async def on_shard_resumed(self, shard_id: int) -> None:
        self._shards_up.add(shard_id)
        log.info("shard %d reconnected to Discord", shard_id)

    async def on_shard_disconnect(self, shard_id: int) -> None:
        self._shards_up.discard(shard_id)

    async def on_resumed(self) -> None:
        pass  # said per shard, by on_shard_resumed

    async def launch_shard(
        self, gateway: yarl.URL, shard_id: int, *, initial: bool = False
    ) -> None:
        """discord.py retries a shard's first connection every 5 s, forever, through this
        method, even once the bot is closing: a bot told to stop while Discord's gateway is
        away would never exit. Here the retries end with the bot."""
        if self.stopping.is_set() or self.is_closed():
            return
        await super().launch_shard(gateway, shard_id, initial=initial)


def bot_class(settings: Settings) -> type[SingingBot]:
    """The bot for these settings: `ShardedSingingBot` with SHARD_COUNT, else `SingingBot`."""
    return SingingBot if settings.shard_count is None else ShardedSingingBot
