"""Gateway half of the Discord stand-in: one WebSocket endpoint speaking gateway v10.

HELLO -> (heartbeat -> ACK) -> IDENTIFY -> READY + GUILD_CREATE per guild, RESUME with
replay of missed dispatches, REQUEST_GUILD_MEMBERS -> GUILD_MEMBERS_CHUNK, and test controls
to send RECONNECT (op 7), INVALID_SESSION (op 9) or drop the connection.

Compression: `compress=zlib-stream` gets one zlib compressor for the whole connection and a
Z_SYNC_FLUSH after every frame (what discord.py's decompressor waits for); `zstd-stream` is
served when the `zstandard` package is importable, else refused with close code 4000.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from .discord import DiscordStandIn

log = logging.getLogger(__name__)

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
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15

REPLAY_BUFFER = 2000


@dataclass
class GatewaySession:
    """One identified session; survives reconnects that RESUME it."""

    session_id: str
    intents: int
    shard: tuple[int, int] | None
    identify: dict[str, Any]
    seq: int = 0
    sent: list[tuple[int, str]] = field(default_factory=list)  # (seq, frame json) for replay
    connection: GatewayConnection | None = None
    identified: bool = False  # READY sent: dispatches may flow
    guilds_sent: bool = False  # READY and every GUILD_CREATE sent
    resumes: int = 0

    def covers(self, guild_id: int | None) -> bool:
        if self.shard is None or guild_id is None:
            return self.shard is None or self.shard[0] == 0
        shard_id, count = self.shard
        return (guild_id >> 22) % count == shard_id


class GatewayConnection:
    """A WebSocket plus its compressor; frames go out in order under one lock."""

    def __init__(self, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self.compress = compress
        self.lock = asyncio.Lock()
        self.session: GatewaySession | None = None
        self.frames_sent = 0
        self.closed_by_server = False
        if compress == "zlib-stream":
            self._zlib = zlib.compressobj()
        elif compress == "zstd-stream":
            import zstandard  # type: ignore[import-not-found]

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
                import zstandard  # type: ignore[import-not-found]

                frame = self._zstd.compress(text.encode()) + self._zstd.flush(
                    zstandard.COMPRESSOBJ_FLUSH_BLOCK
                )
                await self.ws.send_bytes(frame)
            else:
                await self.ws.send_str(text)
            self.frames_sent += 1


class Gateway:
    def __init__(self, dc: DiscordStandIn, heartbeat_interval_ms: int) -> None:
        self.dc = dc
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: list[GatewayConnection] = []
        self.received: list[dict[str, Any]] = []  # every op the bot sent (token redacted)
        self.connects: list[dict[str, str]] = []  # query of every connection attempt
        self.identify_count = 0
        self.resume_count = 0
        self.heartbeats = 0

    # ------------------------------------------------------------------ helpers

    def connected_sessions(self) -> list[GatewaySession]:
        return [
            s
            for s in self.sessions.values()
            if s.connection is not None and not s.connection.ws.closed and s.guilds_sent
        ]

    def session_for(self, guild_id: int | None) -> GatewaySession | None:
        for session in self.connected_sessions():
            if session.covers(guild_id):
                return session
        return None

    async def dispatch(
        self,
        event: str,
        data: dict[str, Any],
        *,
        guild_id: int | None = None,
        intent: int | None = None,
        transform: Callable[[GatewaySession, dict[str, Any]], dict[str, Any]] | None = None,
        only: GatewaySession | None = None,
    ) -> int:
        """Send a DISPATCH to every session that covers `guild_id` and has `intent`.

        Sessions that are disconnected but resumable buffer the event for replay.
        Returns how many sessions got (or buffered) it.
        """
        count = 0
        targets = [only] if only is not None else list(self.sessions.values())
        for session in targets:
            if not session.identified or not session.covers(guild_id):
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

    # ------------------------------------------------------------------ test controls

    async def send_op(self, op: int, d: Any = None) -> None:
        for conn in list(self.connections):
            await conn.send({"op": op, "d": d})

    async def close_all(self, code: int = 4000) -> None:
        for conn in list(self.connections):
            conn.closed_by_server = True
            with contextlib.suppress(Exception):
                await conn.ws.close(code=code, message=b"stand-in closing")

    # ------------------------------------------------------------------ handler

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        query = request.query
        compress = query.get("compress")
        self.connects.append(dict(query))
        self.dc._notify()
        if query.get("encoding", "json") != "json":
            await ws.close(code=4002, message=b"Only encoding=json is supported by the stand-in")
            return ws
        if compress not in (None, "zlib-stream", "zstd-stream"):
            await ws.close(code=4000, message=b"Unknown compress value")
            return ws
        if compress == "zstd-stream":
            try:
                import zstandard  # type: ignore[import-not-found]  # noqa: F401
            except ImportError:
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
            self.dc._notify()
        return ws

    async def _on_op(self, conn: GatewayConnection, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        d = payload.get("d")
        recorded = dict(payload)
        if op in (OP_IDENTIFY, OP_RESUME) and isinstance(d, dict):
            recorded["d"] = {**d, "token": "<redacted>"}
        self.received.append(recorded)
        if op == OP_HEARTBEAT:
            self.heartbeats += 1
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
        self.dc._notify()

    async def _identify(self, conn: GatewayConnection, d: dict[str, Any]) -> None:
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated.")
            return
        if d.get("token") != self.dc.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = d.get("intents")
        if not isinstance(intents, int):
            await conn.ws.close(code=4013, message=b"Invalid intent(s).")
            return
        shard = d.get("shard")
        session = GatewaySession(
            session_id=secrets.token_hex(16),
            intents=intents,
            shard=(int(shard[0]), int(shard[1])) if shard else None,
            identify={k: v for k, v in d.items() if k != "token"},
        )
        self.identify_count += 1
        self.sessions[session.session_id] = session
        session.connection = conn
        conn.session = session
        guild_ids = [g.id for g in self.dc.guild_specs if session.covers(g.id)]
        ready: dict[str, Any] = {
            "v": 10,
            "user": {**self.dc.bot_user.payload(), "verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(gid), "unavailable": True} for gid in guild_ids],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.dc.gateway_url,
            "application": {"id": str(self.dc.app_id), "flags": self.dc.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "_trace": ["stand-in"],
        }
        if session.shard is not None:
            ready["shard"] = list(session.shard)
        session.identified = True
        await self._send_dispatch(session, "READY", ready)
        for gid in guild_ids:
            await self._send_dispatch(
                session, "GUILD_CREATE", self.dc._guild_create_payload(gid, intents)
            )
        session.guilds_sent = True

    async def _resume(self, conn: GatewayConnection, d: dict[str, Any]) -> None:
        if d.get("token") != self.dc.token:
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
        session.resumes += 1
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
        raw = d.get("guild_id")
        guild_ids = raw if isinstance(raw, list) else [raw]
        for gid in guild_ids:
            guild_id = int(gid)
            members = self.dc._member_payloads(guild_id)
            query = d.get("query")
            user_ids = d.get("user_ids")
            not_found: list[str] = []
            if user_ids is not None:
                wanted = {str(u) for u in (user_ids if isinstance(user_ids, list) else [user_ids])}
                members = [m for m in members if m["user"]["id"] in wanted]
                not_found = sorted(wanted - {m["user"]["id"] for m in members})
            elif query:
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
            if not_found:
                chunk["not_found"] = not_found
            if d.get("presences"):
                chunk["presences"] = []
            if d.get("nonce") is not None:
                chunk["nonce"] = d["nonce"]
            await self._send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)
