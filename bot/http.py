"""The bot's own HTTP server: MusicGPT's webhooks and the health check.

MusicGPT signs nothing, so the long random secret in the path is the only gate, compared in
constant time. Even past the gate a payload is only a hint: the tracker confirms with
`byId` before anything is posted, so a forged body can't make the bot fetch or post a thing.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from bot.tracker import Tracker

log = logging.getLogger(__name__)

WEBHOOK_PREFIX = "/musicgpt"
MAX_BODY_BYTES = 256 * 1024  # a webhook is a few KB of JSON; anything bigger is not one


def webhook_base_url(public_base_url: str, secret: str) -> str:
    """What the tracker appends `/<task id>` to when it hands MusicGPT a `webhook_url`."""
    return f"{public_base_url.rstrip('/')}{WEBHOOK_PREFIX}/{secret}"


@dataclass(frozen=True, slots=True)
class Health:
    discord_connected: Callable[[], bool]
    database_ok: Callable[[], Awaitable[bool]]


class HttpServer:
    def __init__(
        self, tracker: Tracker, secret: str, health: Health, *, host: str, port: int
    ) -> None:
        self._tracker = tracker
        self._secret = secret.encode()
        self._health = health
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.app = web.Application(client_max_size=MAX_BODY_BYTES)
        self.app.router.add_post(WEBHOOK_PREFIX + "/{secret}/{task_id}", self._webhook)
        self.app.router.add_get("/healthz", self._healthz)

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        if self._runner is None or not self._runner.addresses:
            return self._port
        return int(self._runner.addresses[0][1])

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        log.info("webhook receiver listening on %s:%s", self._host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _webhook(self, request: web.Request) -> web.Response:
        given = request.match_info["secret"].encode()
        if not hmac.compare_digest(given, self._secret):
            raise web.HTTPNotFound()
        try:
            task_id = int(request.match_info["task_id"])
            payload = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return web.json_response({"ok": False, "error": "expected JSON"}, status=400)
        if not isinstance(payload, dict):
            return web.json_response({"ok": False, "error": "expected an object"}, status=400)
        # Only database work happens here: the answer goes back in milliseconds.
        await self._tracker.handle_webhook(task_id, payload)
        return web.json_response({"ok": True})

    async def _healthz(self, request: web.Request) -> web.Response:
        try:
            database_ok = await self._health.database_ok()
        except Exception:
            database_ok = False
        reachable = self._tracker.health.reachable
        checks = {
            "discord_connected": self._health.discord_connected(),
            "database_ok": database_ok,
            # Not having needed MusicGPT yet is not a failure; the last call failing is.
            "musicgpt_reachable": reachable is not False,
        }
        healthy = all(checks.values())
        body: dict[str, object] = {"ok": healthy, **checks}
        body["musicgpt_last_contact"] = self._tracker.health.last_contact
        return web.json_response(body, status=200 if healthy else 503)
