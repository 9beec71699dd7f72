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
    ) as dc:
        dc.api_base, dc.gateway_url, dc.cdn_base, dc.token, dc.app_id, dc.bot_user
        dc.guild_id, dc.channel_id                      # the first guild / its first channel
        dc.user("alice") -> UserSpec                    # also dc.users: {id: UserSpec}
        dc.guild(guild_id=None) -> GuildSpec; dc.channel_ids(guild_id=None) -> list[int]
        with dc.patch_discord_py(): ...                 # point discord.py at the stand-in

        await dc.wait_ready(timeout=10)                 # READY + every GUILD_CREATE sent
        await dc.wait_commands_synced(guild_id=None)    # list of synced command dicts
        att = dc.add_attachment("song.mp3", data)       # bytes or a path; -> attachment dict
        ix = await dc.invoke_command("sing", {"prompt": "x", "audio": att},
                                     user_id=None, guild_id=None, channel_id=None)
        cb = await ix.wait_callback()                   # Callback(type, data, attachments)
        ix.modal_fields() -> list[ModalField]           # custom_id, label, type, required...
        sub = await ix.submit_modal({"Lyrics": "la la"})  # by custom_id or label
        await sub.wait_original(); await sub.wait_followups(1)
        ix2 = await dc.click(message, "custom-id", values=None)   # button / select (type 3)
        msg = await dc.wait_for_message(channel_id=None, predicate=None, timeout=10)
        dc.messages(channel_id=None, include_ephemeral=True, include_deleted=False)
        msg.content, msg.files, msg.attachments, msg.embeds, msg.components, msg.author_id,
        msg.allowed_mentions, msg.resolved_mentions, msg.notified, msg.message_reference,
        msg.flags, msg.ephemeral, msg.edits, msg.deleted, msg.source, msg.interaction_id
        dc.post_user_message(content, channel_id=None, user_id=None, reply_to=None)
        dc.requests -> list[RecordedRequest];  dc.find_requests(method=None, route=None, path=None)
        await dc.wait_for_request(method, path_regex, predicate=None)
        dc.faults.add("POST", r"/channels/\\d+/messages$", 429, count=1, retry_after=0.05)
        dc.openapi_violations(responses=False) -> list[Violation]; dc.openapi_enabled
        dc.unhandled_requests -> requests to routes the stand-in does not implement
        await dc.gateway_reconnect(); await dc.gateway_invalidate(); await dc.gateway_drop()
        await dc.wait_until(lambda: ..., timeout, what)  # generic: re-checked on every change

All waits wake on state changes (no polling). Faults match `path_regex` with `re.search`
against the path below the API base ("/channels/1/messages") or the CDN path.
`dc.internal_errors` lists stand-in crashes (answered 503, which discord.py does not retry).

Discord behaviour modelled (so the bot meets it here before production)
-----------------------------------------------------------------------
* Interactions: the first callback must come within `interaction_ack_deadline` (3 s) or it
  gets 404 10062; a second callback gets 400 40060; followups before any callback get
  10015; `ix.expire()` simulates the 15-minute token (webhooks then 401 50027). The first
  followup after a deferred reply (type 5) fills the "thinking" message instead of creating
  one and keeps the defer's ephemeral flag. Modal definitions are checked (title <= 45,
  1-5 components, labels <= 45, ...). Modal submits mirror the modal's layout: action-row
  inputs come back in action rows, Label-wrapped ones in Labels (type 18).
* Messages: content <= 2000, <= 10 embeds / 6000 chars, empty messages 50006, missing
  channel permissions 50001/50013 (`ChannelSpec.bot_denied`), files summed against the
  guild's limit (10/10/50/100 MiB by premium tier, 10 MiB in DMs) -> 413 40005; uploaded
  names are sanitised ("my song.mp3" -> "my_song.mp3") and content types guessed from the
  name. Components get numeric ids. Edits keep earlier versions in `msg.edits`.
* Mentions: `msg.resolved_mentions` is what Discord puts in `mentions`/`mention_roles`/
  `mention_everyone`; `msg.notified` who was actually pinged (nobody for ephemeral or
  SUPPRESS_NOTIFICATIONS messages; edits ping nobody, except the content a deferred reply
  gets). See `discord_model.resolve_mentions` for the rules.
* Gateway: MESSAGE_CREATE/UPDATE/DELETE go to sessions with the GUILD_MESSAGES /
  DIRECT_MESSAGES intent, with content blanked without MESSAGE_CONTENT (unless the bot is
  mentioned); RESUME replays missed events; a clean client close ends the session.
* CDN URLs carry `ex`/`is`/`hm`; without them the CDN answers 404, as Discord's does.

Run by hand: `python -m tests.standins.discord --port 8766`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import mimetypes
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from . import discord_openapi
from .discord_gateway import (
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILD_PRESENCES,
    INTENT_MESSAGE_CONTENT,
    OP_INVALID_SESSION,
    OP_RECONNECT,
    Gateway,
)
from .discord_model import (
    DM_FILESIZE_LIMIT,
    FLAG_EPHEMERAL,
    ChannelSpec,
    GuildSpec,
    Mentions,
    Perm,
    RoleSpec,
    StoredAttachment,
    StoredMessage,
    UserSpec,
    cdn_signature,
    iso,
    new_snowflake,
    resolve_mentions,
    sanitize_filename,
    snowflake_time,
)
from .discord_rest import RestApi

__all__ = [
    "Callback",
    "ChannelSpec",
    "DiscordStandIn",
    "Fault",
    "Faults",
    "GuildSpec",
    "InteractionHandle",
    "Mentions",
    "ModalField",
    "Perm",
    "RecordedRequest",
    "RoleSpec",
    "StoredAttachment",
    "StoredMessage",
    "UserSpec",
]

T = TypeVar("T")
API_PREFIX = "/api/v10"


