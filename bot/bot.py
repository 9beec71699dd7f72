"""The discord.py Bot: wires the services together, loads the cogs, syncs commands."""

from __future__ import annotations

import hashlib
import json
import logging

import aiohttp
import discord
from discord.ext import commands

from bot.config import Settings
from bot.http import HttpServer
from bot.intake import Intake
from bot.models import Task
from bot.quota import QuotaService
from bot.store import Store
from bot.tracker import Tracker
from bot.tree import SingingTree, send_ephemeral
from bot.ui.modals import is_stale_modal

log = logging.getLogger(__name__)

EXTENSIONS = (
    "cogs.sing",
    "cogs.inpaint",
    "cogs.quota",
    "cogs.help",
    "cogs.status",
    "cogs.delivery",
)
COMMANDS_HASH_KEY = "global_commands_hash"


def point_discord_at(settings: Settings) -> None:
    """Let the bot talk to any Discord-compatible server (or the project's stand-in)."""
    import yarl

    discord.http.Route.BASE = settings.discord_api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


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
        self._gateway_up = False

    @property
    def gateway_connected(self) -> bool:
        """Connected to Discord's gateway right now: what /readyz reports.

        Not `is_ready()`, which stays true from the first READY on, through every outage.
        """
        return self._gateway_up and not self.is_closed()

    # discord.py dispatches these as the gateway comes and goes: `connect` on READY,
    # `resumed` on RESUMED, `disconnect` whenever the connection is lost or being replaced.
    async def on_connect(self) -> None:
        self._gateway_up = True

    async def on_resumed(self) -> None:
        self._gateway_up = True

    async def on_ready(self) -> None:
        self._gateway_up = True

    async def on_disconnect(self) -> None:
        self._gateway_up = False

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self._sync_commands()
        await self._start_http_server()
        keep = {t.audio_path for t in await self.store.unfinished_tasks() if t.audio_path}
        if removed := self.intake.remove_orphans(keep):
            log.info("removed %d audio files left by an interrupted request", removed)
        await self.tracker.start()

    async def _start_http_server(self) -> None:
        try:
            await self.http_server.start()
        except OSError as error:
            if self.settings.uses_webhooks:
                raise
            # Without PUBLIC_BASE_URL the receiver only serves /healthz: not worth dying for.
            log.warning("webhook receiver not started (%s); polling only", error.strerror)

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

    async def close(self) -> None:
        await self.tracker.stop()
        await self.http_server.stop()
        await super().close()
