"""A local Discord stand-in (REST v10, gateway v10, attachment CDN) for end-to-end tests.

Real discord.py 2.7 talks to it once pointed at it::

    discord.http.Route.BASE = dc.api_base                                  # str
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(dc.gateway_url)  # yarl.URL

(the bot does that from DISCORD_API_BASE / DISCORD_GATEWAY_URL; `dc.patch_discord_py()` does
it for a test and restores the old values). A plain `Client`/`Bot` never asks `/gateway/bot`.
Pass `guild_ready_timeout=0.05` to the Client so `on_ready` does not wait 2 s.

Test-facing API
---------------
::

    async with DiscordStandIn(
        token="t", app_id=0, guilds=[GuildSpec(premium_tier=0)], users=[UserSpec("alice")],
        validate_openapi=None,          # None: on when ../shared/discord/openapi.json exists
        interaction_ack_deadline=3.0,   # None disables Discord's 3 s first-response rule
        middlewares=[...],              # aiohttp middlewares run before the stand-in's own
        on_interaction_sent=lambda interaction_id: ...,  # right before INTERACTION_CREATE
        max_guilds_per_shard=2500,      # a session holding more closes 4011 (None: never)
        max_concurrency=1, recommended_shards=None,  # GET /gateway/bot (None: 1 per 1,000)
    ) as dc:
        dc.api_base, dc.gateway_url, dc.cdn_base, dc.token, dc.app_id, dc.bot_user
        dc.guild_id, dc.channel_id                      # the first guild / its first channel
        dc.user("alice") -> UserSpec                    # also dc.users: {id: UserSpec}
        dc.guild(guild_id=None) -> GuildSpec; dc.channel_ids(guild_id=None) -> list[int]
        with dc.patch_discord_py(): ...                 # point discord.py at the stand-in

        await dc.wait_ready(timeout=10)                 # READY + every GUILD_CREATE sent
        await dc.wait_commands_synced(guild_id=None)    # list of synced command dicts
        dc.commands(guild_id=None); dc.command_syncs    # scope of each PUT (None: global)
        att = dc.add_attachment("song.mp3", data)       # bytes or a path; -> attachment dict
        ix = await dc.invoke_command("sing", {"prompt": "x", "audio": att},
                                     user_id=None, guild_id=None, channel_id=None)
                                                        # channel_id may be a thread's id
        ix = await dc.invoke_message_command("Sing over this", message, user_id=None)
                                                        # context menu: data.type 3, target_id
        cb = await ix.wait_callback()                   # Callback(type, data, attachments)
        ix.modal_fields() -> list[ModalField]           # custom_id, label, type, required,
                                                        # options / option_values (selects)
        sub = await ix.submit_modal({"Lyrics": "la la", "Voice": "female"})
                                                        # by custom_id or label; selects: a
                                                        # value or a list of values
        await sub.wait_original(); await sub.wait_followups(1); ix.expire()
        ix2 = await dc.click(message, "custom-id", user_id=None)  # a button (type 3)
        ix3 = await dc.select(message, "custom-id", ["value"], user_id=None)  # a string select
        msg = await dc.wait_for_message(channel_id=None, predicate=None, timeout=10)
        dc.messages(channel_id=None, include_ephemeral=True, include_deleted=False)
        msg.content, msg.files, msg.attachments, msg.embeds, msg.components, msg.author_id,
        msg.allowed_mentions, msg.resolved_mentions, msg.notified, msg.message_reference,
        msg.flags, msg.ephemeral, msg.edits, msg.deleted, msg.source, msg.interaction_id,
        msg.thread_id                                   # the thread started from it
        await dc.post_user_message(content, channel_id=None, user_id=None, attachments=None,
                                   files={"take.wav": b"..." or a path})  # a member posts

        dc.dm_channel(user_id) -> ChannelSpec           # the bot's DM with a user
        dc.user("alice").dms_closed = True              # the bot's DMs to her: 403 50007

        dc.threads(guild_id=None) -> list[ChannelSpec]  # threads, oldest first
        dc.thread(thread_id); dc.thread_of(message) -> ChannelSpec | None; dc.channel(id)
        thread.parent_id, .type (11/12), .name, .owner_id, .starter_message_id,
        .message_count, .thread_member_ids, .archived
        await dc.wait_for_thread(predicate=None, timeout=10)
        await dc.archive_thread(thread_id)             # as after auto_archive_duration
        dc.guild().max_active_threads = 0               # Discord then answers 160006
        dc.refuse_threads(code=160006 | 50013 | 50001, count=1)  # an injected refusal
        dc.channel(cid).bot_denied = Perm.CREATE_PUBLIC_THREADS   # a real 403 50013
        dc.requests -> list[RecordedRequest];  dc.find_requests(method=None, route=None, path=None)
        await dc.wait_for_request(method, path_regex, predicate=None)
        dc.faults.add("POST", r"/channels/\\d+/messages$", 429, count=1, retry_after=0.05)
        dc.openapi_violations(responses=False); dc.assert_no_openapi_violations()
        dc.unhandled_requests -> requests to routes the stand-in does not implement
        dc.internal_errors -> stand-in crashes (answered 503, which discord.py does not retry)
        await dc.gateway_reconnect(); await dc.gateway_invalidate(); await dc.gateway_drop()
        await dc.gateway_outage(); dc.gateway_restore()  # drop, refuse reconnects, then allow
        dc.gateway.refused_connects                     # attempts refused during outages

        # Sharding: IDENTIFY's shard [id, count] holds guilds with (id >> 22) % count == id
        GuildSpec(id=guild_id_for_shard(1, 2))          # a guild on shard 1 of 2 (also
                                                        # dc.guild_id_for_shard); shard_of(g, n)
        await dc.add_guild(GuildSpec(...), shard=(1, 2))  # the bot joins: GUILD_CREATE
        await dc.delete_role(role_id)                   # GUILD_ROLE_DELETE; members lose it
        dc.connected_shards() -> [(0, 2), (1, 2)]       # (0, 1): an unsharded session
        await dc.wait_shards([0, 1], shard_count=2)     # each READY with its GUILD_CREATEs
        dc.gateway.session_for(guild_id)                # who gets the guild's interactions
        await dc.gateway_drop(4000, shard_id=1)         # also gateway_reconnect/_invalidate
        await dc.wait_until(lambda: ..., timeout, what)  # generic: re-checked on every change

All waits wake on state changes (no polling). Faults match `path_regex` with `re.search`
against the path below the API base ("/channels/1/messages") or the CDN path.

Discord behaviour modelled (so the bot meets it here before production)
-----------------------------------------------------------------------
* Interactions: the first callback must come within `interaction_ack_deadline` (3 s) or it
  gets 404 10062; a second callback gets 400 40060; followups before any callback get
  10015; `ix.expire()` simulates the 15-minute token (webhooks then 401 50027). The first
  followup after a deferred reply (type 5) fills the "thinking" message instead of creating
  one and keeps the defer's ephemeral flag. Modal definitions are checked (title <= 45,
  1-5 components, labels <= 45, ...). A modal submit goes out only after the answer to the
  modal's callback was written to the bot and the user's client had `MODAL_SHOW_DELAY` to
  show it: discord.py stores the modal only once that answer is back.
* Messages: content <= 2000, <= 10 embeds / 6000 chars, empty messages 50006, missing
  channel permissions 50001/50013 (`ChannelSpec.bot_denied`), files summed against the
  guild's limit (10/10/50/100 MiB by premium tier, 10 MiB in DMs) -> 413 40005; uploaded
  names are sanitised ("my song.mp3" -> "my_song.mp3") and content types guessed from the
  name; images get width/height. Components get numeric ids. Edits keep earlier versions
  in `msg.edits`; an edit's `files[n]` add attachments (ATTACH_FILES) and its
  `attachments` list keeps the old ones it names. `attachment://name` in an embed's image,
  thumbnail or icons becomes that attachment's URL. A channel message sent with `nonce` and
  `enforce_nonce` (discord.py sets both) within 5 minutes of one by the same author with the
  same nonce in that channel is answered with that message, and none is made.
* Threads: from a message (public, the message's id, the message gets `thread`) or
  without one (type 12 by default; a public one leaves a type-18 notice in the parent);
  answered 201; THREAD_CREATE with `newly_created`; the parent's overwrites apply inside,
  and sending needs SEND_MESSAGES_IN_THREADS; private threads are members-only; active
  threads come in GUILD_CREATE (after a restart too). Refusals: 50013 without
  CREATE_PUBLIC_THREADS / CREATE_PRIVATE_THREADS, 160004 a second thread on a message,
  160006 past the guild's `max_active_threads`.
* Context menus: type-3 commands are stored as synced (no description); invoking one sends
  `data = {id, name, type: 3, target_id, resolved: {messages: {id: message}}}` with the
  whole message (content and attachments whatever the intents, as Discord does).
* Mentions: `msg.resolved_mentions` is what Discord puts in `mentions`/`mention_roles`/
  `mention_everyone`; `msg.notified` who was actually pinged (nobody for ephemeral or
  SUPPRESS_NOTIFICATIONS messages; edits ping nobody, except the content a deferred reply
  gets). See `model.resolve_mentions` for the rules.
* Gateway: MESSAGE_CREATE/UPDATE/DELETE go to sessions with the GUILD_MESSAGES /
  DIRECT_MESSAGES intent, with content blanked without MESSAGE_CONTENT (unless the bot is
  mentioned); RESUME replays missed events; a clean client close ends the session.
* Sharding: `GET /gateway/bot` answers `url`, `shards` and `session_start_limit` (total,
  remaining, reset_after, max_concurrency). A session identified with `shard: [i, n]` gets
  READY (echoing `shard`, listing its guilds only), GUILD_CREATE and every event and
  interaction only for guilds on shard i; DMs go to shard 0; no `shard` is [0, 1]. Sessions
  of several shards and processes run side by side and RESUME one by one. 4010 for a shard
  outside its count, 4011 past `max_guilds_per_shard` guilds in one session.
* CDN URLs carry `ex`/`is`/`hm`; without them the CDN answers 404, as Discord's does.

Run by hand: `python -m tests.standins.discord --port 8766`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import discord
import yarl
from aiohttp import web

from . import client, openapi
from .gateway import INTENT_GUILDS, OP_INVALID_SESSION, OP_RECONNECT, Gateway, GatewaySession
from .model import (
    Callback,
    ChannelSpec,
    GuildSpec,
    Interaction,
    ModalField,
    RecordedRequest,
    StoredMessage,
    UserSpec,
    find_component,
    guild_id_for_shard,
    modal_fields,
    shard_of,
)
from .rest import API_PREFIX, THREAD_ROUTES, Fault, Faults, Rest
from .state import World

T = TypeVar("T")
# How long the user's client takes to show a modal once the callback's answer reached the
# bot: the round trip Discord -> client -> Discord before the user can submit. It also
# covers discord.py's own step between reading that answer and storing the modal.
MODAL_SHOW_DELAY = 0.05


class InteractionHandle:
    """What a test holds after dispatching an interaction to the bot."""

    def __init__(self, dc: DiscordStandIn, record: Interaction) -> None:
        self._dc = dc
        self._rec = record

    def __repr__(self) -> str:
        return f"<InteractionHandle id={self.id} type={self.type} callbacks={len(self.callbacks)}>"

    id = property(lambda self: self._rec.id)
    token = property(lambda self: self._rec.token)
    type = property(lambda self: self._rec.type)
    payload = property(lambda self: self._rec.payload, doc="the INTERACTION_CREATE payload sent")
    user_id = property(lambda self: self._rec.user_id)
    guild_id = property(lambda self: self._rec.guild_id)
    channel_id = property(lambda self: self._rec.channel_id)
    sent_at = property(lambda self: self._rec.sent_at, doc="loop time it went out")

    @property
    def callbacks(self) -> list[Callback]:
        return list(self._rec.callbacks)

    @property
    def callback(self) -> Callback | None:
        return self._rec.callbacks[0] if self._rec.callbacks else None

    async def wait_callback(self, timeout: float = 10.0) -> Callback:
        return await self._dc.wait_until(
            lambda: self.callback, timeout, f"a callback to interaction {self.id}"
        )

    @property
    def modal(self) -> dict[str, Any] | None:
        return next((cb.data for cb in self._rec.callbacks if cb.type == 9), None)

    def modal_fields(self) -> list[ModalField]:
        if self.modal is None:
            raise LookupError(f"the bot opened no modal for interaction {self.id}")
        return modal_fields(self.modal.get("components", []))

    @property
    def original_message(self) -> StoredMessage | None:
        mid = self._rec.original_message_id
        return self._dc.message(mid) if mid is not None else None

    async def wait_original(
        self, predicate: Callable[[StoredMessage], bool] | None = None, timeout: float = 10.0
    ) -> StoredMessage:
        """The original response once it is not a loading (deferred) placeholder."""

        def check() -> StoredMessage | None:
            msg = self.original_message
            if msg is None or msg.loading:
                return None
            return msg if predicate is None or predicate(msg) else None

        return await self._dc.wait_until(check, timeout, f"original response of {self.id}")

    @property
    def followups(self) -> list[StoredMessage]:
        return [self._dc.message(m) for m in self._rec.followup_ids]

    async def wait_followups(self, n: int = 1, timeout: float = 10.0) -> list[StoredMessage]:
        return await self._dc.wait_until(
            lambda: self.followups[:n] if len(self.followups) >= n else None,
            timeout,
            f"{n} followup(s) to interaction {self.id}",
        )

    @property
    def messages(self) -> list[StoredMessage]:
        """Every message this interaction's token created (original first)."""
        return [self._dc.message(m) for m in self._rec.message_ids]

    def expire(self) -> None:
        """Simulate the 15-minute token expiry: callbacks and webhooks now fail."""
        self._rec.expired = True

    async def submit_modal(
        self, values: Mapping[str, Any], *, user_id: int | None = None, timeout: float = 10.0
    ) -> InteractionHandle:
        """Submit the modal the bot opened, as a user's client would.

        `values` is keyed by custom_id or by label (case-insensitive; a Label's text names
        what it wraps). Text inputs take a str; String Selects (type 3, in a Label) an
        option value or a list of them, and left out keep the options marked `default`.
        Required inputs left out, over-long text, values not among a select's options or
        too many of them raise ValueError, as the client would refuse to submit; pre-filled
        text inputs keep their value. Other kinds (file uploads, user selects...) raise
        ValueError: the bot uses none yet.

        The submit has Discord's shape: inputs in action rows come back in rows, those in
        Labels as `{"type": 18, "id", "component": {"type": 4, "id", "custom_id", "value"}}`
        or `{... "component": {"type": 3, "id", "custom_id", "values": [...]}}`.

        As on Discord, the submit can only come after the modal was shown: once the answer
        to the modal callback was written to the bot, plus `MODAL_SHOW_DELAY`.
        """
        cb = await self.wait_callback(timeout)
        if cb.modal is None:
            raise LookupError(f"interaction {self.id} answered with {cb}, not a modal")
        data = client.modal_submit_data(self._dc.world, cb.modal, values)
        responded = await self._dc.wait_until(
            lambda: cb.responded_at, timeout, f"the answer to {self.id}'s modal callback"
        )
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, responded + self._dc.modal_show_delay - loop.time()))
        prev = self._rec
        rec = self._dc.world.new_interaction(
            5,
            data,
            user_id=user_id or prev.user_id,
            guild_id=prev.guild_id,
            channel_id=prev.channel_id,
            locale=prev.payload.get("locale", "en-US"),
            message=self._dc.world.messages.get(prev.component_message_id or 0),
            parent_id=prev.id,
        )
        return await self._dc._dispatch(rec, timeout)