# --------------------------------------------------------------------------- recording


@dataclass
class PartSummary:
    name: str
    filename: str | None
    content_type: str | None
    size: int


@dataclass
class RecordedRequest:
    """One HTTP request the stand-in received (Authorization value redacted)."""

    method: str
    path: str  # below the API base for REST ("/channels/1/messages"), full path for CDN
    query: dict[str, str]
    headers: dict[str, str]
    timestamp: float
    kind: str  # "rest" | "cdn"
    json: Any = None
    parts: list[PartSummary] = field(default_factory=list)
    authorization: str | None = None  # scheme only ("Bot"), None when absent
    route: str | None = None  # "/channels/{channel_id}/messages"
    status: int | None = None
    response: Any = None  # decoded JSON response body
    fault: Fault | None = None
    unhandled: bool = False
    query_items: list[tuple[str, str]] = field(default_factory=list, repr=False)
    validation_body: bytes | None = field(default=None, repr=False)
    validation_ctype: str | None = field(default=None, repr=False)
    response_body: bytes | None = field(default=None, repr=False)
    response_ctype: str | None = field(default=None, repr=False)
    response_headers: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def files(self) -> list[PartSummary]:
        return [p for p in self.parts if p.filename is not None]

    @property
    def multipart(self) -> bool:
        return bool(self.parts)

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


# --------------------------------------------------------------------------- faults


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int | None
    remaining: int | None  # None: forever
    retry_after: float | None
    body: Any
    headers: dict[str, str]
    delay: float
    is_global: bool
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        return self.method in ("*", method.upper()) and bool(self.pattern.search(path))

    def response(self, route_key: str) -> web.Response:
        status = self.status or 500
        headers = dict(self.headers)
        if status == 429:
            retry_after = 0.05 if self.retry_after is None else self.retry_after
            body = self.body or {
                "message": "You are being rate limited.",
                "retry_after": retry_after,
                "global": self.is_global,
                "code": 0,
            }
            headers.setdefault("Via", "1.1 google")
            headers.setdefault("Retry-After", str(max(1, math.ceil(retry_after))))
            if self.is_global:
                headers.setdefault("X-RateLimit-Global", "true")
                headers.setdefault("X-RateLimit-Scope", "global")
            else:
                headers.update(_ratelimit_headers(route_key, remaining=0, reset_after=retry_after))
                headers.setdefault("X-RateLimit-Scope", "user")
        elif status == 413:
            body = self.body or {"message": "Request entity too large", "code": 40005}
        else:
            body = self.body
            if body is None:
                reason = _REASONS.get(status, "Error")
                body = {"message": f"{status}: {reason}", "code": 0}
        if isinstance(body, str | bytes):
            headers.setdefault("Content-Type", "text/html")
            raw = body.encode() if isinstance(body, str) else body
            return web.Response(status=status, body=raw, headers=headers)
        return json_response(body, status=status, headers=headers)


