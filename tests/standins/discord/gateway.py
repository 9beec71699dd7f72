"""The Discord stand-in's gateway: one WebSocket endpoint speaking gateway v10.

HELLO -> (heartbeat -> ACK) -> IDENTIFY -> READY + GUILD_CREATE per guild, RESUME with
replay of missed dispatches, REQUEST_GUILD_MEMBERS -> GUILD_MEMBERS_CHUNK, and test controls
to send RECONNECT (op 7), INVALID_SESSION (op 9), drop the connection, or refuse every
connection for a while (an outage).

Compression: `compress=zlib-stream` gets one zlib compressor for the whole connection and a
Z_SYNC_FLUSH after every frame (what discord.py's decompressor waits for); `zstd-stream` is
served when the `zstandard` package is importable, else refused with close code 4000.

Message events come from `state.World` (the gateway is one of its listeners) and go to the
sessions whose intents ask for them, with content blanked without MESSAGE_CONTENT, as on
Discord. A clean client close (1000/1001) ends the session; any other close can RESUME.

Sharding, as Discord does it: IDENTIFY's `shard: [shard_id, shard_count]` (absent: [0, 1])
gives a session the guilds with `(guild_id >> 22) % shard_count == shard_id`; READY lists
only those (and echoes `shard`), GUILD_CREATE comes only for those, and every guild event
and interaction is routed by the payload's `guild_id` to the sessions holding it; DMs go to
shard 0. Any number of sessions (one per shard, from any number of processes) live side by
side, each resumable on its own. A shard outside the count closes with 4010 (Invalid
shard); a session that would hold more than `max_guilds_per_shard` guilds with 4011
(Sharding required). `bot_gateway()` is `GET /gateway/bot`'s answer: the recommended
`shards` and `session_start_limit` (1000 IDENTIFYs a day, `max_concurrency`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .model import ChannelSpec, Perm, StoredMessage, shard_of
from .state import World

try:
    import zstandard
except ImportError:  # discord.py then asks for zlib-stream
    zstandard = None


OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE = 3
OP_VOICE_STATE = 4
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

INTENT_GUILDS = 1 << 0
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15

REPLAY_BUFFER = 2000
GUILDS_PER_RECOMMENDED_SHARD = 1000  # Discord recommends about one shard per 1,000 guilds
MAX_GUILDS_PER_SHARD = 2500  # past this Discord closes an IDENTIFY with 4011
SESSION_STARTS_PER_DAY = 1000
DAY_MS = 24 * 3600 * 1000


@dataclass
class GatewaySession:
    """One identified session; survives reconnects that RESUME it."""

    session_id: str
    intents: int
    seq: int = 0
    sent: list[tuple[int, str]] = field(default_factory=list)  # (seq, frame json) for replay
    connection: GatewayConnection | None = None
    identified: bool = False  # READY sent: dispatches may flow
    guilds_sent: bool = False  # READY and every GUILD_CREATE sent
    shard: tuple[int, int] = (0, 1)  # (shard_id, shard_count) from IDENTIFY

    @property
    def shard_id(self) -> int:
        return self.shard[0]

    def holds(self, guild_id: int | None) -> bool:
        """Whether Discord routes this guild's events here (None, a DM: shard 0)."""
        shard_id, count = self.shard
        if guild_id is None:
            return shard_id == 0
        return shard_of(guild_id, count) == shard_id


