"""The playground's page and its JSON API, in the same event loop as the stand-ins.

Every endpoint is a thin call into the stand-ins' Python API (the calls the e2e tests make):
`invoke_command`, `click`, `submit_modal`, `add_attachment`, MusicGPT's knobs. The page
polls GET /api/state and renders the Discord stand-in's own records of what the bot sent.

Only the page itself may drive it: every request must name the playground's own Host
(127.0.0.1:PORT or localhost:PORT; a DNS-rebound name is refused), and every POST must be
JSON (which a foreign page can't send without a CORS preflight, never answered) with no
Origin but its own. Files travel inside the JSON, base64-encoded.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import socket
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from tests.standins.discord import StoredMessage
from tests.standins.discord.api import InteractionHandle
from tests.support.world import World

STATIC = Path(__file__).resolve().parent / "static"
# A command's first answer (a modal, a reply, a defer) comes within Discord's 3 s.
CALLBACK_WAIT = 8.0
OPTION_TYPES = {3: "string", 4: "integer", 5: "boolean", 6: "user", 7: "channel", 8: "role"}
OPTION_TYPES |= {9: "mentionable", 10: "number", 11: "attachment"}
# Uploads come base64-encoded in JSON: a 64 MB file is about 86 MB of request.
MAX_REQUEST = 96 * 1024 * 1024


# What the page offers (app.js's LOCALES): Discord's locale strings.
PLAYGROUND_LOCALES = frozenset({"en-US", "es-ES", "es-419", "pt-BR", "de", "fr", "ja", "ko"})


class PlaygroundServer:
    def __init__(self, w: World) -> None:
        self.w = w
        # Interactions whose answer was a modal, until the member submits or closes it.
        self.modals: dict[int, InteractionHandle] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ---------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST, middlewares=[self._same_origin])
        app.router.add_get("/", self._index)
        app.router.add_get("/api/state", self._state)
        app.router.add_post("/api/upload", self._upload)
        app.router.add_post("/api/command", self._command)
        app.router.add_post("/api/click", self._click)
        app.router.add_post("/api/select", self._select)
        app.router.add_post("/api/post", self._post)
        app.router.add_post("/api/message-command", self._message_command)
        app.router.add_post("/api/modal", self._modal)
        app.router.add_post("/api/musicgpt", self._musicgpt)
        app.router.add_post("/api/guild-locale", self._guild_locale)
        app.router.add_static("/static/", STATIC)
        return app

    async def start(self, sock: socket.socket) -> None:
        """Serve on `sock`, already bound (to 127.0.0.1) and listening."""
        self.port = int(sock.getsockname()[1])
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _same_origin(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The page's own requests only: its Host, its Origin, JSON bodies (module doc)."""
        own = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        if request.host not in own:
            return _forbidden(403, f"the playground answers only at 127.0.0.1:{self.port}")
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("Origin")
            if origin is not None and origin not in {f"http://{host}" for host in own}:
                return _forbidden(403, "cross-site requests are refused")
            if request.content_type != "application/json":
                return _forbidden(415, "send JSON (Content-Type: application/json)")
        return await handler(request)

    # --- reading -----------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _state(self, request: web.Request) -> web.Response:
        dc = self.w.dc
        user_id = int(request.query.get("user") or self.w.alice.id)
        channels = [
            {"id": str(cid), "name": dc.channel(cid).name, "kind": "text"}
            for cid in dc.channel_ids()
        ]
        channels += [
            {"id": str(t.id), "name": t.name, "kind": "thread", "parent": str(t.parent_id)}
            for t in dc.threads()
        ]
        dm = dc.dm_channel(user_id)
        channels.append({"id": str(dm.id), "name": "DM with the bot", "kind": "dm"})
        channel_id = int(request.query.get("channel") or dc.channel_id)
        messages = [
            self._message(m)
            for m in dc.messages(channel_id)
            if not m.ephemeral or self._owner(m) == user_id
        ]
        mg = self.w.mg
        return web.json_response(
            {
                "users": self._users(),
                "channels": channels,
                "commands": self._commands(),
                "message_commands": self._message_commands(),
                "messages": messages,
                "names": self._names(),
                "guild_locale": dc.guild().locale,
                "musicgpt": {
                    "delay": mg.delay,
                    "webhooks_enabled": mg.webhooks_enabled,
                    "fail_next": len(mg._scripted_failures),
                    "webhooks_sent": len(mg.webhook_deliveries),
                },
            }
        )

    def _owner(self, message: StoredMessage) -> int | None:
        rec = self.w.dc.world.interactions.get(message.interaction_id or 0)
        return rec.user_id if rec is not None else None

    def _users(self) -> list[dict[str, Any]]:
        notes = {"alice": "owner", "bob": "member", "carol": "Manage Messages", "dave": "Singers"}
        return [
            {"id": str(u.id), "name": u.username, "note": notes.get(u.username, "")}
            for u in self.w.users
        ]

    def _names(self) -> dict[str, str]:
        """Mention targets by id: users, roles and channels (the page renders <@id>)."""
        dc = self.w.dc
        names = {str(u.id): u.username for u in dc.users.values()}
        names |= {f"&{rid}": name for name, rid in self.w.role_ids.items()}
        names |= {f"#{cid}": dc.channel(cid).name for cid in dc.channel_ids()}
        names |= {f"#{t.id}": t.name for t in dc.threads()}
        return names

    def _commands(self) -> list[dict[str, Any]]:
        """Slash commands flattened to what a member types: "settings view", with options."""
        found: list[dict[str, Any]] = []
        dc = self.w.dc
        seen: set[str] = set()
        for command in [*dc.commands(dc.guild_id), *dc.commands(None)]:
            if command.get("type", 1) != 1 or command["name"] in seen:
                continue
            seen.add(command["name"])
            _flatten(command["name"], command, found)
        return sorted(found, key=lambda c: c["name"])

    def _message_commands(self) -> list[str]:
        """The message menus (Apps → ...), type-3 commands, by name."""
        dc = self.w.dc
        names = [
            c["name"] for c in [*dc.commands(dc.guild_id), *dc.commands(None)] if c.get("type") == 3
        ]
        return sorted(set(names))

    def _message(self, m: StoredMessage) -> dict[str, Any]:
        return {
            "id": str(m.id),
            "author": m.author.get("username", "?"),
            "bot": bool(m.author.get("bot")),
            "content": m.content,
            "embeds": m.embeds,
            "components": m.components,
            "attachments": [
                {"filename": a.filename, "url": a.url, "content_type": a.content_type or ""}
                for a in m.attachments
            ],
            "reply_to": str((m.message_reference or {}).get("message_id") or ""),
            "edited": bool(m.edits),
            "ephemeral": m.ephemeral,
            "thread_id": str(m.thread_id or ""),
        }

    # --- acting ------------------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.Response:
        try:
            [(filename, data)] = _files(await request.json())
        except ValueError as error:
            return _refused(f"one file, please ({error})")
        attachment = self.w.dc.add_attachment(filename, data)
        return web.json_response({"id": str(attachment["id"]), "filename": filename})

    async def _command(self, request: web.Request) -> web.Response:
        body = await request.json()
        options = dict(body.get("options") or {})
        channel = int(body["channel_id"])
        kwargs: dict[str, Any] = {"user_id": int(body["user_id"]), "locale": _locale(body)}
        if channel == self.w.dc.dm_channel(kwargs["user_id"]).id:
            kwargs["dm"] = True
        else:
            kwargs["channel_id"] = channel
        return await self._run(self.w.dc.invoke_command(body["name"], options, **kwargs))

    async def _click(self, request: web.Request) -> web.Response:
        body = await request.json()
        message = self.w.dc.message(int(body["message_id"]))
        user_id = int(body["user_id"])
        click = self.w.dc.click(message, body["custom_id"], user_id=user_id, locale=_locale(body))
        return await self._run(click)

    async def _select(self, request: web.Request) -> web.Response:
        """A pick in a message's select menu (/queue's cancel menu, say)."""
        body = await request.json()
        message = self.w.dc.message(int(body["message_id"]))
        values = [str(v) for v in body.get("values") or []]
        picked = self.w.dc.select(message, body["custom_id"], values, user_id=int(body["user_id"]))
        return await self._run(picked)

    async def _post(self, request: web.Request) -> web.Response:
        """A member posts a message (text and/or files) in the channel, as in Discord."""
        body = await request.json()
        try:
            files = dict(_files(body))
        except ValueError as error:
            return _refused(str(error))
        content = str(body.get("content") or "")
        if not content.strip() and not files:
            return _refused("an empty message: type something or attach a file")
        try:
            await self.w.dc.post_user_message(
                content,
                channel_id=int(body["channel_id"]),
                user_id=int(body["user_id"]),
                files=files,
            )
        except (LookupError, ValueError) as error:
            return _refused(str(error))
        return web.json_response({"ok": True})

    async def _message_command(self, request: web.Request) -> web.Response:
        body = await request.json()
        message = self.w.dc.message(int(body["message_id"]))
        user_id = int(body["user_id"])
        invoked = self.w.dc.invoke_message_command(
            body["name"], message, user_id=user_id, locale=_locale(body)
        )
        return await self._run(invoked)

    async def _modal(self, request: web.Request) -> web.Response:
        body = await request.json()
        handle = self.modals.pop(int(body["interaction_id"]), None)
        if handle is None:
            return _refused("that form is closed")
        values = {k: v for k, v in dict(body["values"]).items() if v not in ("", [])}
        return await self._run(handle.submit_modal(values, user_id=int(body["user_id"])))

    async def _run(self, started: Any) -> web.Response:
        """Await an interaction and its first answer; a modal goes back to the page."""
        try:
            handle: InteractionHandle = await started
        except (LookupError, PermissionError, ValueError, TypeError) as error:
            return _refused(self._named(_not_offered(error)))
        callback = None
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
            callback = await handle.wait_callback(CALLBACK_WAIT)
        if callback is None:
            return web.json_response({"ok": True, "note": "the bot did not answer"})
        if callback.type == 9 and callback.modal is not None:
            self.modals[handle.id] = handle
            return web.json_response(
                {
                    "ok": True,
                    "modal": {
                        "interaction_id": str(handle.id),
                        "title": callback.modal.get("title", ""),
                        "fields": [asdict(f) for f in handle.modal_fields()],
                    },
                }
            )
        return web.json_response({"ok": True})

    def _named(self, text: str) -> str:
        """The stand-in's refusals name users by id; the page knows them by name."""
        for user in self.w.dc.users.values():
            text = text.replace(f"user {user.id}", user.username)
        return text

    async def _guild_locale(self, request: web.Request) -> web.Response:
        """The server's Discord language: every interaction from now on says it
        (`guild_locale`), as after an owner changed it in Server Settings."""
        locale = _locale({"locale": (await request.json()).get("guild_locale")})
        self.w.dc.guild().locale = locale
        return web.json_response({"ok": True, "guild_locale": locale})

    async def _musicgpt(self, request: web.Request) -> web.Response:
        body = await request.json()
        mg = self.w.mg
        if "delay" in body:
            delay = float(body["delay"])
            if not 0 <= delay <= 600:
                return _refused("the delay is 0 to 600 seconds")
            mg.delay = delay
        if "webhooks_enabled" in body:
            mg.webhooks_enabled = bool(body["webhooks_enabled"])
        if body.get("fail_next"):
            mg.fail_next_task("Generation failed (the playground's knob)")
        return web.json_response({"ok": True})


