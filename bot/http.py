"""The bot's own HTTP server: MusicGPT's webhooks, /livez, /readyz (and /healthz, its alias),
/metrics.

/livez answers 200 while the event loop runs: restart the process when it doesn't. /readyz
answers 200 only when the bot can do its job *now*: connected to Discord's gateway at this
moment (not "was ready once": discord.py's `is_ready()` stays true through reconnects), the
database answering (within DATABASE_SECONDS), room on the disk, MusicGPT not failing
persistently (one failed call is not an outage) and its key not refused. Otherwise 503, with
the failing checks named. Run as one of several processes (docs/scaling.md), it also says
which database it uses and which gateway shards it holds, each connected or not; a process
is connected to Discord only while every shard it holds is.

MusicGPT signs nothing, so the long random secret in the path is the only gate, compared in
constant time. Even past the gate a payload is only a hint: the tracker confirms with
`byId` before anything is posted, so a forged body can't make the bot fetch or post a thing.

The port may face the internet, and every connection costs a file descriptor the bot also
needs for Discord, MusicGPT and its database. So no connection lingers: aiohttp's web server
has no header-read timeout of its own (its `slow_request_timeout` went in 2.0, and until 3.14
a connection that never sent a request was never closed), so `BoundedConnection` gives each
new connection HEAD_SECONDS to finish its request's headers; after a response aiohttp's
keep-alive timer (KEEPALIVE_SECONDS, not its default of an hour) bounds the wait for the next
one; a webhook body must arrive within BODY_SECONDS; and at most MAX_CONNECTIONS are open at
once, more are closed as they come.

/metrics (Prometheus' text format, bot/core/metrics.py) says how much the bot is used and how
MusicGPT and Discord behave: nobody's business on the internet. So with METRICS_TOKEN set it
asks for `Authorization: Bearer <token>`, from anywhere; without one it answers only while
nothing outside this machine can reach it: the server bound to a loopback address
(127.0.0.1, ::1, localhost) and no PUBLIC_BASE_URL (whose proxy or tunnel would carry
/metrics out too). Bound to 0.0.0.0 (compose's default), a LAN address or a name, it answers
403. Not by the peer's address: behind a reverse proxy or Docker's port forwarding every
request comes from a local address.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import cast

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.core.metrics import Metrics
from bot.core.tracker import Tracker

log = logging.getLogger(__name__)

WEBHOOK_PREFIX = "/musicgpt"
MAX_BODY_BYTES = 256 * 1024  # a webhook is a few KB of JSON; anything bigger is not one
# Our task ids are SQLite rowids: ASCII digits only (`int()` would also take Arabic-Indic or
# fullwidth digits, "+1" and "1_0"), and 18 of them stay below 2**63.
TASK_ID = re.compile(r"[0-9]{1,18}")

HEAD_SECONDS = 5.0  # from connecting to the end of the request's headers
KEEPALIVE_SECONDS = 5.0  # idle between requests on one connection
BODY_SECONDS = 10.0  # reading a webhook's body (256 KB at most)
LINGER_SECONDS = 2.0  # reading and dropping a body we answered without reading
MAX_CONNECTIONS = 64  # open at once; MusicGPT sends a few webhooks per task
DATABASE_SECONDS = 2.0  # for the database to answer /readyz's check (the probe gives up at 3)


def webhook_base_url(public_base_url: str, secret: str) -> str:
    """What the tracker appends `/<task id>` to when it hands MusicGPT a `webhook_url`."""
    return f"{public_base_url.rstrip('/')}{WEBHOOK_PREFIX}/{secret}"


def _always_ok() -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Health:
    # Connected to the gateway now (tracked from discord.py's connect/disconnect events).
    discord_connected: Callable[[], bool]
    database_ok: Callable[[], Awaitable[bool]]
    # False when the disk is too full to take new audio.
    disk_ok: Callable[[], bool] = field(default=_always_ok)
    # Which database database_ok asks: "sqlite" or "postgresql" (never where it is).
    database: str = "sqlite"
    # The gateway shards this process holds (SHARD_IDS), each with whether it is connected
    # now, and how many there are in all (SHARD_COUNT); the Bot fills it. None: unsharded,
    # shown as shard 0 of 1.
    shards: Callable[[], Mapping[int, bool]] | None = None
    shard_count: int = 1


class BoundedConnection(asyncio.Protocol):
    """aiohttp's protocol for one connection, with a deadline for the request's headers.

    Everything is passed through to aiohttp's `RequestHandler`; this only watches the bytes
    for the blank line that ends the headers and closes the connection if it hasn't come
    HEAD_SECONDS after connecting (a client dribbling its headers a byte at a time, or sending
    nothing at all). Later requests on a kept-alive connection are aiohttp's keep-alive
    timer's to bound: it closes a connection still waiting for a request when it fires.
    """

    def __init__(self, inner: asyncio.Protocol, open_connections: set[BoundedConnection]):
        self._inner = inner
        self._open = open_connections
        self._transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._tail = b""  # the last bytes seen, for a blank line split across reads
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # a TCP server's always is one
        if len(self._open) >= MAX_CONNECTIONS:
            self._refused = True
            log.debug("refused a connection: %d already open", len(self._open))
            self._transport.abort()
            return
        self._open.add(self)
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(HEAD_SECONDS, self._expire)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._deadline is not None:
            # Empty lines before a request line are skipped by HTTP parsers: they don't count.
            seen = data if self._tail else data.lstrip(b"\r\n")
            window = self._tail + seen  # a copy, but only until the headers are in
            # "\n\r\n" or "\n\n": a line ending, then an empty line (llhttp takes bare LFs).
            if b"\n\r\n" in window or b"\n\n" in window:
                self._deadline.cancel()
                self._deadline = None
            elif seen:
                self._tail = window[-2:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._open.discard(self)
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._inner.connection_lost(exc)

    def _expire(self) -> None:
        self._deadline = None
        if self._transport is not None and not self._transport.is_closing():
            log.debug("closed a connection that sent no complete request in %g s", HEAD_SECONDS)
            self._transport.close()


def is_loopback(host: str) -> bool:
    """Whether listening on `host` keeps the port on this machine (127.0.0.0/8, ::1,
    "localhost"); 0.0.0.0, "::", another address or any other name does not."""
    if host.strip().lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def metrics_public(host: str, *, webhooks: bool) -> bool:
    """Whether /metrics could be reached from outside this machine (see the module's text)."""
    return webhooks or not is_loopback(host)


@dataclass(frozen=True, slots=True)
class MetricsAccess:
    """Who may GET /metrics: the holders of `token` when there is one, else anyone while
    the port is `public` is False, else no one."""

    token: str | None = field(default=None, repr=False)
    public: bool = False

    def allows(self, authorization: str | None) -> bool:
        if self.token is None:
            return not self.public
        expected = f"Bearer {self.token}".encode()
        return hmac.compare_digest((authorization or "").encode(), expected)


class HttpServer:
    def __init__(
        self,
        tracker: Tracker,
        secret: str,
        health: Health,
        *,
        host: str,
        port: int,
        metrics: Metrics | None = None,
        metrics_access: MetricsAccess | None = None,
    ) -> None:
        self._tracker = tracker
        self._metrics = metrics
        self._metrics_access = metrics_access or MetricsAccess()
        self._secret = secret.encode()
        self._health = health
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self._connections: set[BoundedConnection] = set()
        self.app = web.Application(client_max_size=MAX_BODY_BYTES)
        route = WEBHOOK_PREFIX + "/{secret}/{task_id:" + TASK_ID.pattern + "}"
        self.app.router.add_post(route, self._webhook)
        self.app.router.add_get("/livez", self._livez)
        self.app.router.add_get("/readyz", self._readyz)
        # The name older set-ups (and the Docker HEALTHCHECK) ask: the same as /readyz.
        self.app.router.add_get("/healthz", self._readyz)
        self.app.router.add_get("/metrics", self._serve_metrics)

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        if self._listener is None or not self._listener.sockets:
            return self._port
        return int(self._listener.sockets[0].getsockname()[1])

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    async def start(self) -> None:
        runner = web.AppRunner(
            self.app,
            access_log=None,
            keepalive_timeout=KEEPALIVE_SECONDS,
            lingering_time=LINGER_SECONDS,
        )
        await runner.setup()
        self._runner = runner
        # Our own listener instead of a web.TCPSite, to put BoundedConnection in front of
        # aiohttp's protocol; `runner.server` is the factory a TCPSite would use.
        make_handler = runner.server
        if make_handler is None:  # pragma: no cover - setup() just made it
            raise RuntimeError("aiohttp's runner has no server after setup()")
        try:
            self._listener = await asyncio.get_running_loop().create_server(
                lambda: BoundedConnection(make_handler(), self._connections),
                self._host,
                self._port,
            )
        except OSError:
            await self.stop()
            raise
        log.info("webhook receiver listening on %s:%s", self._host, self.port)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
        if self._runner is not None:
            await self._runner.cleanup()  # closes the open connections
            self._runner = None
        if self._listener is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._listener.wait_closed(), 5)
            self._listener = None

    async def _webhook(self, request: web.Request) -> web.Response:
        given = request.match_info["secret"].encode()
        if not hmac.compare_digest(given, self._secret):
            raise web.HTTPNotFound()
        raw_id = request.match_info["task_id"]
        if not TASK_ID.fullmatch(raw_id):  # the route says so too; the int() below relies on it
            raise web.HTTPNotFound()
        try:
            async with asyncio.timeout(BODY_SECONDS):
                body = await request.read()
        except TimeoutError:
            return web.json_response({"ok": False, "error": "body too slow"}, status=408)
        try:
            # orjson: strict UTF-8, and a nesting limit (1024) instead of a RecursionError.
            payload = orjson.loads(body)
        except (ValueError, RecursionError):
            return web.json_response({"ok": False, "error": "expected JSON"}, status=400)
        if not isinstance(payload, dict):
            return web.json_response({"ok": False, "error": "expected an object"}, status=400)
        # Only database work happens here: the answer goes back in milliseconds.
        await self._tracker.handle_webhook(int(raw_id), payload)
        return web.json_response({"ok": True})

    async def _livez(self, request: web.Request) -> web.Response:
        """The process serves: nothing else is asked, so a Discord outage never restarts it."""
        return web.json_response({"ok": True})

    async def _serve_metrics(self, request: web.Request) -> web.Response:
        if self._metrics is None:
            raise web.HTTPNotFound()
        access = self._metrics_access
        if not access.allows(request.headers.get("Authorization")):
            if access.token is None:
                return web.json_response(
                    {
                        "ok": False,
                        "error": "set METRICS_TOKEN to serve /metrics on a port other machines "
                        "can reach",
                    },
                    status=403,
                )
            return web.json_response(
                {"ok": False, "error": "bearer token required"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        # A few KB; the database part is two indexed counts, cached for a second.
        body = await self._metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _readyz(self, request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(DATABASE_SECONDS):
                database_ok = bool(await self._health.database_ok())
        except Exception:  # TimeoutError included: a database that doesn't answer isn't ok
            database_ok = False
        try:
            disk_ok = bool(self._health.disk_ok())
        except Exception:
            log.exception("the disk check failed")
            disk_ok = False
        connected = bool(self._health.discord_connected())
        if self._health.shards is None:
            shards = {0: connected}
        else:
            shards = dict(self._health.shards())
            connected = connected and all(shards.values())
        musicgpt = self._tracker.health
        checks = {
            "discord_connected": connected,
            "database_ok": database_ok,
            "disk_ok": disk_ok,
            # Several failed calls in a row, or none through for a while; not just one.
            "musicgpt_reachable": musicgpt.reachable,
            # Refused at the start-up check or by a later call; unknown counts as fine.
            "musicgpt_key": musicgpt.key_accepted is not False,
        }
        failing = [name for name, ok in checks.items() if not ok]
        body: dict[str, object] = {"ok": not failing, **checks, "failing": failing}
        body["musicgpt_last_contact"] = musicgpt.last_contact
        body["musicgpt_consecutive_failures"] = musicgpt.consecutive_failures
        body["database"] = self._health.database
        body["shard_count"] = self._health.shard_count
        body["shards"] = sorted(shards)
        body["shards_connected"] = sorted(shard for shard, up in shards.items() if up)
        body.update(await self._tracker.musicgpt_limits(read=database_ok))
        return web.json_response(body, status=503 if failing else 200)