_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Request entity too large",
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
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        is_global: bool = False,
    ) -> Fault:
        """Fail the next `count` matching requests (None: all) with `status`.

        status=None with delay>0 only slows the request down. 429 gets Discord's JSON body
        (`retry_after`, `global`), a `Via` header and X-RateLimit-* headers, so discord.py
        sleeps and retries; 500/502/504 are retried by discord.py after 1 s, 3 s, ...
        """
        fault = Fault(
            method=method.upper(),
            pattern=re.compile(path_regex),
            status=status,
            remaining=count,
            retry_after=retry_after,
            body=body,
            headers=dict(headers or {}),
            delay=delay,
            is_global=is_global,
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


def json_response(obj: Any, *, status: int = 200, headers: Mapping[str, str] | None = None):
    """JSON with Content-Type exactly `application/json` (discord.py compares it verbatim)."""
    out = {**(headers or {}), "Content-Type": "application/json"}
    return web.Response(status=status, body=_dumps(obj), headers=out)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _ratelimit_headers(route_key: str, *, remaining: int, reset_after: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        "X-RateLimit-Bucket": hashlib.md5(route_key.encode(), usedforsecurity=False).hexdigest(),
    }


# --------------------------------------------------------------------------- interactions


@dataclass
class Callback:
    """One interaction callback the bot made (POST /interactions/{id}/{token}/callback)."""

    type: int
    data: dict[str, Any] | None
    attachments: list[StoredAttachment]
    request: RecordedRequest
    message_id: int | None = None

    @property
    def modal(self) -> dict[str, Any] | None:
        return self.data if self.type == 9 else None

    @property
    def ephemeral(self) -> bool:
        return bool((self.data or {}).get("flags", 0) & FLAG_EPHEMERAL)


@dataclass
class ModalField:
    """An input of a modal the bot opened (inside an action row or a Label)."""

    custom_id: str
    type: int  # 4 text input, 3/5-8 selects, 19 file upload, 21-23 radio/checkbox
    label: str | None
    required: bool
    style: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    value: str | None = None  # pre-filled text
    placeholder: str | None = None
    options: list[dict[str, Any]] = field(default_factory=list)
    component: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class _Interaction:
    id: int
    token: str
    type: int
    payload: dict[str, Any]
    user_id: int
    guild_id: int | None
    channel_id: int
    created: float
    size_limit: int
    name: str | None = None
    component_message_id: int | None = None
    parent_id: int | None = None  # for a modal submit: the interaction that opened the modal
    callbacks: list[Callback] = field(default_factory=list)
    original_message_id: int | None = None
    message_ids: list[int] = field(default_factory=list)
    followup_ids: list[int] = field(default_factory=list)
    expired: bool = False

    @property
    def acked(self) -> bool:
        return bool(self.callbacks)


class InteractionHandle:
    """What a test holds after dispatching an interaction to the bot."""

    def __init__(self, dc: DiscordStandIn, record: _Interaction) -> None:
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
        for cb in self._rec.callbacks:
            if cb.type == 9:
                return cb.data
        return None

    def modal_fields(self) -> list[ModalField]:
        if self.modal is None:
            raise LookupError(f"the bot opened no modal for interaction {self.id}")
        return _modal_fields(self.modal.get("components", []))

    @property
    def original_message(self) -> StoredMessage | None:
        mid = self._rec.original_message_id
        return self._dc._messages.get(mid) if mid is not None else None

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
        return [self._dc._messages[m] for m in self._rec.followup_ids]

    async def wait_followups(self, n: int = 1, timeout: float = 10.0) -> list[StoredMessage]:
        return await self._dc.wait_until(
            lambda: self.followups[:n] if len(self.followups) >= n else None,
            timeout,
            f"{n} followup(s) to interaction {self.id}",
        )

    @property
    def messages(self) -> list[StoredMessage]:
        """Every message this interaction's token created (original first)."""
        return [self._dc._messages[m] for m in self._rec.message_ids]

    def expire(self) -> None:
        """Simulate the 15-minute token expiry: callbacks and webhooks now fail."""
        self._rec.expired = True

    async def submit_modal(
        self,
        values: Mapping[str, Any],
        *,
        user_id: int | None = None,
        timeout: float = 10.0,
    ) -> InteractionHandle:
        """Submit the modal the bot opened, as a user's client would.

        `values` is keyed by custom_id or by label (case-insensitive). Text inputs take str,
        selects/checkbox groups a list of str, file uploads an attachment dict (or a list),
        checkboxes a bool. Required inputs left out and over-long text raise ValueError, as
        the client would refuse to submit; pre-filled text inputs keep their value.
        """
        await self.wait_callback(timeout)
        modal = self.modal
        if modal is None:
            raise LookupError(f"interaction {self.id} answered with {self.callback}, not a modal")
        return await self._dc._submit_modal(self, modal, values, user_id=user_id)


def _modal_fields(components: list[dict[str, Any]]) -> list[ModalField]:
    out: list[ModalField] = []

    def visit(comp: dict[str, Any], label: str | None) -> None:
        ctype = comp.get("type")
        if ctype == 1:
            for child in comp.get("components", []):
                visit(child, None)
        elif ctype == 18:
            visit(comp.get("component", {}), comp.get("label"))
        elif "custom_id" in comp:
            default_required = ctype not in (23,)
            required = comp.get("required", default_required)
            if ctype in (3, 5, 6, 7, 8, 19, 22) and "min_values" in comp:
                required = required and comp["min_values"] > 0
            out.append(
                ModalField(
                    custom_id=comp["custom_id"],
                    type=ctype,
                    label=label if label is not None else comp.get("label"),
                    required=bool(required),
                    style=comp.get("style"),
                    min_length=comp.get("min_length"),
                    max_length=comp.get("max_length"),
                    value=comp.get("value"),
                    placeholder=comp.get("placeholder"),
                    options=comp.get("options", []),
                    component=comp,
                )
            )

    for comp in components:
        visit(comp, None)
    return out


# --------------------------------------------------------------------------- channels


@dataclass
class _Channel:
    id: int
    guild_id: int | None
    name: str
    type: int = 0
    topic: str | None = None
    bot_denied: int = 0
    position: int = 0
    recipients: list[int] = field(default_factory=list)
    last_message_id: int | None = None


# --------------------------------------------------------------------------- the stand-in


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
        heartbeat_interval_ms: int = 41250,
        cdn_require_signature: bool = True,
        ratelimit_headers: bool = True,
        application_flags: int = 0,
    ) -> None:
        self.token = token
        self.app_id = app_id or new_snowflake()
        self.bot_user = UserSpec(username=bot_name, id=self.app_id, bot=True)
        self.host = host
        self.port = port
        self.application_flags = application_flags
        self.interaction_ack_deadline = interaction_ack_deadline
        self.cdn_require_signature = cdn_require_signature
        self.ratelimit_headers = ratelimit_headers
        self._openapi_path = Path(openapi_path) if openapi_path else discord_openapi.spec_path()
        if validate_openapi is None:
            validate_openapi = discord_openapi.spec_available(self._openapi_path)
        self.validate_openapi = validate_openapi
        self._cdn_secret = secrets.token_bytes(16)

        human = users if users is not None else [UserSpec("alice"), UserSpec("bob")]
        for user in human:
            user.id = user.id or new_snowflake()
        self.users: dict[int, UserSpec] = {u.id: u for u in human}
        self.users[self.bot_user.id] = self.bot_user

        self.guild_specs = guilds if guilds is not None else [GuildSpec()]
        self._guilds: dict[int, GuildSpec] = {}
        self._channels: dict[int, _Channel] = {}
        self._roles: dict[int, dict[int, RoleSpec]] = {}
        self._bot_role: dict[int, int] = {}
        for guild in self.guild_specs:
            self._add_guild(guild)

        self._messages: dict[int, StoredMessage] = {}
        self._channel_messages: dict[int, list[int]] = {}
        self._attachments: dict[int, StoredAttachment] = {}
        self._interactions: dict[int, _Interaction] = {}
        self._by_token: dict[str, _Interaction] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.command_syncs: list[int | None] = []  # scope of each PUT (None = global)
        self.requests: list[RecordedRequest] = []
        self.reactions: list[tuple[int, int, str]] = []  # (channel, message, emoji)
        self.typing: list[int] = []  # channel ids the bot triggered typing in
        self.internal_errors: list[BaseException] = []  # stand-in bugs (answered with 503)
        self.faults = Faults()
        self.gateway = Gateway(self, heartbeat_interval_ms)
        self.rest = RestApi(self)
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ setup

    def _add_guild(self, guild: GuildSpec) -> None:
        guild.id = guild.id or new_snowflake()
        self._guilds[guild.id] = guild
        specs: list[ChannelSpec] = []
        for i, chan in enumerate(guild.channels):
            spec = chan if isinstance(chan, ChannelSpec) else ChannelSpec(f"channel-{i}", id=chan)
            spec.id = spec.id or new_snowflake()
            spec.position = spec.position or i
            specs.append(spec)
        guild.channels = list(specs)
        for spec in specs:
            self._channels[spec.id] = _Channel(
                id=spec.id,
                guild_id=guild.id,
                name=spec.name,
                type=spec.type,
                topic=spec.topic,
                bot_denied=spec.bot_denied,
                position=spec.position,
            )
        roles: dict[int, RoleSpec] = {
            guild.id: RoleSpec(
                "@everyone", id=guild.id, permissions=guild.everyone_permissions, position=0
            )
        }
        for role in guild.roles:
            role.id = role.id or new_snowflake()
            roles[role.id] = role
        bot_role = RoleSpec(
            self.bot_user.username,
            id=new_snowflake(),
            permissions=guild.bot_permissions,
            managed=True,
            bot_id=self.bot_user.id,
            position=len(roles),
        )
        roles[bot_role.id] = bot_role
        self._roles[guild.id] = roles
        self._bot_role[guild.id] = bot_role.id
        if guild.member_ids is None:
            guild.member_ids = [u for u, spec in self.users.items() if not spec.bot]
        if guild.owner_id is None:
            guild.owner_id = guild.member_ids[0] if guild.member_ids else self.bot_user.id

    async def start(self) -> DiscordStandIn:
        app = web.Application(client_max_size=1024**3, middlewares=[self.rest.middleware])
        self.rest.add_routes(app)
        app.router.add_get("/gateway", self.gateway.handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
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

    def env(self) -> dict[str, str]:
        return {"DISCORD_API_BASE": self.api_base, "DISCORD_GATEWAY_URL": self.gateway_url}

    @contextlib.contextmanager
    def patch_discord_py(self) -> Iterator[None]:
        """Point the imported discord.py at this stand-in; restore on exit."""
        import discord
        import yarl

        old = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old

    # ------------------------------------------------------------------ lookups

    @property
    def guild_id(self) -> int:
        return self.guild_specs[0].id

    @property
    def channel_id(self) -> int:
        return self.channel_ids()[0]

    def guild(self, guild_id: int | None = None) -> GuildSpec:
        return self._guilds[guild_id or self.guild_id]

    def channel_ids(self, guild_id: int | None = None) -> list[int]:
        gid = guild_id or self.guild_id
        return [c.id for c in self._channels.values() if c.guild_id == gid and c.type == 0]

    def user(self, name_or_id: str | int) -> UserSpec:
        for user in self.users.values():
            if name_or_id in (user.id, user.username):
                return user
        raise LookupError(
            f"no user {name_or_id!r}; known: {[u.username for u in self.users.values()]}"
        )

    @property
    def default_user_id(self) -> int:
        return next(u.id for u in self.users.values() if not u.bot)

    def filesize_limit(self, channel_id: int) -> int:
        chan = self._channels.get(channel_id)
        if chan is None or chan.guild_id is None:
            return DM_FILESIZE_LIMIT
        return self._guilds[chan.guild_id].filesize_limit

    def permissions(self, guild_id: int, user_id: int, channel_id: int | None = None) -> int:
        guild = self._guilds[guild_id]
        if user_id == guild.owner_id:
            return Perm.ALL
        roles = self._roles[guild_id]
        perms = roles[guild_id].permissions
        for rid in self._member_role_ids(guild_id, user_id):
            perms |= roles[rid].permissions
        if perms & Perm.ADMINISTRATOR:
            return Perm.ALL
        chan = self._channels.get(channel_id) if channel_id is not None else None
        if chan is not None and user_id == self.bot_user.id:
            perms &= ~chan.bot_denied
        return perms

    def _member_role_ids(self, guild_id: int, user_id: int) -> list[int]:
        if user_id == self.bot_user.id:
            return [self._bot_role[guild_id]]
        return list(self._guilds[guild_id].member_roles.get(user_id, []))

    def _is_member(self, guild_id: int, user_id: int) -> bool:
        guild = self._guilds[guild_id]
        return user_id == self.bot_user.id or user_id in (guild.member_ids or [])

    # ------------------------------------------------------------------ payloads

    def _member_payload(self, guild_id: int, user_id: int, *, with_user: bool = True) -> dict:
        joined = iso(snowflake_time(guild_id))
        data: dict[str, Any] = {
            "roles": [str(r) for r in self._member_role_ids(guild_id, user_id)],
            "nick": None,
            "avatar": None,
            "banner": None,
            "joined_at": joined,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.users[user_id].payload()
        return data

    def _member_payloads(self, guild_id: int) -> list[dict[str, Any]]:
        ids = [*(self._guilds[guild_id].member_ids or []), self.bot_user.id]
        return [self._member_payload(guild_id, uid) for uid in ids]

    def _channel_payload(self, chan: _Channel) -> dict[str, Any]:
        if chan.guild_id is None:
            return {
                "id": str(chan.id),
                "type": chan.type,
                "last_message_id": str(chan.last_message_id) if chan.last_message_id else None,
                "recipients": [self.users[u].payload() for u in chan.recipients],
                "flags": 0,
            }
        overwrites = []
        if chan.bot_denied:
            overwrites.append(
                {"id": str(self.bot_user.id), "type": 1, "allow": "0", "deny": str(chan.bot_denied)}
            )
        return {
            "id": str(chan.id),
            "type": chan.type,
            "guild_id": str(chan.guild_id),
            "name": chan.name,
            "position": chan.position,
            "permission_overwrites": overwrites,
            "nsfw": False,
            "parent_id": None,
            "topic": chan.topic,
            "last_message_id": str(chan.last_message_id) if chan.last_message_id else None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def _guild_payload(self, guild_id: int) -> dict[str, Any]:
        guild = self._guilds[guild_id]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "home_header": None,
            "owner_id": str(guild.owner_id),
            "region": "deprecated",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "widget_channel_id": None,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in self._roles[guild_id].values()],
            "emojis": [],
            "stickers": [],
            "features": list(guild.features),
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_members": 500000,
            "max_presences": None,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "vanity_url_code": None,
            "premium_tier": guild.premium_tier,
            "premium_subscription_count": [0, 2, 7, 14][min(guild.premium_tier, 3)],
            "premium_progress_bar_enabled": False,
            "preferred_locale": guild.locale,
            "nsfw_level": 0,
            "nsfw": False,
            "hub_type": None,
            "incidents_data": None,
        }

    def _guild_create_payload(self, guild_id: int, intents: int = 0) -> dict[str, Any]:
        data = self._guild_payload(guild_id)
        members = self._guilds[guild_id].member_ids or []
        if intents & INTENT_GUILD_PRESENCES:
            # With GUILD_PRESENCES, Discord sends every member of a non-large guild here
            # (discord.py then skips chunking).
            member_list = self._member_payloads(guild_id)
        else:
            # Otherwise only the bot's own member; the rest come from REQUEST_GUILD_MEMBERS.
            member_list = [self._member_payload(guild_id, self.bot_user.id)]
        data.update(
            {
                "joined_at": iso(snowflake_time(guild_id)),
                "large": False,
                "unavailable": False,
                "lazy": True,
                "member_count": len(members) + 1,
                "members": member_list,
                "channels": [
                    self._channel_payload(c)
                    for c in self._channels.values()
                    if c.guild_id == guild_id
                ],
                "threads": [],
                "presences": [],
                "voice_states": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
                "embedded_activities": [],
                "application_command_counts": {},
            }
        )
        return data

    def _message_payload(self, msg: StoredMessage) -> dict[str, Any]:
        ref = None
        if msg.message_reference and msg.message_reference.get("message_id"):
            ref = self._messages.get(int(msg.message_reference["message_id"]))
        return msg.payload(self.users, ref)

    # ------------------------------------------------------------------ change notification

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def wait_until(
        self, check: Callable[[], T | None], timeout: float = 10.0, what: str = "condition"
    ) -> T:
        """Return `check()` once it is truthy; re-evaluated on every stand-in state change."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._changed
            result = check()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = "\n  ".join(str(r) for r in self.requests[-15:]) or "(none)"
                raise TimeoutError(
                    f"timed out after {timeout}s waiting for {what}; last requests:\n  {recent}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Until a connected session got READY and a GUILD_CREATE for each of its guilds."""
        await self.wait_until(
            lambda: bool(self.gateway.connected_sessions()), timeout, "the bot to IDENTIFY"
        )

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

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        if guild_id is None:
            return self.global_commands
        return self.guild_commands.get(guild_id, [])

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

    def messages(
        self,
        channel_id: int | None = None,
        *,
        include_ephemeral: bool = True,
        include_deleted: bool = False,
    ) -> list[StoredMessage]:
        """Stored messages, oldest first."""
        out = []
        for msg in self._messages.values():
            if channel_id is not None and msg.channel_id != channel_id:
                continue
            if msg.deleted and not include_deleted:
                continue
            if msg.ephemeral and not include_ephemeral:
                continue
            out.append(msg)
        return sorted(out, key=lambda m: m.id)

    def message(self, message_id: int) -> StoredMessage:
        return self._messages[message_id]

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
        def check() -> RecordedRequest | None:
            for r in self.find_requests(method, path=path_regex):
                if r.status is not None and (predicate is None or predicate(r)):
                    return r
            return None

        return await self.wait_until(check, timeout, f"{method} {path_regex}")

    @property
    def unhandled_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.unhandled]

    @property
    def openapi_enabled(self) -> bool:
        return bool(self.validate_openapi) and discord_openapi.spec_available(self._openapi_path)

    def openapi_violations(self, *, responses: bool = False) -> list[discord_openapi.Violation]:
        """Recorded REST requests (and with responses=True the stand-in's own answers) that
        break Discord's OpenAPI description. [] when validation is off or the spec is absent."""
        if not self.openapi_enabled:
            return []
        return discord_openapi.check(self.requests, responses=responses, path=self._openapi_path)

    # ------------------------------------------------------------------ gateway controls

    async def gateway_reconnect(self) -> None:
        """Send op 7 RECONNECT: discord.py reconnects and RESUMEs."""
        await self.gateway.send_op(OP_RECONNECT)

    async def gateway_invalidate(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION: discord.py re-IDENTIFYs (or resumes if resumable)."""
        await self.gateway.send_op(OP_INVALID_SESSION, resumable)

    async def gateway_drop(self, code: int = 4000) -> None:
        """Close every gateway connection from the server side (4000: resumable)."""
        await self.gateway.close_all(code=code)

    @property
    def sessions(self) -> list[Any]:
        return list(self.gateway.sessions.values())

    # ------------------------------------------------------------------ attachments

    def _attachment_url(self, prefix: str, owner: int, att_id: int, filename: str) -> str:
        path = f"/{prefix}/{owner}/{att_id}/{filename}"
        query = "&".join(f"{k}={v}" for k, v in cdn_signature(self._cdn_secret, path).items())
        return f"{self.cdn_base}{path}?{query}&"

    def add_attachment(
        self,
        filename: str,
        data: bytes | os.PathLike[str] | str,
        content_type: str | None = None,
        *,
        description: str | None = None,
    ) -> dict[str, Any]:
        """A user's upload (e.g. for an attachment option); served by the stand-in's CDN.

        `data` is bytes or a file path (served from disk, with Range support). Returns the
        Discord attachment object (id, filename, size, url, proxy_url, content_type, ...).
        """
        att_id = new_snowflake()
        name = sanitize_filename(filename)
        path: str | None = None
        raw: bytes | None = None
        if isinstance(data, bytes | bytearray | memoryview):
            raw = bytes(data)
            size = len(raw)
        else:
            path = os.fspath(data)
            size = os.path.getsize(path)
        att = StoredAttachment(
            id=att_id,
            filename=name,
            data=raw,
            path=path,
            size=size,
            url=self._attachment_url("ephemeral-attachments", self.app_id, att_id, name),
            content_type=content_type
            or mimetypes.guess_type(name)[0]
            or "application/octet-stream",
            description=description,
            ephemeral=True,
        )
        self._attachments[att_id] = att
        return att.payload()

    def attachment(self, attachment_id: int | str) -> StoredAttachment:
        return self._attachments[int(attachment_id)]

    def _store_upload(
        self, channel_id: int, filename: str, data: bytes, **kw: Any
    ) -> StoredAttachment:
        att_id = new_snowflake()
        name = sanitize_filename(filename)
        sent_type = kw.pop("content_type", None)
        if sent_type == "application/octet-stream":
            sent_type = None  # discord.py's default; Discord sniffs the name instead
        att = StoredAttachment(
            id=att_id,
            filename=name,
            data=data,
            size=len(data),
            url=self._attachment_url("attachments", channel_id, att_id, name),
            content_type=mimetypes.guess_type(name)[0] or sent_type or "application/octet-stream",
            **kw,
        )
        self._attachments[att_id] = att
        return att

    # ------------------------------------------------------------------ interactions

    def _new_interaction(
        self,
        itype: int,
        data: dict[str, Any],
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int,
        locale: str,
        name: str | None = None,
        message: StoredMessage | None = None,
    ) -> _Interaction:
        if user_id not in self.users:
            raise LookupError(f"unknown user {user_id}")
        chan = self._channels.get(channel_id)
        if chan is None:
            raise LookupError(f"unknown channel {channel_id}")
        if chan.guild_id != guild_id:
            raise ValueError(f"channel {channel_id} is not in guild {guild_id}")
        iid = new_snowflake()
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        limit = self.filesize_limit(channel_id)
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.app_id),
            "type": itype,
            "data": data,
            "token": token,
            "version": 1,
            "channel_id": str(channel_id),
            "channel": self._channel_payload(chan),
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": limit,
        }
        if guild_id is not None:
            guild = self._guilds[guild_id]
            if not self._is_member(guild_id, user_id):
                raise ValueError(f"user {user_id} is not a member of guild {guild_id}")
            member = self._member_payload(guild_id, user_id)
            member["permissions"] = str(self.permissions(guild_id, user_id, channel_id))
            payload.update(
                {
                    "guild_id": str(guild_id),
                    "guild": {
                        "id": str(guild_id),
                        "locale": guild.locale,
                        "features": guild.features,
                    },
                    "guild_locale": guild.locale,
                    "member": member,
                    "app_permissions": str(
                        self.permissions(guild_id, self.bot_user.id, channel_id)
                    ),
                    "authorizing_integration_owners": {"0": str(guild_id)},
                    "context": 0,
                }
            )
            payload["channel"]["permissions"] = member["permissions"]
        else:
            payload.update(
                {
                    "user": self.users[user_id].payload(),
                    "app_permissions": str(Perm.ALL & ~Perm.ADMINISTRATOR),
                    "authorizing_integration_owners": {"0": "0"},
                    "context": 1,
                }
            )
        if message is not None:
            payload["message"] = self._message_payload(message)
        rec = _Interaction(
            id=iid,
            token=token,
            type=itype,
            payload=payload,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            created=asyncio.get_running_loop().time(),
            size_limit=limit,
            name=name,
            component_message_id=message.id if message is not None else None,
        )
        self._interactions[iid] = rec
        self._by_token[token] = rec
        return rec

    def _interaction_metadata(self, rec: _Interaction) -> dict[str, Any]:
        """`interaction_metadata` of messages an interaction created (Discord's shapes)."""
        meta: dict[str, Any] = {
            "id": str(rec.id),
            "type": rec.type,
            "user": self.users[rec.user_id].payload(),
            "authorizing_integration_owners": rec.payload.get("authorizing_integration_owners", {}),
        }
        if rec.original_message_id is not None:
            meta["original_response_message_id"] = str(rec.original_message_id)
        if rec.type == 3 and rec.component_message_id is not None:
            meta["interacted_message_id"] = str(rec.component_message_id)
        parent = self._interactions.get(rec.parent_id or 0)
        if rec.type == 5 and parent is not None:
            meta["triggering_interaction_metadata"] = self._interaction_metadata(parent)
        return meta

    async def _dispatch_interaction(self, rec: _Interaction, timeout: float) -> InteractionHandle:
        await self.wait_ready(timeout)
        session = self.gateway.session_for(rec.guild_id)
        if session is None:
            raise RuntimeError("no gateway session covers this guild")
        await self.gateway.dispatch("INTERACTION_CREATE", rec.payload, only=session)
        self._notify()
        return InteractionHandle(self, rec)

    def _resolve_defaults(
        self, user_id: int | None, guild_id: int | None, channel_id: int | None, dm: bool
    ) -> tuple[int, int | None, int]:
        uid = user_id or self.default_user_id
        if dm:
            return uid, None, self._dm_channel(uid).id
        if channel_id is not None and guild_id is None:
            chan = self._channels.get(channel_id)
            guild_id = chan.guild_id if chan is not None else None
            if chan is not None and chan.guild_id is None:
                return uid, None, channel_id
        gid = guild_id or self.guild_id
        return uid, gid, channel_id or self.channel_ids(gid)[0]

    def _dm_channel(self, user_id: int) -> _Channel:
        for chan in self._channels.values():
            if chan.guild_id is None and chan.recipients == [user_id]:
                return chan
        chan = _Channel(id=new_snowflake(), guild_id=None, name="", type=1, recipients=[user_id])
        self._channels[chan.id] = chan
        return chan

    async def invoke_command(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        user_id: int | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        dm: bool = False,
        locale: str = "en-US",
        timeout: float = 10.0,
    ) -> InteractionHandle:
        """A user runs `/name` (subcommands: "group sub") with `options` by option name.

        Options are converted with the synced command's definitions: str/int/float/bool,
        users (id or UserSpec), roles, channels (ids) and attachments (a dict from
        `add_attachment`, or its id) go into `data.resolved` the way Discord sends them.
        """
        uid, gid, cid = self._resolve_defaults(user_id, guild_id, channel_id, dm)
        path = name.split()
        command, scope = self._find_command(path[0], gid)
        self._check_command_visible(command, uid, gid, cid)
        node = command
        for sub in path[1:]:
            node = next(
                (o for o in node.get("options", []) if o["name"] == sub and o["type"] in (1, 2)),
                None,
            )
            if node is None:
                raise LookupError(f"/{name}: no subcommand {sub!r}")
        if any(o["type"] in (1, 2) for o in node.get("options", [])):
            raise ValueError(f"/{name} is a group; name a subcommand")
        resolved: dict[str, dict[str, Any]] = {}
        wire = self.rest.convert_options(node, dict(options or {}), resolved, gid, f"/{name}")
        for depth in range(len(path) - 1, 0, -1):
            sub_type = 1 if depth == len(path) - 1 else 2  # subcommand, then its group
            wire = [{"name": path[depth], "type": sub_type, "options": wire}]
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": command.get("type", 1),
            "options": wire,
        }
        if resolved:
            data["resolved"] = resolved
        if scope is not None:
            data["guild_id"] = str(scope)
        rec = self._new_interaction(
            2, data, user_id=uid, guild_id=gid, channel_id=cid, locale=locale, name=name
        )
        return await self._dispatch_interaction(rec, timeout)

    def _check_command_visible(
        self, command: dict[str, Any], user_id: int, guild_id: int | None, channel_id: int
    ) -> None:
        """Discord's client only offers commands the user may run here."""
        name = command["name"]
        contexts = command.get("contexts")
        context = 0 if guild_id is not None else 1
        if contexts is not None and context not in contexts:
            raise PermissionError(f"/{name} is not available in context {context} ({contexts})")
        if guild_id is None and command.get("dm_permission") is False:
            raise PermissionError(f"/{name} has dm_permission false")
        needed = command.get("default_member_permissions")
        if guild_id is not None and needed is not None:
            have = self.permissions(guild_id, user_id, channel_id)
            if int(needed) & ~have:
                raise PermissionError(f"user {user_id} lacks {needed} for /{name}")

    def _find_command(self, name: str, guild_id: int | None) -> tuple[dict[str, Any], int | None]:
        if guild_id is not None:
            for cmd in self.guild_commands.get(guild_id, []):
                if cmd["name"] == name and cmd.get("type", 1) == 1:
                    return cmd, guild_id
        for cmd in self.global_commands:
            if cmd["name"] == name and cmd.get("type", 1) == 1:
                return cmd, None
        known = sorted(
            {c["name"] for c in self.global_commands}
            | {c["name"] for c in self.guild_commands.get(guild_id or 0, [])}
        )
        raise LookupError(
            f"/{name} is not synced (for guild {guild_id} or globally); synced: {known}. "
            "Await dc.wait_commands_synced(...) first."
        )

    async def click(
        self,
        message: StoredMessage | int,
        custom_id: str,
        *,
        values: list[str] | None = None,
        user_id: int | None = None,
        locale: str = "en-US",
        timeout: float = 10.0,
    ) -> InteractionHandle:
        """A user presses a button / picks select `values` on a message (interaction type 3)."""
        msg = message if isinstance(message, StoredMessage) else self._messages[message]
        comp = _find_component(msg.components, custom_id)
        if comp is None:
            raise LookupError(f"message {msg.id} has no component {custom_id!r}")
        if comp.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": comp["type"]}
        if comp["type"] != 2:
            data["values"] = [str(v) for v in values or []]
        uid = user_id or self.default_user_id
        rec = self._new_interaction(
            3,
            data,
            user_id=uid,
            guild_id=msg.guild_id,
            channel_id=msg.channel_id,
            locale=locale,
            message=msg,
        )
        return await self._dispatch_interaction(rec, timeout)

    async def _submit_modal(
        self,
        parent: InteractionHandle,
        modal: dict[str, Any],
        values: Mapping[str, Any],
        *,
        user_id: int | None,
    ) -> InteractionHandle:
        fields = _modal_fields(modal.get("components", []))
        by_key: dict[str, ModalField] = {}
        for f in fields:
            by_key[f.custom_id] = f
            if f.label:
                by_key.setdefault(f.label.casefold(), f)
        chosen: dict[str, Any] = {}
        for key, value in values.items():
            f = by_key.get(key) or by_key.get(key.casefold())
            if f is None:
                raise ValueError(
                    f"modal {modal.get('custom_id')!r} has no input {key!r}; inputs: "
                    f"{[(f.custom_id, f.label) for f in fields]}"
                )
            chosen[f.custom_id] = value
        resolved: dict[str, dict[str, Any]] = {}
        counter = iter(range(1, 1000))

        def answer(comp: dict[str, Any]) -> dict[str, Any]:
            ctype = comp.get("type")
            cid = comp.get("id") or next(counter)
            if ctype == 1:
                return {"type": 1, "id": cid, "components": [answer(c) for c in comp["components"]]}
            if ctype == 18:
                return {"type": 18, "id": cid, "component": answer(comp["component"])}
            if "custom_id" not in comp:
                return {"type": ctype, "id": cid}
            f = next(x for x in fields if x.custom_id == comp["custom_id"])
            out: dict[str, Any] = {"type": ctype, "id": cid, "custom_id": f.custom_id}
            out.update(self.rest.modal_value(f, chosen.get(f.custom_id), resolved))
            return out

        components = [answer(c) for c in modal.get("components", [])]
        data: dict[str, Any] = {"custom_id": modal["custom_id"], "components": components}
        if resolved:
            data["resolved"] = resolved
        prev = parent._rec
        source = self._messages.get(prev.component_message_id or 0)
        rec = self._new_interaction(
            5,
            data,
            user_id=user_id or prev.user_id,
            guild_id=prev.guild_id,
            channel_id=prev.channel_id,
            locale=prev.payload.get("locale", "en-US"),
            message=source,
        )
        rec.parent_id = prev.id
        return await self._dispatch_interaction(rec, 10.0)

    # ------------------------------------------------------------------ user messages

    async def post_user_message(
        self,
        content: str,
        *,
        channel_id: int | None = None,
        user_id: int | None = None,
        reply_to: StoredMessage | int | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> StoredMessage:
        """A user posts in a channel (MESSAGE_CREATE goes to the bot if its intents allow)."""
        cid = channel_id or self.channel_id
        author = self.users[user_id or self.default_user_id]
        reference = None
        if reply_to is not None:
            ref_id = reply_to.id if isinstance(reply_to, StoredMessage) else reply_to
            reference = {"message_id": str(ref_id), "channel_id": str(cid)}
        payload: dict[str, Any] = {"content": content}
        if reference is not None:
            payload["message_reference"] = reference
        return await self.rest.create_message(
            self._channels[cid],
            payload,
            {},
            author=author,
            source="user",
            uploaded=[self._attachments[int(att["id"])] for att in attachments or []],
        )

    # ------------------------------------------------------------------ internal hooks

    def _mentions_for(
        self,
        chan: _Channel,
        author: UserSpec,
        content: str | None,
        allowed: dict[str, Any] | None,
        replied_user_id: int | None,
    ) -> Mentions:
        if chan.guild_id is None:
            roles: dict[int, RoleSpec] = {}
            can_everyone = False
        else:
            roles = {
                r: spec for r, spec in self._roles[chan.guild_id].items() if r != chan.guild_id
            }
            can_everyone = bool(
                self.permissions(chan.guild_id, author.id, chan.id) & Perm.MENTION_EVERYONE
            )
        return resolve_mentions(
            content,
            allowed,
            known_users=set(self.users),
            roles=roles,
            can_mention_everyone=can_everyone,
            replied_user_id=replied_user_id,
        )

    def _gateway_message(self, session: Any, msg_payload: dict[str, Any]) -> dict[str, Any]:
        """MESSAGE_CREATE/UPDATE as a session sees it (MESSAGE_CONTENT intent applied)."""
        data = dict(msg_payload)
        author_id = int(data["author"]["id"])
        guild_id = data.get("guild_id")
        if guild_id is not None and author_id in self.users:
            data["member"] = self._member_payload(int(guild_id), author_id, with_user=False)
        mentioned = any(int(u["id"]) == self.bot_user.id for u in data.get("mentions", []))
        if (
            not session.intents & INTENT_MESSAGE_CONTENT
            and author_id != self.bot_user.id
            and guild_id is not None
            and not mentioned
        ):
            data.update(content="", embeds=[], attachments=[], components=[])
        return data

    async def _dispatch_message(self, event: str, msg: StoredMessage) -> None:
        if msg.ephemeral:
            return
        intent = INTENT_GUILD_MESSAGES if msg.guild_id is not None else INTENT_DIRECT_MESSAGES
        if event == "MESSAGE_DELETE":
            data: dict[str, Any] = {"id": str(msg.id), "channel_id": str(msg.channel_id)}
            if msg.guild_id is not None:
                data["guild_id"] = str(msg.guild_id)
            await self.gateway.dispatch(event, data, guild_id=msg.guild_id, intent=intent)
            return
        await self.gateway.dispatch(
            event,
            self._message_payload(msg),
            guild_id=msg.guild_id,
            intent=intent,
            transform=self._gateway_message,
        )


def _find_component(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    for comp in components:
        if comp.get("custom_id") == custom_id:
            return comp
        for key in ("components", "accessory", "component"):
            child = comp.get(key)
            children = (
                child if isinstance(child, list) else [child] if isinstance(child, dict) else []
            )
            found = _find_component(children, custom_id)
            if found is not None:
                return found
    return None


# --------------------------------------------------------------------------- CLI


async def _serve(args: argparse.Namespace) -> None:
    guild = GuildSpec(
        id=args.guild_id,
        channels=[ChannelSpec("general", id=args.channel_id)],
        premium_tier=args.premium_tier,
    )
    dc = DiscordStandIn(
        args.token, app_id=args.app_id, guilds=[guild], host=args.host, port=args.port
    )
    await dc.start()
    print(f"api base:    {dc.api_base}")
    print(f"gateway url: {dc.gateway_url}")
    print(f"token:       {dc.token}")
    print(f"app id:      {dc.app_id}")
    print(f"guild id:    {dc.guild_id}  channel id: {dc.channel_id}")
    for user in dc.users.values():
        print(f"user:        {user.username} {user.id}{' (bot)' if user.bot else ''}")
    print(f"export DISCORD_API_BASE={dc.api_base} DISCORD_GATEWAY_URL={dc.gateway_url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await dc.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Discord stand-in (REST + gateway + CDN)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--token", default="stand-in-token")
    parser.add_argument("--app-id", type=int, default=0)
    parser.add_argument("--guild-id", type=int, default=0)
    parser.add_argument("--channel-id", type=int, default=0)
    parser.add_argument("--premium-tier", type=int, default=0, choices=[0, 1, 2, 3])
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