def _locale(body: dict[str, Any]) -> str:
    """The member's client language the page sent (Discord's locale string), else en-US."""
    locale = str(body.get("locale") or "en-US")
    return locale if locale in PLAYGROUND_LOCALES else "en-US"


def _flatten(name: str, node: dict[str, Any], found: list[dict[str, Any]]) -> None:
    options = node.get("options") or []
    subs = [o for o in options if o.get("type") in (1, 2)]
    if subs:
        for sub in subs:
            _flatten(f"{name} {sub['name']}", sub, found)
        return
    found.append(
        {
            "name": name,
            "description": node.get("description", ""),
            "options": [
                {
                    "name": o["name"],
                    "type": OPTION_TYPES.get(o.get("type", 3), "string"),
                    "required": bool(o.get("required")),
                    "description": o.get("description", ""),
                    "choices": o.get("choices") or [],
                }
                for o in options
            ],
        }
    )


def _files(body: dict[str, Any]) -> list[tuple[str, bytes]]:
    """The request's files: `files: [{"name": ..., "data": base64}]`."""
    found = []
    for item in body.get("files") or []:
        try:
            found.append((str(item["name"]), base64.b64decode(item["data"], validate=True)))
        except (KeyError, TypeError, binascii.Error) as error:
            raise ValueError(f"a file that isn't a name and base64 data: {error}") from error
    return found


def _not_offered(error: Exception) -> str:
    if isinstance(error, PermissionError):
        # The stand-in's own words: "bob can't use /settings: it needs Manage Server".
        return f"{error}, so Discord doesn't offer it to them"
    return str(error)


def _refused(message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=400)


def _forbidden(status: int, reason: str) -> web.Response:
    return web.json_response({"ok": False, "error": reason}, status=status)