class GatewayConnection:
    """A WebSocket plus its compressor; frames go out in order under one lock."""

    def __init__(self, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self.compress = compress
        self.lock = asyncio.Lock()
        self.session: GatewaySession | None = None
        self.closed_by_server = False
        if compress == "zlib-stream":
            self._zlib = zlib.compressobj()
        elif compress == "zstd-stream":
            self._zstd = zstandard.ZstdCompressor().compressobj()

    async def send(self, payload: dict[str, Any] | str) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
        async with self.lock:
            if self.ws.closed:
                return
            if self.compress == "zlib-stream":
                frame = self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                await self.ws.send_bytes(frame)
            elif self.compress == "zstd-stream":
                frame = self._zstd.compress(text.encode()) + self._zstd.flush(
                    zstandard.COMPRESSOBJ_FLUSH_BLOCK
                )
                await self.ws.send_bytes(frame)
            else:
                await self.ws.send_str(text)


class Gateway:
    def __init__(
        self,
        world: World,
        *,
        url: Callable[[], str],
        heartbeat_interval_ms: int = 41250,
        max_guilds_per_shard: int | None = MAX_GUILDS_PER_SHARD,
        max_concurrency: int = 1,
        recommended_shards: int | None = None,
    ) -> None:
        self.world = world
        self.url = url  # the stand-in's gateway URL, for READY's resume_gateway_url
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.max_guilds_per_shard = max_guilds_per_shard  # None: never 4011
        self.max_concurrency = max_concurrency
        self.recommended_shards = recommended_shards  # None: one per 1,000 guilds
        self._identify_times: list[float] = []  # monotonic, for session_start_limit
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: list[GatewayConnection] = []
        self.connects: list[dict[str, str]] = []  # query of every connection attempt
        self.identify_count = 0
        self.resume_count = 0
        # An outage: while set, every connection attempt is refused before the WebSocket
        # handshake (HTTP 503, as a load balancer with no healthy gateway would answer).
        self.refusing = False
        self.refused_connects = 0
        world.listeners.append(self._on_message_event)
        world.channel_listeners.append(self._on_channel_event)

    # ------------------------------------------------------------------ helpers

    def connected_sessions(self) -> list[GatewaySession]:
        return [
            s
            for s in self.sessions.values()
            if s.connection is not None and not s.connection.ws.closed and s.guilds_sent
        ]

    def session_for(self, guild_id: int | None = None) -> GatewaySession | None:
        """The session that gets this guild's interactions: the oldest connected one whose
        shard holds the guild (None, a DM: shard 0)."""
        return next((s for s in self.connected_sessions() if s.holds(guild_id)), None)

    def connected_shards(self) -> list[tuple[int, int]]:
        """(shard_id, shard_count) of every connected, ready session, sorted; an unsharded
        session is (0, 1)."""
        return sorted(s.shard for s in self.connected_sessions())

    def bot_gateway(self) -> dict[str, Any]:
        """`GET /gateway/bot`: the URL, the recommended shard count, session start limits."""
        shards = self.recommended_shards or max(
            1, math.ceil(len(self.world.guilds) / GUILDS_PER_RECOMMENDED_SHARD)
        )
        now = time.monotonic()
        window = [t for t in self._identify_times if (now - t) * 1000 < DAY_MS]
        self._identify_times = window
        reset_after = int(DAY_MS - (now - window[0]) * 1000) if window else 0
        return {
            "url": self.url(),
            "shards": shards,
            "session_start_limit": {
                "total": SESSION_STARTS_PER_DAY,
                "remaining": max(0, SESSION_STARTS_PER_DAY - len(window)),
                "reset_after": reset_after,
                "max_concurrency": self.max_concurrency,
            },
        }

    async def dispatch(
        self,
        event: str,
        data: dict[str, Any],
        *,
        intent: int | None = None,
        transform: Callable[[GatewaySession, dict[str, Any]], dict[str, Any]] | None = None,
        only: GatewaySession | None = None,
        guild_id: int | None = None,
    ) -> int:
        """Send a DISPATCH to every identified session (or `only`) with `intent` whose
        shard holds the event's guild: `guild_id`, else the payload's `guild_id` (none: a
        DM, shard 0).

        Sessions that are disconnected but resumable buffer the event for replay.
        Returns how many sessions got (or buffered) it.
        """
        count = 0
        if guild_id is None and isinstance(data, dict) and data.get("guild_id") is not None:
            guild_id = int(data["guild_id"])
        targets = [only] if only is not None else list(self.sessions.values())
        for session in targets:
            if not session.identified:
                continue
            if only is None and not session.holds(guild_id):
                continue
            if intent is not None and not session.intents & intent:
                continue
            body = transform(session, data) if transform else data
            await self._send_dispatch(session, event, body)
            count += 1
        return count

    async def _send_dispatch(self, session: GatewaySession, event: str, data: Any) -> None:
        session.seq += 1
        frame = json.dumps({"op": OP_DISPATCH, "t": event, "s": session.seq, "d": data})
        session.sent.append((session.seq, frame))
        del session.sent[:-REPLAY_BUFFER]
        if session.connection is not None:
            await session.connection.send(frame)

    async def _on_message_event(self, event: str, msg: StoredMessage) -> None:
        if msg.ephemeral:
            return  # only the interaction's user sees it, through the interaction
        intent = INTENT_GUILD_MESSAGES if msg.guild_id is not None else INTENT_DIRECT_MESSAGES
        if event == "MESSAGE_DELETE":
            data: dict[str, Any] = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
            if msg.guild_id is not None:
                data["guild_id"] = str(msg.guild_id)
            await self.dispatch(event, data, intent=intent)
            return
        await self.dispatch(
            event,
            self.world.message_payload(msg),
            intent=intent,
            transform=self._as_seen_by,
        )

    async def _on_channel_event(self, event: str, chan: ChannelSpec) -> None:
        """THREAD_CREATE / THREAD_UPDATE (GUILDS intent): the thread; a new one carries
        `newly_created` as Discord marks a thread just started (discord.py then dispatches
        `on_thread_create`, not `on_thread_join`). Private threads only reach a bot that
        can see them."""
        assert chan.guild_id is not None
        bot = self.world.bot_user.id
        if not self.world.permissions(chan.guild_id, bot, chan.id) & Perm.VIEW_CHANNEL:
            return
        data = self.world.thread_payload(chan)
        if event == "THREAD_CREATE":
            data["newly_created"] = True
        await self.dispatch(event, data, intent=INTENT_GUILDS)

    def _as_seen_by(self, session: GatewaySession, data: dict[str, Any]) -> dict[str, Any]:
        """A message event as this session gets it: with the author's member, and without
        content unless MESSAGE_CONTENT, the bot's own message, a DM, or a mention of it."""
        data = dict(data)
        author_id = int(data["author"]["id"])
        guild_id = data.get("guild_id")
        bot_id = self.world.bot_user.id
        if guild_id is not None and author_id in self.world.users:
            data["member"] = self.world.member_payload(int(guild_id), author_id, with_user=False)
        mentioned = any(int(u["id"]) == bot_id for u in data.get("mentions", []))
        if (
            not session.intents & INTENT_MESSAGE_CONTENT
            and author_id != bot_id
            and guild_id is not None
            and not mentioned
        ):
            data.update(content="", embeds=[], attachments=[], components=[])
        return data

    # ------------------------------------------------------------------ test controls

    def _connections(self, shard_id: int | None) -> list[GatewayConnection]:
        """Every connection (None), or those of sessions on `shard_id`."""
        return [
            c
            for c in self.connections
            if shard_id is None or (c.session is not None and c.session.shard_id == shard_id)
        ]

    async def send_op(self, op: int, d: Any = None, *, shard_id: int | None = None) -> None:
        for conn in self._connections(shard_id):
            await conn.send({"op": op, "d": d})

    async def close_all(self, code: int = 4000, *, shard_id: int | None = None) -> None:
        for conn in self._connections(shard_id):
            conn.closed_by_server = True
            with contextlib.suppress(Exception):
                await conn.ws.close(code=code, message=b"stand-in closing")

    # ------------------------------------------------------------------ handler

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.refusing:
            self.refused_connects += 1
            self.world.notify()
            return web.Response(status=503, text="gateway unavailable (stand-in outage)")
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        query = request.query
        compress = query.get("compress")
        self.connects.append(dict(query))
        self.world.notify()
        if query.get("encoding", "json") != "json":
            await ws.close(code=4002, message=b"Only encoding=json is supported by the stand-in")
            return ws
        if compress not in (None, "zlib-stream", "zstd-stream"):
            await ws.close(code=4000, message=b"Unknown compress value")
            return ws
        if compress == "zstd-stream" and zstandard is None:
            await ws.close(code=4000, message=b"zstd-stream needs the zstandard package")
            return ws
        if query.get("v") not in (None, "10"):
            await ws.close(code=4012, message=b"Invalid API version")
            return ws
        conn = GatewayConnection(ws, compress)
        self.connections.append(conn)
        try:
            await conn.send(
                {
                    "op": OP_HELLO,
                    "d": {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["stand-in"]},
                    "s": None,
                    "t": None,
                }
            )
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    if msg.type == WSMsgType.BINARY:
                        await ws.close(code=4002, message=b"Binary payloads are not accepted")
                    continue
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                await self._on_op(conn, payload)
        finally:
            self.connections.remove(conn)
            session = conn.session
            if session is not None and session.connection is conn:
                session.connection = None
                if ws.close_code in (1000, 1001) and not conn.closed_by_server:
                    # A clean close by the client ends the session, as on Discord.
                    self.sessions.pop(session.session_id, None)
            self.world.notify()
        return ws

    async def _on_op(self, conn: GatewayConnection, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        d = payload.get("d")
        if op == OP_HEARTBEAT:
            await conn.send({"op": OP_HEARTBEAT_ACK})
        elif op == OP_IDENTIFY:
            await self._identify(conn, d or {})
        elif op == OP_RESUME:
            await self._resume(conn, d or {})
        elif op == OP_REQUEST_MEMBERS:
            await self._request_members(conn, d or {})
        elif op in (OP_PRESENCE, OP_VOICE_STATE):
            pass
        else:
            await conn.ws.close(code=4001, message=b"Unknown opcode.")
        self.world.notify()

    async def _identify(self, conn: GatewayConnection, d: dict[str, Any]) -> None:
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated.")
            return
        if d.get("token") != self.world.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = d.get("intents")
        if not isinstance(intents, int):
            await conn.ws.close(code=4013, message=b"Invalid intent(s).")
            return
        shard = d.get("shard", [0, 1])
        if (
            not isinstance(shard, list)
            or len(shard) != 2
            or not all(type(n) is int for n in shard)
            or shard[1] < 1
            or not 0 <= shard[0] < shard[1]
        ):
            await conn.ws.close(code=4010, message=b"Invalid shard.")
            return
        session = GatewaySession(
            session_id=secrets.token_hex(16),
            intents=intents,
            shard=(shard[0], shard[1]),
        )
        world = self.world
        guild_ids = [g.id for g in world.guild_specs if session.holds(g.id)]
        if self.max_guilds_per_shard is not None and len(guild_ids) > self.max_guilds_per_shard:
            await conn.ws.close(code=4011, message=b"Sharding required.")
            return
        self.identify_count += 1
        self._identify_times.append(time.monotonic())
        self.sessions[session.session_id] = session
        session.connection = conn
        conn.session = session
        ready: dict[str, Any] = {
            "v": 10,
            "user": {**world.bot_user.payload(), "verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(gid), "unavailable": True} for gid in guild_ids],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.url(),
            "application": {"id": str(world.app_id), "flags": world.application_flags},
            "private_channels": [],
            "_trace": ["stand-in"],
        }
        if "shard" in d:
            ready["shard"] = list(session.shard)
        session.identified = True
        await self._send_dispatch(session, "READY", ready)
        for gid in guild_ids:
            all_members = bool(intents & INTENT_GUILD_PRESENCES)
            guild = world.guild_create_payload(gid, all_members=all_members)
            await self._send_dispatch(session, "GUILD_CREATE", guild)
        session.guilds_sent = True

    async def _resume(self, conn: GatewayConnection, d: dict[str, Any]) -> None:
        if d.get("token") != self.world.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        session = self.sessions.get(str(d.get("session_id")))
        seq = d.get("seq")
        if (
            session is None
            or not isinstance(seq, int)
            or (session.sent and seq < session.sent[0][0] - 1)
        ):
            # Not resumable: discord.py answers op 9 d=false with a fresh IDENTIFY.
            await conn.send({"op": OP_INVALID_SESSION, "d": False})
            return
        old = session.connection
        if old is not None and old is not conn:
            old.closed_by_server = True
            with contextlib.suppress(Exception):
                await old.ws.close(code=4000)
        session.connection = conn
        conn.session = session
        self.resume_count += 1
        for frame_seq, frame in list(session.sent):
            if frame_seq > seq:
                await conn.send(frame)
        await self._send_dispatch(session, "RESUMED", {"_trace": ["stand-in"]})

    async def _request_members(self, conn: GatewayConnection, d: dict[str, Any]) -> None:
        session = conn.session
        if session is None:
            await conn.ws.close(code=4003, message=b"Not authenticated.")
            return
        raw: Any = d.get("guild_id")
        guild_ids: list[Any] = raw if isinstance(raw, list) else [raw]
        for gid in guild_ids:
            guild_id = int(gid)
            if guild_id not in self.world.guilds or not session.holds(guild_id):
                continue  # Discord answers only for the session's own guilds
            members = self.world.member_payloads(guild_id)
            query = d.get("query")
            if query:
                members = [m for m in members if m["user"]["username"].startswith(query)]
            limit = d.get("limit") or 0
            if limit:
                members = members[:limit]
            chunk: dict[str, Any] = {
                "guild_id": str(guild_id),
                "members": members,
                "chunk_index": 0,
                "chunk_count": 1,
            }
            if d.get("presences"):
                chunk["presences"] = []
            if d.get("nonce") is not None:
                chunk["nonce"] = d["nonce"]
            await self._send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    async def guild_joined(self, guild_id: int) -> int:
        """The bot was added to a guild: GUILD_CREATE to the sessions holding it, without
        `unavailable` (one listed in READY carries `unavailable: false`; discord.py tells
        `on_guild_join` from `on_guild_available` by that)."""

        def payload(session: GatewaySession, _: dict[str, Any]) -> dict[str, Any]:
            all_members = bool(session.intents & INTENT_GUILD_PRESENCES)
            data = self.world.guild_create_payload(guild_id, all_members=all_members)
            data.pop("unavailable", None)
            return data

        return await self.dispatch("GUILD_CREATE", {}, transform=payload, guild_id=guild_id)
