"""REST half of the Discord stand-in: routes, request recording, faults, message semantics.

Errors use Discord's JSON shape and codes (10003 Unknown Channel, 10008 Unknown Message,
10015 Unknown Webhook, 10062 Unknown interaction, 40005 Request entity too large,
40060 already acknowledged, 50006 empty message, 50013 Missing Permissions,
50027 Invalid Webhook Token, 50035 Invalid Form Body).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .discord_model import (
    FLAG_COMPONENTS_V2,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    FLAG_SUPPRESS_EMBEDS,
    FLAG_SUPPRESS_NOTIFICATIONS,
    DiscordHTTPError,
    Mentions,
    Part,
    Perm,
    StoredAttachment,
    StoredMessage,
    UserSpec,
    cdn_signature_ok,
    form_error,
    multipart_boundary,
    new_snowflake,
    now_iso,
    parse_multipart,
    unknown,
)

if TYPE_CHECKING:
    from .discord import DiscordStandIn, ModalField, _Channel, _Interaction

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
MAX_CONTENT = 2000
# Routes that carry no bot token: interaction callbacks and webhook-token routes.
_TOKENLESS = re.compile(r"^/(interactions/\d+/[^/]+/callback|webhooks/\d+/[^/]+)")
_FILE_FIELD = re.compile(r"^files\[(\d+)\]$")
_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$", re.UNICODE)
_MAX_COMMANDS = {1: 100, 2: 15, 3: 15}

# Interaction type -> callback types Discord accepts for it.
_CALLBACK_TYPES = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}

JSON_BODY = web.RequestKey("discord_json", object)
FILES = web.RequestKey("discord_files", dict)
RECORD = web.RequestKey("discord_record", object)


def _json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None):
    from .discord import json_response

    return json_response(obj, status=status, headers=headers)


def _no_content() -> web.Response:
    return web.Response(status=204)


class RestApi:
    def __init__(self, dc: DiscordStandIn) -> None:
        self.dc = dc

    # ------------------------------------------------------------------ plumbing

    def add_routes(self, app: web.Application) -> None:
        p = API_PREFIX
        r = app.router
        r.add_get(p + "/users/@me", self.users_me)
        r.add_get(p + "/users/{user_id}", self.get_user)
        r.add_post(p + "/users/@me/channels", self.create_dm)
        r.add_get(p + "/oauth2/applications/@me", self.application_me)
        r.add_get(p + "/applications/@me", self.application_me)
        r.add_get(p + "/gateway", self.get_gateway)
        r.add_get(p + "/gateway/bot", self.get_gateway_bot)
        for scope in ("", "/guilds/{guild_id}"):
            base = p + "/applications/{application_id}" + scope + "/commands"
            r.add_get(base, self.list_commands)
            r.add_put(base, self.put_commands)
            r.add_post(base, self.upsert_command)
            r.add_get(base + "/{command_id}", self.get_command)
            r.add_patch(base + "/{command_id}", self.patch_command)
            r.add_delete(base + "/{command_id}", self.delete_command)
        r.add_post(p + "/interactions/{interaction_id}/{token}/callback", self.callback)
        r.add_post(p + "/webhooks/{application_id}/{token}", self.execute_webhook)
        msg = p + "/webhooks/{application_id}/{token}/messages/{message_id}"
        r.add_get(msg, self.webhook_get)
        r.add_patch(msg, self.webhook_edit)
        r.add_delete(msg, self.webhook_delete)
        r.add_get(p + "/channels/{channel_id}", self.get_channel)
        r.add_get(p + "/channels/{channel_id}/messages", self.list_messages)
        r.add_post(p + "/channels/{channel_id}/messages", self.post_message)
        one = p + "/channels/{channel_id}/messages/{message_id}"
        r.add_get(one, self.get_message)
        r.add_patch(one, self.patch_message)
        r.add_delete(one, self.delete_message_route)
        r.add_post(p + "/channels/{channel_id}/typing", self.typing)
        react = one + "/reactions/{emoji}/@me"
        r.add_put(react, self.react)
        r.add_delete(react, self.react)
        r.add_get(p + "/guilds/{guild_id}", self.get_guild)
        r.add_get(p + "/guilds/{guild_id}/channels", self.guild_channels)
        r.add_get(p + "/guilds/{guild_id}/roles", self.guild_roles)
        r.add_get(p + "/guilds/{guild_id}/members/{user_id}", self.guild_member)
        r.add_get("/attachments/{owner}/{attachment_id}/{filename}", self.cdn)
        r.add_get("/ephemeral-attachments/{owner}/{attachment_id}/{filename}", self.cdn)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        from .discord import PartSummary, RecordedRequest

        path = request.path
        if path == "/gateway":
            return await handler(request)
        kind = "rest" if path.startswith(API_PREFIX + "/") else "cdn"
        rel = path[len(API_PREFIX) :] if kind == "rest" else path
        body = await request.read() if request.body_exists else b""
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
        self.dc.requests.append(rec)
        parse_error: DiscordHTTPError | None = None
        parts: list[Part] = []
        payload: Any = None
        if kind == "rest" and body:
            ctype = request.content_type
            try:
                if ctype == "multipart/form-data":
                    boundary = multipart_boundary(request.headers["Content-Type"])
                    if not boundary:
                        raise ValueError("no boundary")
                    parts = parse_multipart(body, boundary)
                    rec.parts = [
                        PartSummary(p.name, p.filename, p.content_type, len(p.data)) for p in parts
                    ]
                    pj = next((p for p in parts if p.name == "payload_json"), None)
                    if pj is not None:
                        payload = json.loads(pj.data)
                        rec.validation_body = pj.data
                        rec.validation_ctype = "application/json"
                else:
                    payload = json.loads(body)
                    rec.validation_body = body
                    rec.validation_ctype = ctype
            except ValueError:
                parse_error = DiscordHTTPError(
                    400, 50109, "The request body contains invalid JSON."
                )
            rec.json = payload
        request[JSON_BODY] = payload
        request[FILES] = _files_from_parts(parts)
        request[RECORD] = rec

        route_key = f"{request.method} {rec.route or rel}"
        response: web.StreamResponse | None = None
        fault = self.dc.faults.take(request.method, rel)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None:
                rec.fault = fault
                response = fault.response(route_key)
        if response is None:
            try:
                if parse_error is not None:
                    raise parse_error
                if kind == "rest" and not _TOKENLESS.match(rel) and auth != f"Bot {self.dc.token}":
                    raise DiscordHTTPError(401, 0, "401: Unauthorized")
                response = await handler(request)
            except DiscordHTTPError as exc:
                response = _json_response(exc.body(), exc.status, exc.headers)
            except web.HTTPNotFound:
                rec.unhandled = True
                response = (
                    _json_response({"message": "404: Not Found", "code": 0}, 404)
                    if kind == "rest"
                    else web.Response(status=404, text="Not Found")
                )
            except web.HTTPMethodNotAllowed:
                rec.unhandled = True
                response = _json_response({"message": "405: Method Not Allowed", "code": 0}, 405)
            except Exception as exc:
                # A stand-in bug. 503 is not among the statuses discord.py's REST client
                # retries, so the test fails fast instead of sleeping through retries.
                log.exception("stand-in error on %s %s", request.method, path)
                self.dc.internal_errors.append(exc)
                body = {"message": f"stand-in internal error: {exc!r}", "code": 0}
                response = _json_response(body, 503)
        if kind == "rest" and self.dc.ratelimit_headers and response.status != 429:
            from .discord import _ratelimit_headers

            for key, value in _ratelimit_headers(route_key, remaining=4, reset_after=1.0).items():
                response.headers.setdefault(key, value)
        rec.status = response.status
        rec.response_headers = dict(response.headers)
        if isinstance(response, web.Response) and isinstance(response.body, bytes):
            rec.response_body = response.body
            rec.response_ctype = response.headers.get("Content-Type")
            if rec.response_ctype == "application/json":
                rec.response = json.loads(response.body)
        self.dc._notify()
        return response

    # ------------------------------------------------------------------ lookups

    def _channel(self, request: web.Request, *, need: int = Perm.VIEW_CHANNEL) -> _Channel:
        chan = self.dc._channels.get(_int(request.match_info["channel_id"]))
        if chan is None:
            raise unknown("Channel", 10003)
        if chan.guild_id is not None:
            perms = self.dc.permissions(chan.guild_id, self.dc.bot_user.id, chan.id)
            if not perms & Perm.VIEW_CHANNEL:
                raise DiscordHTTPError(403, 50001, "Missing Access")
            if need & ~perms:
                raise DiscordHTTPError(403, 50013, "Missing Permissions")
        return chan

    def _channel_message(self, request: web.Request, chan: _Channel) -> StoredMessage:
        msg = self.dc._messages.get(_int(request.match_info["message_id"]))
        if msg is None or msg.channel_id != chan.id or msg.deleted or msg.ephemeral:
            raise unknown("Message", 10008)
        return msg

    def _guild(self, request: web.Request) -> int:
        gid = _int(request.match_info["guild_id"])
        if gid not in self.dc._guilds:
            raise DiscordHTTPError(403, 50001, "Missing Access")
        return gid

    def _check_app(self, request: web.Request) -> None:
        if _int(request.match_info["application_id"]) != self.dc.app_id:
            raise DiscordHTTPError(403, 50001, "Missing Access")

    # ------------------------------------------------------------------ users, app, gateway

    async def users_me(self, request: web.Request) -> web.Response:
        me = self.dc.bot_user.payload()
        me.update(verified=True, mfa_enabled=False, locale="en-US", email=None, bio="")
        return _json_response(me)

    async def get_user(self, request: web.Request) -> web.Response:
        user = self.dc.users.get(_int(request.match_info["user_id"]))
        if user is None:
            raise unknown("User", 10013)
        return _json_response(user.payload())

    async def create_dm(self, request: web.Request) -> web.Response:
        body = request[JSON_BODY] or {}
        user = self.dc.users.get(_int(str(body.get("recipient_id", "0"))))
        if user is None:
            raise form_error("recipient_id", "NUMBER_TYPE_COERCE", "Value is not snowflake.")
        return _json_response(self.dc._channel_payload(self.dc._dm_channel(user.id)))

    async def application_me(self, request: web.Request) -> web.Response:
        owner = next((u for u in self.dc.users.values() if not u.bot), self.dc.bot_user)
        return _json_response(
            {
                "id": str(self.dc.app_id),
                "name": self.dc.bot_user.username,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot": self.dc.bot_user.payload(),
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": self.dc.application_flags,
                "flags_new": str(self.dc.application_flags),
                "owner": owner.payload(),
                "team": None,
                "tags": [],
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "role_connections_verification_url": None,
                "approximate_guild_count": len(self.dc._guilds),
                "approximate_user_install_count": 0,
                "approximate_user_authorization_count": 0,
                "explicit_content_filter": 0,
                "eligible_oauth2_scopes": [],
                "integration_types_config": {"0": {}},
            }
        )

    async def get_gateway(self, request: web.Request) -> web.Response:
        return _json_response({"url": self.dc.gateway_url})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        return _json_response(
            {
                "url": self.dc.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 86_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    # ------------------------------------------------------------------ guilds

    async def get_guild(self, request: web.Request) -> web.Response:
        gid = self._guild(request)
        data = self.dc._guild_payload(gid)
        if request.query.get("with_counts") in ("true", "1", "True"):
            count = len(self.dc._guilds[gid].member_ids or []) + 1
            data.update(approximate_member_count=count, approximate_presence_count=0)
        return _json_response(data)

    async def guild_channels(self, request: web.Request) -> web.Response:
        gid = self._guild(request)
        chans = [c for c in self.dc._channels.values() if c.guild_id == gid]
        return _json_response([self.dc._channel_payload(c) for c in chans])

    async def guild_roles(self, request: web.Request) -> web.Response:
        gid = self._guild(request)
        return _json_response([r.payload() for r in self.dc._roles[gid].values()])

    async def guild_member(self, request: web.Request) -> web.Response:
        gid = self._guild(request)
        uid = _int(request.match_info["user_id"])
        if uid not in self.dc.users or not self.dc._is_member(gid, uid):
            raise unknown("Member", 10007)
        return _json_response(self.dc._member_payload(gid, uid))

    # ------------------------------------------------------------------ commands

    def _scope(self, request: web.Request) -> int | None:
        self._check_app(request)
        return self._guild(request) if "guild_id" in request.match_info else None

    def _store(self, scope: int | None, commands: list[dict[str, Any]]) -> None:
        if scope is None:
            self.dc.global_commands = commands
        else:
            self.dc.guild_commands[scope] = commands

    async def list_commands(self, request: web.Request) -> web.Response:
        return _json_response(self.dc.commands(self._scope(request)))

    async def put_commands(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        body = request[JSON_BODY]
        if not isinstance(body, list):
            raise form_error("_root", "LIST_TYPE_CONVERT", "Must be a list.")
        commands = _build_commands(self.dc, self.dc.commands(scope), body, scope)
        self._store(scope, commands)
        self.dc.command_syncs.append(scope)
        return _json_response(commands)

    async def upsert_command(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        body = request[JSON_BODY]
        if not isinstance(body, dict):
            raise form_error("_root", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        current = self.dc.commands(scope)
        others = [
            c
            for c in current
            if (c["name"], c.get("type", 1)) != (body.get("name"), body.get("type", 1))
        ]
        commands = _build_commands(self.dc, current, [*_as_input(others), body], scope)
        self._store(scope, commands)
        return _json_response(commands[-1], 201)

    def _command(self, request: web.Request) -> tuple[int | None, dict[str, Any]]:
        scope = self._scope(request)
        cid = request.match_info["command_id"]
        for cmd in self.dc.commands(scope):
            if cmd["id"] == cid:
                return scope, cmd
        raise unknown("application command", 10063)

    async def get_command(self, request: web.Request) -> web.Response:
        return _json_response(self._command(request)[1])

    async def patch_command(self, request: web.Request) -> web.Response:
        scope, cmd = self._command(request)
        body = request[JSON_BODY] or {}
        current = self.dc.commands(scope)
        merged = [{**c, **body} if c is cmd else c for c in _as_input(current)]
        commands = _build_commands(self.dc, current, merged, scope)
        self._store(scope, commands)
        return _json_response(next(c for c in commands if c["id"] == cmd["id"]))

    async def delete_command(self, request: web.Request) -> web.Response:
        scope, cmd = self._command(request)
        self._store(scope, [c for c in self.dc.commands(scope) if c is not cmd])
        return _no_content()

    # ------------------------------------------------------------------ channels

    async def get_channel(self, request: web.Request) -> web.Response:
        return _json_response(self.dc._channel_payload(self._channel(request)))

    async def typing(self, request: web.Request) -> web.Response:
        chan = self._channel(request, need=Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
        self.dc.typing.append(chan.id)
        return _no_content()

    async def react(self, request: web.Request) -> web.Response:
        chan = self._channel(request, need=Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        msg = self._channel_message(request, chan)
        self.dc.reactions.append((chan.id, msg.id, request.match_info["emoji"]))
        return _no_content()

    async def list_messages(self, request: web.Request) -> web.Response:
        chan = self._channel(request)
        q = request.query
        try:
            limit = int(q.get("limit", "50"))
        except ValueError:
            raise form_error("limit", "NUMBER_TYPE_COERCE", "Value is not int.") from None
        if not 1 <= limit <= 100:
            raise form_error("limit", "NUMBER_TYPE_MAX", "Int value should be between 1 and 100.")
        if chan.guild_id is not None:
            perms = self.dc.permissions(chan.guild_id, self.dc.bot_user.id, chan.id)
            if not perms & Perm.READ_MESSAGE_HISTORY:
                return _json_response([])
        msgs = self.dc.messages(chan.id, include_ephemeral=False)
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
        return _json_response([self.dc._message_payload(m) for m in reversed(page)])

    async def post_message(self, request: web.Request) -> web.Response:
        files = request[FILES]
        need = Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | (Perm.ATTACH_FILES if files else 0)
        chan = self._channel(request, need=need)
        msg = await self.create_message(
            chan, request[JSON_BODY], files, author=self.dc.bot_user, source="channel"
        )
        return _json_response(self.dc._message_payload(msg))

    async def get_message(self, request: web.Request) -> web.Response:
        chan = self._channel(request, need=Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        return _json_response(self.dc._message_payload(self._channel_message(request, chan)))

    async def patch_message(self, request: web.Request) -> web.Response:
        chan = self._channel(request)
        msg = self._channel_message(request, chan)
        body = request[JSON_BODY] or {}
        if msg.author_id != self.dc.bot_user.id and set(body) - {"flags"}:
            raise DiscordHTTPError(403, 50005, "Cannot edit a message authored by another user")
        await self.edit_message(msg, body, request[FILES])
        return _json_response(self.dc._message_payload(msg))

    async def delete_message_route(self, request: web.Request) -> web.Response:
        chan = self._channel(request)
        msg = self._channel_message(request, chan)
        if msg.author_id != self.dc.bot_user.id and chan.guild_id is not None:
            perms = self.dc.permissions(chan.guild_id, self.dc.bot_user.id, chan.id)
            if not perms & Perm.MANAGE_MESSAGES:
                raise DiscordHTTPError(403, 50013, "Missing Permissions")
        await self.delete_message(msg)
        return _no_content()

    # ------------------------------------------------------------------ interactions

    async def callback(self, request: web.Request) -> web.Response:
        rec = self.dc._interactions.get(_int(request.match_info["interaction_id"]))
        if rec is None or rec.token != request.match_info["token"] or rec.expired:
            raise DiscordHTTPError(404, 10062, "Unknown interaction")
        deadline = self.dc.interaction_ack_deadline
        age = asyncio.get_running_loop().time() - rec.created
        if not rec.acked and deadline is not None and age > deadline:
            raise DiscordHTTPError(404, 10062, "Unknown interaction")
        if rec.acked:
            raise DiscordHTTPError(400, 40060, "Interaction has already been acknowledged.")
        body = request[JSON_BODY]
        if not isinstance(body, dict) or "type" not in body:
            raise form_error("type", "BASE_TYPE_REQUIRED", "This field is required")
        ctype = body["type"]
        allowed = set(_CALLBACK_TYPES.get(rec.type, set()))
        if rec.type == 5 and rec.component_message_id is None:
            allowed -= {6, 7}
        if ctype not in allowed:
            raise form_error(
                "type", "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid interaction response type"
            )
        data = body.get("data")
        if data is not None and not isinstance(data, dict):
            raise form_error("data", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        if ctype == 9:
            _validate_modal(data or {})
        from .discord import Callback

        cb = Callback(type=ctype, data=data, attachments=[], request=request[RECORD])
        rec.callbacks.append(cb)  # acknowledged from here on; undone if the body is refused
        info: dict[str, Any] = {"id": str(rec.id), "type": rec.type}
        resource: dict[str, Any] | None = None
        chan = self.dc._channels[rec.channel_id]
        try:
            if ctype == 4:
                msg = await self.create_message(
                    chan,
                    data or {},
                    request[FILES],
                    author=self.dc.bot_user,
                    source="interaction_response",
                    interaction=rec,
                )
                rec.original_message_id = msg.id
                resource = {"type": 4, "message": self.dc._message_payload(msg)}
            elif ctype == 5:
                flags = (data or {}).get("flags") or 0
                msg = await self.create_message(
                    chan,
                    {"flags": flags & FLAG_EPHEMERAL},
                    {},
                    author=self.dc.bot_user,
                    source="interaction_response",
                    interaction=rec,
                    loading=True,
                )
                rec.original_message_id = msg.id
            elif ctype in (6, 7):
                msg = self.dc._messages[rec.component_message_id or 0]
                if ctype == 7:
                    await self.edit_message(msg, data or {}, request[FILES])
                    resource = {"type": 7, "message": self.dc._message_payload(msg)}
                rec.original_message_id = msg.id
            else:
                msg = None
        except Exception:
            rec.callbacks.remove(cb)
            raise
        if msg is not None:
            cb.message_id = msg.id
            cb.attachments = list(msg.attachments) if ctype in (4, 7) else []
            info.update(
                response_message_id=str(msg.id),
                response_message_loading=msg.loading,
                response_message_ephemeral=msg.ephemeral,
            )
        self.dc._notify()
        if request.query.get("with_response") not in ("1", "true", "True"):
            return _no_content()
        out: dict[str, Any] = {"interaction": info}
        if resource is not None:
            out["resource"] = resource
        return _json_response(out)

    def _webhook(self, request: web.Request) -> _Interaction:
        token = request.match_info["token"]
        rec = self.dc._by_token.get(token)
        if rec is None or _int(request.match_info["application_id"]) != self.dc.app_id:
            raise unknown("Webhook", 10015)
        if rec.expired:
            raise DiscordHTTPError(401, 50027, "Invalid Webhook Token")
        return rec

    def _webhook_message(self, request: web.Request, rec: _Interaction) -> StoredMessage:
        raw = request.match_info["message_id"]
        mid = rec.original_message_id if raw == "@original" else _int(raw)
        allowed = {*rec.message_ids, rec.original_message_id}
        msg = self.dc._messages.get(mid or 0)
        if msg is None or mid not in allowed or msg.deleted:
            raise unknown("Message", 10008)
        return msg

    async def execute_webhook(self, request: web.Request) -> web.Response:
        rec = self._webhook(request)
        if not rec.acked:
            raise unknown("Webhook", 10015)  # followups need an acknowledged interaction
        original = self.dc._messages.get(rec.original_message_id or 0)
        body = request[JSON_BODY]
        if original is not None and original.loading and not original.deleted:
            # Discord: the first followup after a deferred reply edits the loading message
            # (keeping its ephemeral state) instead of creating one.
            if isinstance(body, dict):
                body = {k: v for k, v in body.items() if k != "flags"}
            await self.edit_message(original, body or {}, request[FILES])
            msg = original
        else:
            msg = await self.create_message(
                self.dc._channels[rec.channel_id],
                body,
                request[FILES],
                author=self.dc.bot_user,
                source="followup",
                interaction=rec,
            )
        rec.followup_ids.append(msg.id)
        self.dc._notify()
        if request.query.get("wait") in ("1", "true", "True"):
            return _json_response(self.dc._message_payload(msg))
        return _no_content()

    async def webhook_get(self, request: web.Request) -> web.Response:
        rec = self._webhook(request)
        return _json_response(self.dc._message_payload(self._webhook_message(request, rec)))

    async def webhook_edit(self, request: web.Request) -> web.Response:
        rec = self._webhook(request)
        msg = self._webhook_message(request, rec)
        await self.edit_message(msg, request[JSON_BODY] or {}, request[FILES])
        return _json_response(self.dc._message_payload(msg))

    async def webhook_delete(self, request: web.Request) -> web.Response:
        rec = self._webhook(request)
        await self.delete_message(self._webhook_message(request, rec))
        return _no_content()

    # ------------------------------------------------------------------ CDN

    async def cdn(self, request: web.Request) -> web.StreamResponse:
        try:
            att = self.dc._attachments.get(int(request.match_info["attachment_id"]))
        except ValueError:
            att = None
        if att is None or att.filename != request.match_info["filename"]:
            return web.Response(status=404, text="Not Found")
        if self.dc.cdn_require_signature and not cdn_signature_ok(
            self.dc._cdn_secret, request.path, request.query
        ):
            return web.Response(status=404, text="This content is no longer available.")
        headers = {"Content-Type": att.content_type or "application/octet-stream"}
        if att.path is not None:
            return web.FileResponse(att.path, headers=headers)
        data = att.data or b""
        try:
            rng = request.http_range
        except ValueError:
            return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
        if rng.start is None and rng.stop is None:
            headers["Accept-Ranges"] = "bytes"
            return web.Response(body=data, headers=headers)
        start, stop, _ = rng.indices(len(data))
        if start >= stop:
            return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{len(data)}"
        return web.Response(status=206, body=memoryview(data)[start:stop], headers=headers)

    # ------------------------------------------------------------------ message semantics

    async def create_message(
        self,
        chan: _Channel,
        payload: Any,
        files: dict[int, Part],
        *,
        author: UserSpec,
        source: str,
        interaction: _Interaction | None = None,
        loading: bool = False,
        uploaded: list[StoredAttachment] | None = None,
    ) -> StoredMessage:
        dc = self.dc
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            raise form_error("_root", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        if payload.get("enforce_nonce") and payload.get("nonce") is not None:
            for old in dc.messages(chan.id):
                if old.nonce == payload["nonce"] and old.author_id == author.id:
                    return old
        content = _content(payload.get("content"))
        embeds = _embeds(payload)
        components = _components(payload.get("components"))
        flags = int(payload.get("flags") or 0)
        allowed_flags = FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_COMPONENTS_V2
        if interaction is not None:
            allowed_flags |= FLAG_EPHEMERAL
        flags &= allowed_flags
        if loading:
            flags |= FLAG_LOADING
        limit = interaction.size_limit if interaction is not None else dc.filesize_limit(chan.id)
        attachments = self._attachments(chan.id, payload.get("attachments"), files, [], limit)
        attachments.extend(uploaded or [])  # a user's message with add_attachment() files
        if not loading:
            _check_not_empty(content, embeds, components, attachments, payload)
            _check_components_v2(flags, content, embeds)
        reference, replied_user = self._reference(chan, payload.get("message_reference"))
        allowed = payload.get("allowed_mentions")
        mentions = dc._mentions_for(chan, author, content, allowed, replied_user)
        msg = StoredMessage(
            id=new_snowflake(),
            channel_id=chan.id,
            guild_id=chan.guild_id,
            author=author.payload(),
            content=content or "",
            embeds=embeds,
            components=components,
            attachments=attachments,
            flags=flags,
            allowed_mentions=allowed,
            resolved_mentions=mentions,
            notified_mentions=Mentions() if loading else mentions,
            message_reference=reference,
            type=19 if reference else 0,
            tts=bool(payload.get("tts")),
            nonce=payload.get("nonce"),
            source=source,
        )
        if interaction is not None:
            msg.interaction_id = interaction.id
            msg.webhook_id = dc.app_id
            msg.application_id = dc.app_id
            if not reference:
                msg.type = 20 if interaction.type == 2 else 0
            msg.interaction_metadata = dc._interaction_metadata(interaction)
            interaction.message_ids.append(msg.id)
        dc._messages[msg.id] = msg
        if not msg.ephemeral:
            chan.last_message_id = msg.id
        await dc._dispatch_message("MESSAGE_CREATE", msg)
        dc._notify()
        return msg

    async def edit_message(self, msg: StoredMessage, payload: Any, files: dict[int, Part]) -> None:
        dc = self.dc
        if not isinstance(payload, dict):
            raise form_error("_root", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        chan = dc._channels[msg.channel_id]
        content = _content(payload["content"]) if "content" in payload else msg.content
        embeds = _embeds(payload) if "embeds" in payload or "embed" in payload else msg.embeds
        components = (
            _components(payload["components"]) if "components" in payload else msg.components
        )
        flags = msg.flags
        if payload.get("flags") is not None:
            new = int(payload["flags"])
            flags = (flags & ~FLAG_SUPPRESS_EMBEDS) | (new & FLAG_SUPPRESS_EMBEDS)
            flags |= new & FLAG_COMPONENTS_V2
        was_loading = msg.loading
        flags &= ~FLAG_LOADING
        attachments = msg.attachments
        if "attachments" in payload or files:
            limit = (
                dc._interactions[msg.interaction_id].size_limit
                if msg.interaction_id in dc._interactions
                else dc.filesize_limit(chan.id)
            )
            attachments = self._attachments(
                chan.id, payload.get("attachments"), files, msg.attachments, limit
            )
        _check_not_empty(content, embeds, components, attachments, {})
        _check_components_v2(flags, content, embeds)
        allowed = payload.get("allowed_mentions", msg.allowed_mentions)
        replied = None
        if msg.message_reference:
            ref = dc._messages.get(int(msg.message_reference["message_id"]))
            replied = ref.author_id if ref is not None else None
        author = dc.users.get(msg.author_id, dc.bot_user)
        mentions = dc._mentions_for(chan, author, content, allowed, replied)
        if not was_loading:
            msg.edits.append(msg.snapshot())
            msg.edited_timestamp = now_iso()
        msg.content = content or ""
        msg.embeds = embeds
        msg.components = components
        msg.flags = flags
        msg.attachments = attachments
        msg.allowed_mentions = allowed
        msg.resolved_mentions = mentions
        if was_loading:
            msg.notified_mentions = mentions  # a deferred reply's first content does ping
        await dc._dispatch_message("MESSAGE_UPDATE", msg)
        dc._notify()

    async def delete_message(self, msg: StoredMessage) -> None:
        msg.deleted = True
        await self.dc._dispatch_message("MESSAGE_DELETE", msg)
        self.dc._notify()

    def _reference(self, chan: _Channel, ref: Any) -> tuple[dict[str, Any] | None, int | None]:
        if not ref:
            return None, None
        if not isinstance(ref, dict) or "message_id" not in ref:
            raise form_error("message_reference", "BASE_TYPE_REQUIRED", "This field is required")
        target = self.dc._messages.get(_int(str(ref["message_id"])))
        if (
            target is None
            or target.deleted
            or target.channel_id != int(ref.get("channel_id", chan.id))
        ):
            if ref.get("fail_if_not_exists", True):
                raise form_error(
                    "message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                )
            return None, None
        out = {
            "type": ref.get("type", 0),
            "message_id": str(target.id),
            "channel_id": str(target.channel_id),
        }
        if target.guild_id is not None:
            out["guild_id"] = str(target.guild_id)
        return out, target.author_id

    def _attachments(
        self,
        channel_id: int,
        listed: Any,
        files: dict[int, Part],
        existing: list[StoredAttachment],
        limit: int,
    ) -> list[StoredAttachment]:
        if len(files) > 10:
            raise form_error("files", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        sizes = [len(p.data) for p in files.values()]
        if sizes and (max(sizes) > limit or sum(sizes) > limit):
            raise DiscordHTTPError(413, 40005, "Request entity too large")

        def upload(index: int, entry: dict[str, Any] | None = None) -> StoredAttachment:
            part = files[index]
            entry = entry or {}
            return self.dc._store_upload(
                channel_id,
                entry.get("filename") or part.filename or f"file{index}",
                part.data,
                description=entry.get("description"),
                title=entry.get("title"),
                content_type=part.content_type,
            )

        if listed is None:
            return [*existing, *(upload(i) for i in sorted(files))]
        if not isinstance(listed, list):
            raise form_error("attachments", "LIST_TYPE_CONVERT", "Must be a list.")
        out: list[StoredAttachment] = []
        used: set[int] = set()
        by_id = {a.id: a for a in existing}
        for n, entry in enumerate(listed):
            try:
                aid = int(entry["id"])
            except (KeyError, TypeError, ValueError):
                raise form_error(
                    f"attachments.{n}.id", "BASE_TYPE_REQUIRED", "This field is required"
                ) from None
            if aid in files and aid not in used:
                used.add(aid)
                out.append(upload(aid, entry))
            elif aid in by_id:
                out.append(by_id[aid])
            else:
                raise form_error(
                    f"attachments.{n}.id", "ATTACHMENT_NOT_FOUND", "Unknown attachment"
                )
        out.extend(upload(i) for i in sorted(files) if i not in used)
        return out

    # ------------------------------------------------------------------ options and modals

    def convert_options(
        self,
        node: dict[str, Any],
        options: dict[str, Any],
        resolved: dict[str, dict[str, Any]],
        guild_id: int | None,
        where: str,
    ) -> list[dict[str, Any]]:
        defs = {o["name"]: o for o in node.get("options", [])}
        for key in options:
            if key not in defs:
                raise ValueError(f"{where}: no option {key!r}; options: {list(defs)}")
        wire = []
        for name, spec in defs.items():
            value = options.get(name)
            if value is None:
                if spec.get("required"):
                    raise ValueError(f"{where}: option {name!r} is required")
                continue
            wire.append(
                {
                    "name": name,
                    "type": spec["type"],
                    "value": self._option_value(spec, value, resolved, guild_id, where),
                }
            )
        return wire

    def _option_value(
        self,
        spec: dict[str, Any],
        value: Any,
        resolved: dict[str, dict[str, Any]],
        guild_id: int | None,
        where: str,
    ) -> Any:
        t = spec["type"]
        name = f"{where} {spec['name']}"
        if t == 3:
            if not isinstance(value, str):
                raise TypeError(f"{name}: string option needs a str, not {value!r}")
            if "min_length" in spec and len(value) < spec["min_length"]:
                raise ValueError(f"{name}: shorter than min_length {spec['min_length']}")
            if "max_length" in spec and len(value) > spec["max_length"]:
                raise ValueError(f"{name}: longer than max_length {spec['max_length']}")
        elif t == 4:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name}: integer option needs an int, not {value!r}")
        elif t == 10:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name}: number option needs a number, not {value!r}")
        elif t == 5:
            if not isinstance(value, bool):
                raise TypeError(f"{name}: boolean option needs a bool, not {value!r}")
        elif t in (6, 7, 8, 9, 11):
            return self._resolve(t, value, resolved, guild_id, name)
        else:
            raise ValueError(f"{name}: unsupported option type {t}")
        if t in (4, 10):
            if "min_value" in spec and value < spec["min_value"]:
                raise ValueError(f"{name}: below min_value {spec['min_value']}")
            if "max_value" in spec and value > spec["max_value"]:
                raise ValueError(f"{name}: above max_value {spec['max_value']}")
        if spec.get("choices") and value not in [c["value"] for c in spec["choices"]]:
            raise ValueError(f"{name}: {value!r} is not one of the choices")
        return value

    def _resolve(
        self,
        t: int,
        value: Any,
        resolved: dict[str, dict[str, Any]],
        guild_id: int | None,
        name: str,
    ) -> str:
        """Put a user/channel/role/attachment into `resolved`; return its id string."""
        dc = self.dc
        if t == 11:
            att_id = int(value["id"]) if isinstance(value, dict) else int(value)
            if att_id not in dc._attachments:
                raise LookupError(f"{name}: attachment {att_id} was not added with add_attachment")
            resolved.setdefault("attachments", {})[str(att_id)] = dc._attachments[att_id].payload()
            return str(att_id)
        ident = value.id if hasattr(value, "id") else int(value)
        roles = dc._roles.get(guild_id or 0, {})
        if t in (6, 9) and ident in dc.users:
            resolved.setdefault("users", {})[str(ident)] = dc.users[ident].payload()
            if guild_id is not None and dc._is_member(guild_id, ident):
                member = dc._member_payload(guild_id, ident, with_user=False)
                member["permissions"] = str(dc.permissions(guild_id, ident))
                resolved.setdefault("members", {})[str(ident)] = member
            return str(ident)
        if t in (8, 9) and ident in roles:
            resolved.setdefault("roles", {})[str(ident)] = roles[ident].payload()
            return str(ident)
        if t == 7 and ident in dc._channels:
            chan = dc._channels[ident]
            data = dc._channel_payload(chan)
            data["permissions"] = str(
                dc.permissions(chan.guild_id, dc.bot_user.id, chan.id) if chan.guild_id else 0
            )
            resolved.setdefault("channels", {})[str(ident)] = data
            return str(ident)
        raise LookupError(f"{name}: nothing with id {ident} for option type {t}")

    def modal_value(
        self, f: ModalField, value: Any, resolved: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        where = f"modal input {f.custom_id!r} ({f.label})"
        if f.type == 4:
            text = (f.value or "") if value is None else value
            if not isinstance(text, str):
                raise TypeError(f"{where}: text input needs a str")
            if f.required and not text:
                raise ValueError(f"{where} is required")
            if text and f.min_length and len(text) < f.min_length:
                raise ValueError(f"{where}: shorter than min_length {f.min_length}")
            if f.max_length and len(text) > f.max_length:
                raise ValueError(f"{where}: longer than max_length {f.max_length}")
            return {"value": text}
        if f.type == 23:
            return {"value": bool(value)}
        if f.type == 21:
            if f.required and value is None:
                raise ValueError(f"{where} is required")
            return {"value": value}
        items = [] if value is None else value if isinstance(value, list) else [value]
        if f.required and not items:
            raise ValueError(f"{where} is required")
        if f.type == 19:
            return {"values": [self._resolve(11, v, resolved, None, where) for v in items]}
        if f.type in (5, 6, 7, 8):
            kind = {5: 6, 6: 8, 7: 9, 8: 7}[f.type]
            guild = None
            return {"values": [self._resolve(kind, v, resolved, guild, where) for v in items]}
        if f.type == 3 and f.options:
            known = [o["value"] for o in f.options]
            for v in items:
                if v not in known:
                    raise ValueError(f"{where}: {v!r} is not one of {known}")
        return {"values": [str(v) for v in items]}


# --------------------------------------------------------------------------- helpers


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise form_error(
            "_path", "NUMBER_TYPE_COERCE", f"Value {raw!r} is not snowflake."
        ) from None


def _files_from_parts(parts: list[Part]) -> dict[int, Part]:
    files: dict[int, Part] = {}
    for part in parts:
        match = _FILE_FIELD.match(part.name)
        if match:
            files[int(match.group(1))] = part
        elif part.name == "file" and part.filename is not None:
            files.setdefault(0, part)
    return files


def _content(content: Any) -> str | None:
    if content is None:
        return None
    if not isinstance(content, str):
        raise form_error("content", "BASE_TYPE_STRING", "Must be a string.")
    if len(content) > MAX_CONTENT:
        raise form_error(
            "content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length."
        )
    return content


_EMBED_LIMITS = {"title": 256, "description": 4096}


def _embeds(payload: dict[str, Any]) -> list[dict[str, Any]]:
    embeds = payload.get("embeds")
    if embeds is None and payload.get("embed"):
        embeds = [payload["embed"]]
    embeds = embeds or []
    if not isinstance(embeds, list):
        raise form_error("embeds", "LIST_TYPE_CONVERT", "Must be a list.")
    if len(embeds) > 10:
        raise form_error("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    for n, embed in enumerate(embeds):
        for key, limit in _EMBED_LIMITS.items():
            text = embed.get(key) or ""
            total += len(text)
            if len(text) > limit:
                raise form_error(
                    f"embeds.{n}.{key}",
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {limit} or fewer in length.",
                )
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise form_error(f"embeds.{n}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer.")
        for fld in fields:
            total += len(fld.get("name", "")) + len(fld.get("value", ""))
        total += len((embed.get("footer") or {}).get("text", ""))
        total += len((embed.get("author") or {}).get("name", ""))
    if total > 6000:
        raise form_error(
            "embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
        )
    return embeds


_SELECT_TYPES = (3, 5, 6, 7, 8)


def _components(components: Any) -> list[dict[str, Any]]:
    """Store components as Discord echoes them: numeric `id`s filled in sequentially
    (skipping ids already used) and select/container defaults made explicit."""
    if components is None:
        return []
    if not isinstance(components, list):
        raise form_error("components", "LIST_TYPE_CONVERT", "Must be a list.")
    components = json.loads(json.dumps(components))  # our own copy
    every: list[dict[str, Any]] = []

    def walk(comp: Any) -> None:
        if not isinstance(comp, dict):
            return
        every.append(comp)
        for key in ("components", "items"):
            for child in comp.get(key) or []:
                walk(child)
        for key in ("component", "accessory"):
            walk(comp.get(key))

    for comp in components:
        walk(comp)
    used = {c["id"] for c in every if isinstance(c.get("id"), int)}
    next_id = 1
    for comp in every:
        if not isinstance(comp.get("id"), int):
            while next_id in used:
                next_id += 1
            comp["id"] = next_id
            used.add(next_id)
        if comp.get("type") in _SELECT_TYPES:
            comp.setdefault("min_values", 1)
            comp.setdefault("max_values", 1)
        if comp.get("type") == 17:
            comp.setdefault("accent_color", None)
            comp.setdefault("spoiler", False)
    return components


def _check_not_empty(content, embeds, components, attachments, payload: dict[str, Any]) -> None:
    if not (content or embeds or components or attachments) and not (
        payload.get("sticker_ids") or payload.get("poll")
    ):
        raise DiscordHTTPError(400, 50006, "Cannot send an empty message")


def _check_components_v2(flags: int, content: str | None, embeds: list[Any]) -> None:
    if flags & FLAG_COMPONENTS_V2 and (content or embeds):
        raise form_error(
            "content",
            "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
            "The 'content' and 'embeds' fields cannot be used when using "
            "MessageFlags.IS_COMPONENTS_V2",
        )


def _validate_modal(data: dict[str, Any]) -> None:
    def bad_length(path: str, lo: int, hi: int, value: Any) -> None:
        if not isinstance(value, str) or not lo <= len(value) <= hi:
            raise form_error(
                path, "BASE_TYPE_BAD_LENGTH", f"Must be between {lo} and {hi} in length."
            )

    bad_length("data.custom_id", 1, 100, data.get("custom_id"))
    bad_length("data.title", 1, 45, data.get("title"))
    comps = data.get("components")
    if not isinstance(comps, list) or not 1 <= len(comps) <= 5:
        raise form_error(
            "data.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."
        )
    seen: set[str] = set()
    for n, comp in enumerate(comps):
        base = f"data.components.{n}"
        inner: list[tuple[str, dict[str, Any], str | None]] = []
        if comp.get("type") == 1:
            inner = [
                (f"{base}.components.{i}", c, None)
                for i, c in enumerate(comp.get("components", []))
            ]
        elif comp.get("type") == 18:
            bad_length(f"{base}.label", 1, 45, comp.get("label"))
            if comp.get("description") is not None:
                bad_length(f"{base}.description", 0, 100, comp["description"])
            inner = [(f"{base}.component", comp.get("component") or {}, comp.get("label"))]
        for path, child, _label in inner:
            if "custom_id" in child:
                bad_length(f"{path}.custom_id", 1, 100, child["custom_id"])
                if child["custom_id"] in seen:
                    raise form_error(
                        f"{path}.custom_id",
                        "COMPONENT_CUSTOM_ID_DUPLICATED",
                        "Component custom id cannot be duplicated",
                    )
                seen.add(child["custom_id"])
            if child.get("type") == 4:
                if comp.get("type") == 1:
                    bad_length(f"{path}.label", 1, 45, child.get("label"))
                if child.get("style") not in (1, 2):
                    raise form_error(
                        f"{path}.style", "BASE_TYPE_CHOICES", "Value must be one of (1, 2)."
                    )
                for key, lo, hi in (("min_length", 0, 4000), ("max_length", 1, 4000)):
                    if key in child and not lo <= child[key] <= hi:
                        raise form_error(
                            f"{path}.{key}",
                            "NUMBER_TYPE_MAX",
                            f"Int value should be between {lo} and {hi}.",
                        )
                if "value" in child and len(child["value"] or "") > 4000:
                    raise form_error(
                        f"{path}.value", "BASE_TYPE_MAX_LENGTH", "Must be 4000 or fewer in length."
                    )
                if "placeholder" in child and len(child["placeholder"] or "") > 100:
                    raise form_error(
                        f"{path}.placeholder",
                        "BASE_TYPE_MAX_LENGTH",
                        "Must be 100 or fewer in length.",
                    )


def _as_input(commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    drop = {"id", "application_id", "version", "guild_id"}
    return [{k: v for k, v in c.items() if k not in drop} for c in commands]


def _build_commands(
    dc: DiscordStandIn,
    existing: list[dict[str, Any]],
    incoming: list[Any],
    guild_id: int | None,
) -> list[dict[str, Any]]:
    """Validate like Discord and store; commands keep their id across syncs (by name+type)."""
    old = {(c["name"], c.get("type", 1)): c for c in existing}
    seen: set[tuple[str, int]] = set()
    counts = {1: 0, 2: 0, 3: 0}
    out: list[dict[str, Any]] = []
    for i, cmd in enumerate(incoming):
        if not isinstance(cmd, dict):
            raise form_error(f"{i}", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        ctype = cmd.get("type") or 1
        _validate_command(cmd, ctype, str(i))
        key = (cmd["name"], ctype)
        if key in seen:
            raise form_error(
                f"{i}.name",
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                "Application command names must be unique",
            )
        seen.add(key)
        counts[ctype] = counts.get(ctype, 0) + 1
        if counts[ctype] > _MAX_COMMANDS.get(ctype, 5):
            raise DiscordHTTPError(400, 30032, "Maximum number of application commands reached")
        previous = old.get(key)
        perms = cmd.get("default_member_permissions")
        stored: dict[str, Any] = {
            "id": previous["id"] if previous else str(new_snowflake()),
            "application_id": str(dc.app_id),
            "version": str(new_snowflake()),
            "default_member_permissions": (
                None if perms is None else str(int(perms))  # Discord answers with a string
            ),
            "type": ctype,
            "name": cmd["name"],
            "name_localizations": cmd.get("name_localizations"),
            "description": cmd.get("description", ""),
            "description_localizations": cmd.get("description_localizations"),
            "contexts": cmd.get("contexts"),
            "integration_types": cmd.get("integration_types") or [0],
            "nsfw": bool(cmd.get("nsfw", False)),
        }
        if cmd.get("options"):
            stored["options"] = cmd["options"]
        if guild_id is None:
            stored["dm_permission"] = cmd.get("dm_permission", True)
        else:
            stored["guild_id"] = str(guild_id)
        if previous is not None and _as_input([previous]) == _as_input([stored]):
            stored["version"] = previous["version"]
        out.append(stored)
    return out


def _validate_command(cmd: dict[str, Any], ctype: int, where: str) -> None:
    name = cmd.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        raise form_error(
            f"{where}.name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length."
        )
    description = cmd.get("description") or ""
    if ctype == 1:
        if not _COMMAND_NAME.match(name) or name != name.lower():
            raise form_error(
                f"{where}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
            )
        if not 1 <= len(description) <= 100:
            raise form_error(
                f"{where}.description",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        _validate_options(cmd.get("options") or [], f"{where}.options", depth=0)
    elif description:
        raise form_error(
            f"{where}.description",
            "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
            "Context menu commands cannot have description",
        )


def _validate_options(options: list[dict[str, Any]], where: str, depth: int) -> None:
    if len(options) > 25:
        raise form_error(where, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    names: set[str] = set()
    seen_optional = False
    kinds = {o.get("type") in (1, 2) for o in options}
    if len(kinds) > 1:
        raise form_error(
            where,
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Sub-command and sub-command group option types are mutually exclusive "
            "to all other types",
        )
    for n, opt in enumerate(options):
        path = f"{where}.{n}"
        otype = opt.get("type")
        name = opt.get("name")
        if not isinstance(name, str) or not _COMMAND_NAME.match(name) or name != name.lower():
            raise form_error(
                f"{path}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
            )
        if name in names:
            raise form_error(
                f"{path}.name",
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option names must be unique",
            )
        names.add(name)
        if not 1 <= len(opt.get("description") or "") <= 100:
            raise form_error(
                f"{path}.description",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        if otype not in range(1, 12):
            raise form_error(
                f"{path}.type", "BASE_TYPE_CHOICES", f"Value must be one of {list(range(1, 12))}."
            )
        if (otype == 2 and depth > 0) or (otype == 1 and depth > 1):
            raise form_error(
                f"{path}.type", "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Nesting too deep"
            )
        if otype in (1, 2):
            _validate_options(opt.get("options") or [], f"{path}.options", depth + 1)
            continue
        if opt.get("required"):
            if seen_optional:
                raise form_error(
                    f"{path}.required",
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        if len(opt.get("choices") or []) > 25:
            raise form_error(
                f"{path}.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
            )
