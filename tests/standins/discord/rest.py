"""REST v10 routes and the attachment CDN of the Discord stand-in, plus injected faults.

`Rest.middleware` records every request (`RecordedRequest`), answers injected faults,
checks the bot token (interaction and webhook routes carry none) and turns
`DiscordHTTPError` into Discord's JSON error body. Handlers translate HTTP into calls on
`state.World`, which holds the world and applies Discord's rules.

Errors use Discord's JSON shape and codes (10003 Unknown Channel, 10007 Unknown Member,
10008 Unknown Message, 10015 Unknown Webhook, 10062 Unknown interaction, 40005 Request
entity too large, 40060 already acknowledged, 50006 empty message, 50007 Cannot send
messages to this user (a DM to a `UserSpec.dms_closed` user), 50013 Missing Permissions,
50024 wrong channel type, 50027 Invalid Webhook Token, 50035 Invalid Form Body, 160004
thread already created for a message, 160006 too many active threads).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from . import rules
from .model import (
    ChannelSpec,
    DiscordHTTPError,
    Interaction,
    PartSummary,
    Perm,
    RecordedRequest,
    StoredMessage,
    Upload,
    cdn_signature_ok,
    form_error,
    unknown,
)
from .state import World

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
# Both routes that start a thread (from a message, or without one), for `Faults.add`.
THREAD_ROUTES = r"^/channels/\d+(/messages/\d+)?/threads$"
# Routes that carry no bot token: interaction callbacks, webhook-token routes, GET /gateway.
_TOKENLESS = re.compile(r"^/(interactions/\d+/[^/]+/callback|webhooks/\d+/[^/]+|gateway$)")
_FILE_FIELD = re.compile(r"^files\[(\d+)\]$")

JSON_BODY: web.RequestKey[Any] = web.RequestKey("discord_json", object)  # decoded JSON
FILES = web.RequestKey("discord_files", dict)
RECORD = web.RequestKey("discord_record", RecordedRequest)  # set before any handler runs


def json_response(
    obj: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """JSON with Content-Type exactly `application/json` (discord.py compares it verbatim)."""
    out = {**(headers or {}), "Content-Type": "application/json"}
    return web.Response(status=status, body=_dumps(obj), headers=out)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class AnnouncedResponse(web.Response):
    """A response that calls `on_sent()` once aiohttp has written its last byte: when the
    bot can have read it, which is what a modal submit must wait for."""

    def __init__(self, on_sent: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_sent: Callable[[], None] | None = on_sent

    async def write_eof(self, data: bytes = b"") -> None:
        await super().write_eof(data)
        if self._on_sent is not None:
            on_sent, self._on_sent = self._on_sent, None
            on_sent()


def _no_content() -> web.Response:
    return web.Response(status=204)


def _ratelimit_headers(route_key: str, *, remaining: int, reset_after: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        "X-RateLimit-Bucket": hashlib.md5(route_key.encode(), usedforsecurity=False).hexdigest(),
    }


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise form_error(
            "_path", "NUMBER_TYPE_COERCE", f"Value {raw!r} is not snowflake."
        ) from None


# --------------------------------------------------------------------------- faults


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int | None  # None: only `delay`
    remaining: int | None  # None: forever
    retry_after: float | None
    delay: float
    hits: int = 0
    code: int | None = None  # Discord's JSON error code (e.g. 160006), with `message`
    message: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        return self.method in ("*", method.upper()) and bool(self.pattern.search(path))

    def response(self, route_key: str) -> web.Response:
        """Discord's answer for this status: 429 with `retry_after`, `Via` (or discord.py
        takes it for a Cloudflare ban) and rate-limit headers; 413 with 40005; else JSON."""
        status = self.status or 500
        if status == 429:
            retry_after = 0.05 if self.retry_after is None else self.retry_after
            body = {
                "message": "You are being rate limited.",
                "retry_after": retry_after,
                "global": False,
                "code": 0,
            }
            headers = {
                **_ratelimit_headers(route_key, remaining=0, reset_after=retry_after),
                "Via": "1.1 google",
                "Retry-After": str(max(1, math.ceil(retry_after))),
                "X-RateLimit-Scope": "user",
            }
            return json_response(body, status, headers)
        if self.code is not None:
            message = self.message or f"{status}: {_REASONS.get(status, 'Error')}"
            return json_response({"message": message, "code": self.code}, status)
        if status == 413:
            return json_response({"message": "Request entity too large", "code": 40005}, 413)
        reason = _REASONS.get(status, "Error")
        return json_response({"message": f"{status}: {reason}", "code": 0}, status)


_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class Faults:
    """Injected failures, matched in the order they were added."""

    def __init__(self) -> None:
        self.items: list[Fault] = []

    def add(
        self,
        method: str,
        path_regex: str,
        status: int | None,
        count: int | None = 1,
        retry_after: float | None = None,
        *,
        delay: float = 0.0,
        code: int | None = None,
        message: str | None = None,
    ) -> Fault:
        """Fail the next `count` matching requests (None: all) with `status`.

        `path_regex` is searched in the path below the API base ("/channels/1/messages")
        or the CDN path. status=None with delay>0 only slows the request down. discord.py
        sleeps and retries a 429, and retries 500/502/504 after 1 s, 3 s, ...
        `code`/`message` give the JSON error body Discord would send, e.g. 400 with 160006
        "Maximum number of active threads reached" (`DiscordStandIn.refuse_threads` adds those).
        """
        pattern = re.compile(path_regex)
        fault = Fault(
            method.upper(), pattern, status, count, retry_after, delay, code=code, message=message
        )
        self.items.append(fault)
        return fault

    def clear(self) -> None:
        self.items.clear()

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self.items:
            if fault.matches(method, path):
                fault.hits += 1
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault
        return None


# --------------------------------------------------------------------------- the API


class Rest:
    def __init__(
        self, world: World, bot_gateway: Callable[[], dict[str, Any]] | None = None
    ) -> None:
        """`bot_gateway()`: the answer to `GET /gateway/bot` (the gateway's URL, shards)."""
        self.world = world
        self.bot_gateway = bot_gateway
        self.faults = Faults()
        self.requests: list[RecordedRequest] = []
        self.internal_errors: list[BaseException] = []  # stand-in bugs (answered with 503)

    def add_routes(self, app: web.Application) -> None:
        p = API_PREFIX
        r = app.router
        r.add_get(p + "/users/@me", self.users_me)
        r.add_get(p + "/users/{user_id}", self.get_user)
        r.add_post(p + "/users/@me/channels", self.create_dm)
        r.add_get(p + "/oauth2/applications/@me", self.application_me)
        if self.bot_gateway is not None:
            r.add_get(p + "/gateway", self.get_gateway)
            r.add_get(p + "/gateway/bot", self.get_gateway_bot)
        for scope in ("", "/guilds/{guild_id}"):
            base = p + "/applications/{application_id}" + scope + "/commands"
            r.add_get(base, self.list_commands)
            r.add_put(base, self.put_commands)
        r.add_post(p + "/interactions/{interaction_id}/{token}/callback", self.callback)
        r.add_post(p + "/webhooks/{application_id}/{token}", self.execute_webhook)
        msg = p + "/webhooks/{application_id}/{token}/messages/{message_id}"
        r.add_get(msg, self.webhook_get)
        r.add_patch(msg, self.webhook_edit)
        r.add_delete(msg, self.webhook_delete)
        r.add_get(p + "/channels/{channel_id}", self.get_channel)
        r.add_patch(p + "/channels/{channel_id}", self.patch_channel)
        r.add_get(p + "/channels/{channel_id}/messages", self.list_messages)
        r.add_post(p + "/channels/{channel_id}/messages", self.post_message)
        one = p + "/channels/{channel_id}/messages/{message_id}"
        r.add_get(one, self.get_message)
        r.add_patch(one, self.patch_message)
        r.add_delete(one, self.delete_message)
        r.add_post(one + "/threads", self.thread_from_message)
        r.add_post(p + "/channels/{channel_id}/threads", self.thread_without_message)
        r.add_put(p + "/channels/{channel_id}/thread-members/{user_id}", self.join_thread)
        r.add_get("/attachments/{owner}/{attachment_id}/{filename}", self.cdn)
        r.add_get("/ephemeral-attachments/{owner}/{attachment_id}/{filename}", self.cdn)

    # ------------------------------------------------------------------ middleware

    async def _read_body(self, request: web.Request, rec: RecordedRequest) -> dict[int, Upload]:
        """Decode the JSON body (or a multipart's `payload_json`) into `rec.json`; return
        the uploaded `files[n]` by index. Raises 50109 on broken JSON."""
        files: dict[int, Upload] = {}
        try:
            if request.content_type == "multipart/form-data":
                reader = await request.multipart()
                async for part in reader:
                    if not isinstance(part, BodyPartReader):
                        continue  # a nested multipart: discord.py sends none
                    name = part.name or ""
                    data = bytes(await part.read())
                    upload = Upload(name, part.filename, part.headers.get("Content-Type"), data)
                    rec.parts.append(
                        PartSummary(name, part.filename, upload.content_type, len(upload.data))
                    )
                    match = _FILE_FIELD.match(name)
                    if name == "payload_json":
                        rec.json = json.loads(upload.data)
                        rec.validation_body = upload.data
                        rec.validation_ctype = "application/json"
                    elif match:
                        files[int(match.group(1))] = upload
                    elif name == "file" and part.filename is not None:
                        files.setdefault(0, upload)
            elif request.body_exists:
                body = await request.read()
                if body:
                    rec.json = json.loads(body)
                    rec.validation_body = body
                    rec.validation_ctype = request.content_type
        except ValueError:
            raise DiscordHTTPError(400, 50109, "The request body contains invalid JSON.") from None
        return files

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        if path == "/gateway":
            return await handler(request)
        kind = "rest" if path.startswith(API_PREFIX + "/") else "cdn"
        rel = path[len(API_PREFIX) :] if kind == "rest" else path
        auth = request.headers.get("Authorization")
        rec = RecordedRequest(
            method=request.method,
            path=rel,
            query=dict(request.query),
            query_items=list(request.query.items()),
            headers={
                k: ("<redacted>" if k.lower() == "authorization" else v)
                for k, v in request.headers.items()
            },
            timestamp=time.time(),
            kind=kind,
            authorization=auth.split(" ", 1)[0] if auth else None,
        )
        resource = request.match_info.route.resource
        if resource is not None:
            canonical = resource.canonical
            rec.route = canonical[len(API_PREFIX) :] if kind == "rest" else canonical
        self.requests.append(rec)
        request[RECORD] = rec
        route_key = f"{request.method} {rec.route or rel}"
        response: web.StreamResponse | None = None
        try:
            request[FILES] = await self._read_body(request, rec) if kind == "rest" else {}
            request[JSON_BODY] = rec.json
            rec.timestamp = time.time()
            fault = self.faults.take(request.method, rel)
            if fault is not None:
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                if fault.status is not None:
                    rec.fault = fault
                    response = fault.response(route_key)
            if response is None:
                if (
                    kind == "rest"
                    and not _TOKENLESS.match(rel)
                    and auth != f"Bot {self.world.token}"
                ):
                    raise DiscordHTTPError(401, 0, "401: Unauthorized")
                response = await handler(request)
        except DiscordHTTPError as exc:
            response = json_response(exc.body(), exc.status)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as exc:
            rec.unhandled = True
            body = {"message": f"{exc.status}: {exc.reason}", "code": 0}
            response = (
                json_response(body, exc.status)
                if kind == "rest"
                else web.Response(status=exc.status, text=exc.reason)
            )
        except Exception as exc:
            # A stand-in bug. 503 is not among the statuses discord.py's REST client
            # retries, so the test fails fast instead of sleeping through retries.
            log.exception("stand-in error on %s %s", request.method, path)
            self.internal_errors.append(exc)
            response = json_response(
                {"message": f"stand-in internal error: {exc!r}", "code": 0}, 503
            )
        if kind == "rest" and response.status != 429:
            for key, value in _ratelimit_headers(route_key, remaining=4, reset_after=1.0).items():
                response.headers.setdefault(key, value)
        rec.status = response.status
        rec.response_headers = dict(response.headers)
        if isinstance(response, web.Response) and isinstance(response.body, bytes):
            rec.response_body = response.body
            rec.response_ctype = response.headers.get("Content-Type")
            if rec.response_ctype == "application/json":
                rec.response = json.loads(response.body)
        self.world.notify()
        return response

    # ------------------------------------------------------------------ lookups

    def _channel(self, request: web.Request, *, need: int = Perm.VIEW_CHANNEL) -> ChannelSpec:
        chan = self.world.channel(_int(request.match_info["channel_id"]))
        if chan is None:
            raise unknown("Channel", 10003)
        if chan.guild_id is not None:
            perms = self.world.bot_permissions(chan)
            if not perms & Perm.VIEW_CHANNEL:
                raise DiscordHTTPError(403, 50001, "Missing Access")
            if need & ~perms:
                raise DiscordHTTPError(403, 50013, "Missing Permissions")
        return chan

    def _channel_message(self, request: web.Request, chan: ChannelSpec) -> StoredMessage:
        msg = self.world.messages.get(_int(request.match_info["message_id"]))
        if msg is None or msg.channel_id != chan.id or msg.deleted or msg.ephemeral:
            raise unknown("Message", 10008)
        return msg

    def _guild(self, request: web.Request) -> int:
        gid = _int(request.match_info["guild_id"])
        if gid not in self.world.guilds:
            raise DiscordHTTPError(403, 50001, "Missing Access")
        return gid

    # ------------------------------------------------------------------ users, application

    async def users_me(self, request: web.Request) -> web.Response:
        me = self.world.bot_user.payload()
        me.update(verified=True, mfa_enabled=False, locale="en-US", email=None, bio="")
        return json_response(me)

    async def get_user(self, request: web.Request) -> web.Response:
        user = self.world.users.get(_int(request.match_info["user_id"]))
        if user is None:
            raise unknown("User", 10013)
        return json_response(user.payload())

    async def create_dm(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = request[JSON_BODY] or {}
        user = self.world.users.get(_int(str(body.get("recipient_id", "0"))))
        if user is None:
            raise form_error("recipient_id", "NUMBER_TYPE_COERCE", "Value is not snowflake.")
        return json_response(self.world.channel_payload(self.world.dm_channel(user.id)))

    async def get_gateway(self, request: web.Request) -> web.Response:
        assert self.bot_gateway is not None
        return json_response({"url": self.bot_gateway()["url"]})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        """The recommended shard count and session start limits (AutoShardedClient asks)."""
        assert self.bot_gateway is not None
        return json_response(self.bot_gateway())

    async def application_me(self, request: web.Request) -> web.Response:
        w = self.world
        owner = next((u for u in w.users.values() if not u.bot), w.bot_user)
        return json_response(
            {
                "id": str(w.app_id),
                "name": w.bot_user.username,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot": w.bot_user.payload(),
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": w.application_flags,
                "flags_new": str(w.application_flags),
                "owner": owner.payload(),
                "team": None,
                "tags": [],
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "role_connections_verification_url": None,
                "approximate_guild_count": len(w.guilds),
                "approximate_user_install_count": 0,
                "approximate_user_authorization_count": 0,
                "explicit_content_filter": 0,
                "eligible_oauth2_scopes": [],
                "integration_types_config": {"0": {}},
            }
        )

    # ------------------------------------------------------------------ commands

    def _scope(self, request: web.Request) -> int | None:
        if _int(request.match_info["application_id"]) != self.world.app_id:
            raise DiscordHTTPError(403, 50001, "Missing Access")
        return self._guild(request) if "guild_id" in request.match_info else None

    async def list_commands(self, request: web.Request) -> web.Response:
        return json_response(self.world.commands(self._scope(request)))

    async def put_commands(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        body = request[JSON_BODY]
        if not isinstance(body, list):
            raise form_error("_root", "LIST_TYPE_CONVERT", "Must be a list.")
        commands = rules.build_commands(self.world.app_id, self.world.commands(scope), body, scope)
        self.world.set_commands(scope, commands)
        self.world.command_syncs.append(scope)
        return json_response(commands)

    # ------------------------------------------------------------------ channels

    async def get_channel(self, request: web.Request) -> web.Response:
        return json_response(self.world.channel_payload(self._channel(request)))

    async def list_messages(self, request: web.Request) -> web.Response:
        chan = self._channel(request)
        q = request.query
        try:
            limit = int(q.get("limit", "50"))
        except ValueError:
            raise form_error("limit", "NUMBER_TYPE_COERCE", "Value is not int.") from None
        if not 1 <= limit <= 100:
            raise form_error("limit", "NUMBER_TYPE_MAX", "Int value should be between 1 and 100.")
        if not self.world.bot_permissions(chan) & Perm.READ_MESSAGE_HISTORY:
            return json_response([])
        msgs = self.world.channel_messages(chan.id)
        if "around" in q:
            around = _int(q["around"])
            index = next((i for i, m in enumerate(msgs) if m.id >= around), len(msgs))
            start = max(0, index - limit // 2)
            page = msgs[start : start + limit]
        elif "after" in q:
            after = _int(q["after"])
            page = [m for m in msgs if m.id > after][:limit]
        elif "before" in q:
            before = _int(q["before"])
            page = [m for m in msgs if m.id < before][-limit:]
        else:
            page = msgs[-limit:]
        return json_response([self.world.message_payload(m) for m in reversed(page)])

    async def post_message(self, request: web.Request) -> web.Response:
        """In a thread SEND_MESSAGES_IN_THREADS stands for SEND_MESSAGES, as on Discord."""
        files = request[FILES]
        chan = self._channel(request)
        send = Perm.SEND_MESSAGES_IN_THREADS if chan.is_thread else Perm.SEND_MESSAGES
        need = Perm.VIEW_CHANNEL | send | (Perm.ATTACH_FILES if files else 0)
        chan = self._channel(request, need=need)
        if chan.guild_id is None and any(
            (user := self.world.users.get(uid)) is not None and user.dms_closed
            for uid in chan.recipients
        ):
            raise DiscordHTTPError(403, 50007, "Cannot send messages to this user")
        msg = await self.world.create_message(
            chan, request[JSON_BODY], files, author=self.world.bot_user, source="channel"
        )
        return json_response(self.world.message_payload(msg))

    async def get_message(self, request: web.Request) -> web.Response:
        chan = self._channel(request, need=Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        return json_response(self.world.message_payload(self._channel_message(request, chan)))

    async def patch_message(self, request: web.Request) -> web.Response:
        """An edit: multipart `files[n]` add attachments (ATTACH_FILES needed), and an
        `attachments` list keeps the old ones it names by id (others are removed)."""
        files = request[FILES]
        chan = self._channel(request, need=Perm.VIEW_CHANNEL | (Perm.ATTACH_FILES if files else 0))
        msg = self._channel_message(request, chan)
        body: dict[str, Any] = request[JSON_BODY] or {}
        if msg.author_id != self.world.bot_user.id and set(body) - {"flags"}:
            raise DiscordHTTPError(403, 50005, "Cannot edit a message authored by another user")
        await self.world.edit_message(msg, body, request[FILES])
        return json_response(self.world.message_payload(msg))

    async def delete_message(self, request: web.Request) -> web.Response:
        chan = self._channel(request)
        msg = self._channel_message(request, chan)
        others = msg.author_id != self.world.bot_user.id and chan.guild_id is not None
        if others and not self.world.bot_permissions(chan) & Perm.MANAGE_MESSAGES:
            raise DiscordHTTPError(403, 50013, "Missing Permissions")
        await self.world.delete_message(msg)
        return _no_content()

    # ------------------------------------------------------------------ threads

    async def thread_from_message(self, request: web.Request) -> web.Response:
        """Start a public thread from a message: CREATE_PUBLIC_THREADS, 201 + the thread."""
        chan = self._channel(request, need=Perm.VIEW_CHANNEL | Perm.CREATE_PUBLIC_THREADS)
        msg = self._channel_message(request, chan)
        thread = await self.world.create_thread(
            chan, request[JSON_BODY], owner=self.world.bot_user, message=msg
        )
        return json_response(self.world.thread_payload(thread), 201)

    async def thread_without_message(self, request: web.Request) -> web.Response:
        """Start a thread with no starter message: type 11 needs CREATE_PUBLIC_THREADS,
        type 12 (the default) CREATE_PRIVATE_THREADS; 201 + the thread."""
        body = request[JSON_BODY]
        ttype = (body.get("type") if isinstance(body, dict) else None) or 12
        need = Perm.CREATE_PUBLIC_THREADS if ttype == 11 else Perm.CREATE_PRIVATE_THREADS
        chan = self._channel(request, need=Perm.VIEW_CHANNEL | need)
        thread = await self.world.create_thread(chan, body, owner=self.world.bot_user)
        return json_response(self.world.thread_payload(thread), 201)

    async def patch_channel(self, request: web.Request) -> web.Response:
        """Edit a thread (the stand-in edits no other channel). Its creator may rename,
        archive and unarchive it; `locked`, `invitable` and the slow mode need
        MANAGE_THREADS, as does anything on someone else's thread (403 50013)."""
        chan = self._channel(request)
        if not chan.is_thread:
            raise DiscordHTTPError(400, 50024, "Cannot execute action on this channel type")
        body = request[JSON_BODY]
        owner = chan.owner_id == self.world.bot_user.id
        moderating = isinstance(body, dict) and bool(
            {"locked", "invitable", "rate_limit_per_user"} & set(body)
        )
        may_manage = bool(self.world.bot_permissions(chan) & Perm.MANAGE_THREADS)
        if (moderating or not owner) and not may_manage:
            raise DiscordHTTPError(403, 50013, "Missing Permissions")
        await self.world.edit_thread(chan, body)
        return json_response(self.world.thread_payload(chan))

    async def join_thread(self, request: web.Request) -> web.Response:
        """Add a member (or the bot, `@me`) to a thread: 204."""
        chan = self._channel(request)
        if not chan.is_thread:
            raise DiscordHTTPError(400, 50024, "Cannot execute action on this channel type")
        raw = request.match_info["user_id"]
        user_id = self.world.bot_user.id if raw == "@me" else _int(raw)
        if user_id != self.world.bot_user.id:
            send = Perm.SEND_MESSAGES_IN_THREADS
            if not self.world.bot_permissions(chan) & send:
                raise DiscordHTTPError(403, 50013, "Missing Permissions")
        self.world.add_thread_member(chan, user_id)
        return _no_content()

    # ------------------------------------------------------------------ interactions

    async def callback(self, request: web.Request) -> web.Response:
        rec = self.world.interaction_for_callback(
            _int(request.match_info["interaction_id"]), request.match_info["token"]
        )
        cb, answer = await self.world.acknowledge(
            rec, request[JSON_BODY], request[FILES], request[RECORD]
        )

        # Discord's client learns of the callback (and shows a modal) only once this answer
        # is out; `submit_modal` waits for `responded_at`, stamped when its last byte is.
        def sent() -> None:
            cb.responded_at = asyncio.get_running_loop().time()
            self.world.notify()

        if request.query.get("with_response") not in ("1", "true", "True"):
            return AnnouncedResponse(sent, status=204)
        return AnnouncedResponse(
            sent, body=_dumps(answer), headers={"Content-Type": "application/json"}
        )

    def _webhook(self, request: web.Request) -> Interaction:
        return self.world.interaction_for_webhook(
            _int(request.match_info["application_id"]), request.match_info["token"]
        )

    def _webhook_message(self, request: web.Request) -> StoredMessage:
        raw = request.match_info["message_id"]
        mid = None if raw == "@original" else _int(raw)
        return self.world.interaction_message(self._webhook(request), mid)

    async def execute_webhook(self, request: web.Request) -> web.Response:
        msg = await self.world.followup(self._webhook(request), request[JSON_BODY], request[FILES])
        if request.query.get("wait") in ("1", "true", "True"):
            return json_response(self.world.message_payload(msg))
        return _no_content()

    async def webhook_get(self, request: web.Request) -> web.Response:
        return json_response(self.world.message_payload(self._webhook_message(request)))

    async def webhook_edit(self, request: web.Request) -> web.Response:
        msg = self._webhook_message(request)
        await self.world.edit_message(msg, request[JSON_BODY] or {}, request[FILES])
        return json_response(self.world.message_payload(msg))

    async def webhook_delete(self, request: web.Request) -> web.Response:
        await self.world.delete_message(self._webhook_message(request))
        return _no_content()

    # ------------------------------------------------------------------ CDN

    async def cdn(self, request: web.Request) -> web.StreamResponse:
        """Attachments by their signed URL (404 without `ex`/`is`/`hm`, as Discord's CDN),
        from memory with Range support or from disk."""
        try:
            att = self.world.attachments.get(int(request.match_info["attachment_id"]))
        except ValueError:
            att = None
        if att is None or att.filename != request.match_info["filename"]:
            return web.Response(status=404, text="Not Found")
        if not cdn_signature_ok(self.world.cdn_secret, request.path, request.query):
            return web.Response(status=404, text="This content is no longer available.")
        headers = {"Content-Type": att.content_type or "application/octet-stream"}
        if att.path is not None:
            return web.FileResponse(att.path, headers=headers)
        data = att.data or b""
        unsatisfiable = web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
        try:
            rng = request.http_range
        except ValueError:
            return unsatisfiable
        if rng.start is None and rng.stop is None:
            headers["Accept-Ranges"] = "bytes"
            return web.Response(body=data, headers=headers)
        start, stop, _ = rng.indices(len(data))
        if start >= stop:
            return unsatisfiable
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{len(data)}"
        return web.Response(status=206, body=memoryview(data)[start:stop], headers=headers)