class DiscordStandIn:
    def __init__(
        self,
        token: str = "stand-in-token",  # noqa: S107
        *,
        app_id: int = 0,
        bot_name: str = "TestBot",
        guilds: list[GuildSpec] | None = None,
        users: list[UserSpec] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        validate_openapi: bool | None = None,
        openapi_path: str | os.PathLike[str] | None = None,
        interaction_ack_deadline: float | None = 3.0,
        middlewares: Sequence[Any] = (),
        on_interaction_sent: Callable[[int], None] | None = None,
        modal_show_delay: float = MODAL_SHOW_DELAY,
        max_guilds_per_shard: int | None = 2500,
        max_concurrency: int = 1,
        recommended_shards: int | None = None,
    ) -> None:
        """`middlewares`: aiohttp middlewares run, in order, before the stand-in's own on
        every request (REST, CDN and the /gateway upgrade). `on_interaction_sent(id)` is
        called right before an INTERACTION_CREATE goes out over the gateway.
        `max_guilds_per_shard`: an IDENTIFY whose session would hold more guilds is closed
        with 4011 (Sharding required), as Discord does past 2,500; `max_concurrency` and
        `recommended_shards` are what `GET /gateway/bot` answers."""
        self.world = World(
            token=token,
            app_id=app_id,
            bot_name=bot_name,
            guilds=guilds,
            users=users,
            interaction_ack_deadline=interaction_ack_deadline,
        )
        self.host = host
        self.port = port
        self.gateway = Gateway(
            self.world,
            url=lambda: self.gateway_url,
            max_guilds_per_shard=max_guilds_per_shard,
            max_concurrency=max_concurrency,
            recommended_shards=recommended_shards,
        )
        self.rest = Rest(self.world, bot_gateway=self.gateway.bot_gateway)
        self.openapi_path = Path(openapi_path) if openapi_path else openapi.spec_path()
        if validate_openapi is None:
            validate_openapi = openapi.spec_available(self.openapi_path)
        self.validate_openapi = validate_openapi
        self.middlewares = list(middlewares)
        self.on_interaction_sent = on_interaction_sent
        self.modal_show_delay = modal_show_delay
        self._runner: web.AppRunner | None = None

    async def start(self) -> DiscordStandIn:
        app = web.Application(
            client_max_size=1024**3, middlewares=[*self.middlewares, self.rest.middleware]
        )
        self.rest.add_routes(app)
        app.router.add_get("/gateway", self.gateway.handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
        self.world.cdn_base = self.cdn_base
        return self

    async def stop(self) -> None:
        await self.gateway.close_all(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordStandIn:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ addresses

    @property
    def cdn_base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """Value for `discord.http.Route.BASE` (a str)."""
        return f"http://{self.host}:{self.port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """Wrap in `yarl.URL` for `discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`."""
        return f"ws://{self.host}:{self.port}/gateway"

    @contextlib.contextmanager
    def patch_discord_py(self) -> Iterator[None]:
        """Point the imported discord.py at this stand-in; restore on exit."""
        old = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old

    # ------------------------------------------------------------------ the world

    token = property(lambda self: self.world.token)
    app_id = property(lambda self: self.world.app_id)
    bot_user = property(lambda self: self.world.bot_user)
    users = property(lambda self: self.world.users, doc="{id: UserSpec}, the bot included")
    guild_specs = property(lambda self: self.world.guild_specs)
    command_syncs = property(lambda self: self.world.command_syncs)
    faults = property(lambda self: self.rest.faults, doc="injected failures (`rest.Faults`)")
    requests = property(lambda self: self.rest.requests, doc="every request, oldest first")
    internal_errors = property(lambda self: self.rest.internal_errors)

    def interaction_tokens(self) -> list[str]:
        """Every interaction token the stand-in issued (to check none leaks into a log)."""
        return [rec.token for rec in self.world.interactions.values()]

    @property
    def interaction_ack_deadline(self) -> float | None:
        return self.world.interaction_ack_deadline

    @interaction_ack_deadline.setter
    def interaction_ack_deadline(self, value: float | None) -> None:
        self.world.interaction_ack_deadline = value

    @property
    def guild_id(self) -> int:
        return self.world.guild_specs[0].id

    @property
    def channel_id(self) -> int:
        return self.channel_ids()[0]

    def guild(self, guild_id: int | None = None) -> GuildSpec:
        return self.world.guilds[guild_id or self.guild_id]

    def channel_ids(self, guild_id: int | None = None) -> list[int]:
        """The guild's text channels (None: the first guild)."""
        chans = self.world.guild_channels(guild_id or self.guild_id)
        return [c.id for c in chans if c.type == 0]

    def user(self, name_or_id: str | int) -> UserSpec:
        for user in self.users.values():
            if name_or_id in (user.id, user.username):
                return user
        known = [u.username for u in self.users.values()]
        raise LookupError(f"no user {name_or_id!r}; known: {known}")

    def dm_channel(self, user_id: int) -> ChannelSpec:
        """The bot's DM channel with a user (opened now if the bot never opened it)."""
        return self.world.dm_channel(user_id)

    @property
    def default_user_id(self) -> int:
        return next(u.id for u in self.users.values() if not u.bot)

    def filesize_limit(self, channel_id: int) -> int:
        return self.world.filesize_limit(channel_id)

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        return self.world.commands(guild_id)

    def message(self, message_id: int) -> StoredMessage:
        return self.world.messages[message_id]

    def channel(self, channel_id: int) -> ChannelSpec:
        """A channel or thread by id (its live record)."""
        chan = self.world.channel(channel_id)
        if chan is None:
            raise LookupError(f"no channel {channel_id}")
        return chan

    # ------------------------------------------------------------------ threads

    def threads(self, guild_id: int | None = None) -> list[ChannelSpec]:
        """Threads the bot started (in one guild, or in all with guild_id=None), oldest
        first. `thread.parent_id`, `.type` (11 public / 12 private), `.name`, `.owner_id`,
        `.starter_message_id`, `.message_count`, `.thread_member_ids`."""
        return self.world.threads(guild_id)

    def thread(self, thread_id: int) -> ChannelSpec:
        chan = self.channel(thread_id)
        if not chan.is_thread:
            raise LookupError(f"channel {thread_id} is not a thread")
        return chan

    def thread_of(self, message: StoredMessage | int) -> ChannelSpec | None:
        """The thread started from this message (Discord gives it the message's id)."""
        msg = message if isinstance(message, StoredMessage) else self.message(message)
        return self.world.channel(msg.thread_id) if msg.thread_id is not None else None

    async def wait_for_thread(
        self, predicate: Callable[[ChannelSpec], bool] | None = None, timeout: float = 10.0
    ) -> ChannelSpec:
        """The first thread (oldest first) matching `predicate`."""

        def check() -> ChannelSpec | None:
            return next((t for t in self.threads(None) if predicate is None or predicate(t)), None)

        return await self.wait_until(check, timeout, "a thread")

    async def archive_thread(self, thread_id: int) -> None:
        """Archive a thread as Discord does after `auto_archive_duration` of silence
        (THREAD_UPDATE). It no longer counts towards `max_active_threads`; a message
        posted in it unarchives it."""
        await self.world.edit_thread(self.thread(thread_id), {"archived": True})

    def refuse_threads(self, code: int = 160006, count: int | None = 1) -> Fault:
        """Make Discord refuse the next `count` thread creations (None: all) as it does:
        160006 (400 "Maximum number of active threads reached"), 50013 (403 Missing
        Permissions) or 50001 (403 Missing Access). The real checks apply too: lower
        `dc.guild().max_active_threads`, or deny CREATE_PUBLIC_THREADS in `bot_denied`."""
        status, message = {
            160006: (400, "Maximum number of active threads reached"),
            50013: (403, "Missing Permissions"),
            50001: (403, "Missing Access"),
        }[code]
        return self.faults.add("POST", THREAD_ROUTES, status, count, code=code, message=message)

    def messages(
        self,
        channel_id: int | None = None,
        *,
        include_ephemeral: bool = True,
        include_deleted: bool = False,
    ) -> list[StoredMessage]:
        """Stored messages, oldest first."""
        return sorted(
            (
                m
                for m in self.world.messages.values()
                if (channel_id is None or m.channel_id == channel_id)
                and (include_deleted or not m.deleted)
                and (include_ephemeral or not m.ephemeral)
            ),
            key=lambda m: m.id,
        )

    def add_attachment(
        self,
        filename: str,
        data: bytes | os.PathLike[str] | str,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        """A user's upload (e.g. for an attachment option); served by the stand-in's CDN.

        `data` is bytes or a file path (served from disk, with Range support). Returns the
        Discord attachment object (id, filename, size, url, proxy_url, content_type, ...).
        """
        return self.world.add_user_upload(filename, data, content_type).payload()

    # ------------------------------------------------------------------ waits and records

    async def wait_until(
        self, check: Callable[[], T | None], timeout: float = 10.0, what: str = "condition"
    ) -> T:
        """Return `check()` once it is truthy; re-evaluated on every stand-in state change."""

        def recent() -> str:
            lines = "\n  ".join(str(r) for r in self.requests[-15:]) or "(none)"
            return f"; last requests:\n  {lines}"

        return await self.world.wait_until(check, timeout, what, recent)

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Until a connected session got READY and a GUILD_CREATE for each of its guilds."""
        await self.wait_until(
            lambda: bool(self.gateway.connected_sessions()), timeout, "the bot to IDENTIFY"
        )

    # ------------------------------------------------------------------ shards

    guild_id_for_shard = staticmethod(guild_id_for_shard)
    shard_of = staticmethod(shard_of)

    def connected_shards(self) -> list[tuple[int, int]]:
        """(shard_id, shard_count) of each connected session that got all its GUILD_CREATEs,
        sorted; an unsharded session is (0, 1). Two processes on one shard: listed twice."""
        return self.gateway.connected_shards()

    async def wait_shards(
        self, shard_ids: Sequence[int], shard_count: int, timeout: float = 10.0
    ) -> None:
        """Until a session of each of `shard_ids` (of `shard_count`) is connected and ready."""
        wanted = {(i, shard_count) for i in shard_ids}
        await self.wait_until(
            lambda: wanted <= set(self.connected_shards()),
            timeout,
            f"shards {sorted(shard_ids)} of {shard_count} to IDENTIFY",
        )

    async def add_guild(
        self, guild: GuildSpec | None = None, *, shard: tuple[int, int] | None = None
    ) -> GuildSpec:
        """The bot is added to a guild (a fresh `GuildSpec()` if none): GUILD_CREATE goes
        to the sessions holding it. `shard=(id, count)` gives it an id on that shard."""
        guild = guild or GuildSpec()
        if shard is not None:
            if guild.id and shard_of(guild.id, shard[1]) != shard[0]:
                raise ValueError(f"guild {guild.id} is not on shard {shard}")
            guild.id = guild.id or guild_id_for_shard(*shard)
        if guild.id in self.world.guilds:
            raise ValueError(f"guild {guild.id} exists already")
        self.world.add_guild(guild)
        await self.gateway.guild_joined(guild.id)
        self.world.notify()
        return guild

    async def delete_role(self, role_id: int, guild_id: int | None = None) -> None:
        """A server's owner deletes a role: it leaves the guild and its members, and
        GUILD_ROLE_DELETE goes to the sessions holding the guild (GUILDS intent)."""
        guild_id = guild_id or self.guild_id
        roles = self.world.roles[guild_id]
        if role_id not in roles or role_id == guild_id:
            raise ValueError(f"guild {guild_id} has no role {role_id} to delete")
        del roles[role_id]
        for held in self.world.guilds[guild_id].member_roles.values():
            if role_id in held:
                held.remove(role_id)
        data = {"guild_id": str(guild_id), "role_id": str(role_id)}
        await self.gateway.dispatch("GUILD_ROLE_DELETE", data, intent=INTENT_GUILDS)
        self.world.notify()

    def allow_command(self, name: str, user_id: int, guild_id: int | None = None) -> None:
        """The server's owner lets this member use /name whatever its
        `default_member_permissions` (Server Settings → Integrations): the member's client
        offers it, and the interaction carries the member's own permissions as ever."""
        key = (guild_id or self.guild_id, name)
        self.world.command_overrides.setdefault(key, set()).add(user_id)

    async def wait_commands_synced(
        self, guild_id: int | None = None, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """After the bot PUT its commands to `guild_id` (None: globally); the stored list."""
        await self.wait_until(
            lambda: guild_id in self.command_syncs,
            timeout,
            f"command sync to {guild_id or 'global'}",
        )
        return list(self.commands(guild_id))

    async def wait_for_message(
        self,
        channel_id: int | None = None,
        predicate: Callable[[StoredMessage], bool] | None = None,
        timeout: float = 10.0,
        *,
        include_ephemeral: bool = True,
    ) -> StoredMessage:
        """First stored message in the channel (None: any channel) matching `predicate`.

        The predicate sees messages' current state, so it can wait for an edit.
        """

        def check() -> StoredMessage | None:
            for msg in self.messages(channel_id, include_ephemeral=include_ephemeral):
                if predicate is None or predicate(msg):
                    return msg
            return None

        return await self.wait_until(check, timeout, f"a message in {channel_id or 'any channel'}")

    def find_requests(
        self, method: str | None = None, route: str | None = None, path: str | None = None
    ) -> list[RecordedRequest]:
        """Requests filtered by method, route template (exact) and/or path regex (search)."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (route is None or r.route == route)
            and (path is None or re.search(path, r.path))
        ]

    async def wait_for_request(
        self,
        method: str,
        path_regex: str,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        timeout: float = 10.0,
    ) -> RecordedRequest:
        """The first answered request matching (`predicate` sees the whole record)."""

        def check() -> RecordedRequest | None:
            for r in self.find_requests(method, path=path_regex):
                if r.status is not None and (predicate is None or predicate(r)):
                    return r
            return None

        return await self.wait_until(check, timeout, f"{method} {path_regex}")

    @property
    def unhandled_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.unhandled]

    # ------------------------------------------------------------------ OpenAPI

    @property
    def openapi_enabled(self) -> bool:
        return bool(self.validate_openapi) and openapi.spec_available(self.openapi_path)

    def openapi_violations(self, *, responses: bool = False) -> list[openapi.Violation]:
        """Recorded REST requests (and with responses=True the stand-in's own answers) that
        break Discord's OpenAPI description. [] when validation is off or the spec is absent."""
        if not self.openapi_enabled:
            return []
        return openapi.check(self.requests, responses=responses, path=self.openapi_path)

    def assert_no_openapi_violations(self, *, responses: bool = False) -> str:
        """Raise AssertionError listing every violation; else say what was checked (or
        why nothing was: validation off, or the spec file absent)."""
        if not self.validate_openapi:
            return "OpenAPI validation is off for this stand-in: nothing checked"
        if not openapi.spec_available(self.openapi_path):
            return f"Discord's OpenAPI description is absent ({self.openapi_path}): not checked"
        violations = self.openapi_violations(responses=responses)
        if violations:
            listed = "\n".join(f"  {n}. {v}" for n, v in enumerate(violations, 1))
            raise AssertionError(
                f"{len(violations)} request(s) break Discord's OpenAPI description "
                f"({self.openapi_path}):\n{listed}"
            )
        checked = sum(1 for r in self.requests if r.kind == "rest")
        return f"{checked} REST request(s) fit Discord's OpenAPI description"

    # ------------------------------------------------------------------ gateway controls

    async def gateway_reconnect(self, *, shard_id: int | None = None) -> None:
        """Send op 7 RECONNECT (to every session, or those of `shard_id`): discord.py
        reconnects and RESUMEs."""
        await self.gateway.send_op(OP_RECONNECT, shard_id=shard_id)

    async def gateway_invalidate(
        self, resumable: bool = False, *, shard_id: int | None = None
    ) -> None:
        """Send op 9 INVALID_SESSION: discord.py re-IDENTIFYs (or resumes if resumable)."""
        await self.gateway.send_op(OP_INVALID_SESSION, resumable, shard_id=shard_id)

    async def gateway_outage(self, code: int = 4000) -> None:
        """Drop every gateway connection and refuse new ones until `gateway_restore()`.

        The session stays resumable, as after a real outage."""
        self.gateway.refusing = True
        await self.gateway.close_all(code=code)

    def gateway_restore(self) -> None:
        """End an outage: connections are taken again (and may RESUME)."""
        self.gateway.refusing = False
        self.world.notify()

    async def gateway_drop(self, code: int = 4000, *, shard_id: int | None = None) -> None:
        """Close every gateway connection (or those of `shard_id`) from the server side
        (4000: resumable)."""
        await self.gateway.close_all(code=code, shard_id=shard_id)

    # ------------------------------------------------------------------ users act

    async def _dispatch(self, rec: Interaction, timeout: float) -> InteractionHandle:
        """INTERACTION_CREATE to the session holding the guild's shard (a DM: shard 0),
        once one is connected."""
        await self.wait_ready(timeout)
        try:
            session: GatewaySession = await self.wait_until(
                lambda: self.gateway.session_for(rec.guild_id),
                timeout,
                f"a gateway session holding guild {rec.guild_id} (shard 0 for a DM)",
            )
        except TimeoutError as exc:
            raise RuntimeError(
                f"no gateway session covers guild {rec.guild_id}; connected shards: "
                f"{self.connected_shards()}"
            ) from exc
        if self.on_interaction_sent is not None:
            self.on_interaction_sent(rec.id)
        rec.sent_at = asyncio.get_running_loop().time()
        await self.gateway.dispatch("INTERACTION_CREATE", rec.payload, only=session)
        self.world.notify()
        return InteractionHandle(self, rec)

    async def invoke_command(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        user_id: int | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        locale: str = "en-US",
        timeout: float = 10.0,
        dm: bool = False,
    ) -> InteractionHandle:
        """A user runs `/name` (subcommands: "group sub") with `options` by option name.

        Options are converted with the synced command's definitions: str/int/float/bool,
        users (id or UserSpec), roles, channels (ids) and attachments (a dict from
        `add_attachment`, or its id) go into `data.resolved` the way Discord sends them.
        With `dm=True` the user runs it in their DM with the bot: only global commands whose
        `contexts` allow a bot DM are offered there (LookupError otherwise).
        """
        uid = user_id or self.default_user_id
        if dm:
            dm_channel = self.world.dm_channel(uid)
            data = client.command_data(
                self.world,
                name,
                options or {},
                user_id=uid,
                guild_id=None,
                channel_id=dm_channel.id,
            )
            rec = self.world.new_interaction(
                2,
                data,
                user_id=uid,
                guild_id=None,
                channel_id=dm_channel.id,
                locale=locale,
                name=name,
            )
            return await self._dispatch(rec, timeout)
        chan = self.world.channel(channel_id) if channel_id is not None else None
        gid = guild_id or (chan.guild_id if chan is not None else None) or self.guild_id
        cid = channel_id or self.channel_ids(gid)[0]
        data = client.command_data(
            self.world, name, options or {}, user_id=uid, guild_id=gid, channel_id=cid
        )
        rec = self.world.new_interaction(
            2, data, user_id=uid, guild_id=gid, channel_id=cid, locale=locale, name=name
        )
        return await self._dispatch(rec, timeout)

    async def invoke_message_command(
        self,
        name: str,
        message: StoredMessage | int,
        *,
        user_id: int | None = None,
        locale: str = "en-US",
        timeout: float = 10.0,
    ) -> InteractionHandle:
        """A member runs the message context-menu command `name` (type 3, e.g. "Sing over
        this") on `message` (a member's or the bot's own), in the message's channel or
        thread: an APPLICATION_COMMAND interaction whose `data` holds `target_id` and the
        message in `resolved.messages`. LookupError if no type-3 command of that name is
        synced; PermissionError if its `default_member_permissions` exclude the member."""
        msg = message if isinstance(message, StoredMessage) else self.message(message)
        uid = user_id or self.default_user_id
        data = client.message_command_data(self.world, name, msg, user_id=uid)
        rec = self.world.new_interaction(
            2,
            data,
            user_id=uid,
            guild_id=msg.guild_id,
            channel_id=msg.channel_id,
            locale=locale,
            name=name,
        )
        return await self._dispatch(rec, timeout)

    async def click(
        self,
        message: StoredMessage | int,
        custom_id: str,
        *,
        user_id: int | None = None,
        locale: str = "en-US",
        timeout: float = 10.0,
    ) -> InteractionHandle:
        """A user presses a button on a message (interaction type 3)."""
        msg = message if isinstance(message, StoredMessage) else self.message(message)
        comp = find_component(msg.components, custom_id)
        if comp is None:
            raise LookupError(f"message {msg.id} has no component {custom_id!r}")
        if comp.get("type") != 2 or comp.get("disabled"):
            raise ValueError(f"component {custom_id!r} is not an enabled button")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": 2}
        rec = self.world.new_interaction(
            3,
            data,
            user_id=user_id or self.default_user_id,
            guild_id=msg.guild_id,
            channel_id=msg.channel_id,
            locale=locale,
            message=msg,
        )
        return await self._dispatch(rec, timeout)

    async def select(
        self,
        message: StoredMessage | int,
        custom_id: str,
        values: list[str],
        *,
        user_id: int | None = None,
        locale: str = "en-US",
        timeout: float = 10.0,
    ) -> InteractionHandle:
        """A user picks `values` in a string select menu on a message (interaction type 3)."""
        msg = message if isinstance(message, StoredMessage) else self.message(message)
        comp = find_component(msg.components, custom_id)
        if comp is None:
            raise LookupError(f"message {msg.id} has no component {custom_id!r}")
        if comp.get("type") != 3 or comp.get("disabled"):
            raise ValueError(f"component {custom_id!r} is not an enabled string select")
        offered = {str(o.get("value")) for o in comp.get("options", [])}
        if not set(values) <= offered:
            raise ValueError(f"{values} are not among the menu's options {sorted(offered)}")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": 3, "values": values}
        rec = self.world.new_interaction(
            3,
            data,
            user_id=user_id or self.default_user_id,
            guild_id=msg.guild_id,
            channel_id=msg.channel_id,
            locale=locale,
            message=msg,
        )
        return await self._dispatch(rec, timeout)

    async def post_user_message(
        self,
        content: str = "",
        *,
        channel_id: int | None = None,
        user_id: int | None = None,
        attachments: list[dict[str, Any]] | None = None,
        files: Mapping[str, bytes | os.PathLike[str] | str] | None = None,
    ) -> StoredMessage:
        """A member posts in a channel or thread (MESSAGE_CREATE goes to the bot if its
        intents allow; without MESSAGE_CONTENT the bot sees neither content nor
        attachments, unless it is mentioned, as on Discord).

        `attachments`: uploads from `add_attachment`; `files`: {filename: bytes or path},
        uploaded here. Either way the message carries them as Discord does: channel
        attachments (`/attachments/{channel_id}/...`, fresh ids) with filename (sanitised),
        size, url, proxy_url, content_type guessed from the name, and width/height for
        images; Discord adds `duration_secs`/`waveform` only to voice messages, which this
        is not. Their bytes are served by the stand-in's CDN.
        """
        cid = channel_id or self.channel_id
        chan = self.world.channel(cid)
        if chan is None:
            raise LookupError(f"unknown channel {cid}")
        uploads = [self.world.attachments[int(a["id"])] for a in attachments or []]
        for name, data in (files or {}).items():
            uploads.append(self.world.add_user_upload(name, data, None))
        if len(uploads) > 10:
            raise ValueError("Discord's client takes at most 10 files per message")
        return await self.world.create_message(
            chan,
            {"content": content},
            {},
            author=self.users[user_id or self.default_user_id],
            source="user",
            uploaded=[self.world.member_attachment(cid, u) for u in uploads],
        )


__all__ = [
    "MODAL_SHOW_DELAY",
    "DiscordStandIn",
    "Faults",
    "InteractionHandle",
    "guild_id_for_shard",
    "shard_of",
]
