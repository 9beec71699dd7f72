"""The Discord stand-in's world: guilds, channels, users, messages, interactions, uploads.

`World` is the only owner of that state. It renders it as Discord's payloads and applies
Discord's semantics when the bot changes it (what a message may hold, who it pings, what an
interaction callback does), raising `DiscordHTTPError` where Discord answers 4xx. It knows
nothing of HTTP or websockets: REST routes and the gateway call its public methods, and it
tells the gateway about message events through `listeners`. Every change calls `notify()`,
which wakes `wait_until()`: the stand-in's waits never poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from . import rules
from .model import (
    ARCHIVE_DURATIONS,
    DISCORD_EPOCH_MS,
    DM_FILESIZE_LIMIT,
    FLAG_EPHEMERAL,
    FLAG_HAS_THREAD,
    FLAG_LOADING,
    FLAG_SUPPRESS_EMBEDS,
    FLAG_SUPPRESS_NOTIFICATIONS,
    Callback,
    ChannelSpec,
    DiscordHTTPError,
    GuildSpec,
    Interaction,
    Mentions,
    Perm,
    RecordedRequest,
    RoleSpec,
    StoredAttachment,
    StoredMessage,
    Upload,
    UserSpec,
    cdn_signature,
    form_error,
    image_size,
    iso,
    new_snowflake,
    now_iso,
    resolve_mentions,
    sanitize_filename,
    snowflake_time,
    unknown,
)

T = TypeVar("T")
# How long Discord remembers a nonce sent with `enforce_nonce` (it says "a few minutes").
NONCE_WINDOW_SECONDS = 300
# A listener hears "MESSAGE_CREATE" / "MESSAGE_UPDATE" / "MESSAGE_DELETE" with the message.
MessageListener = Callable[[str, StoredMessage], Awaitable[None]]
# A channel listener hears "THREAD_CREATE" / "THREAD_UPDATE" with the thread.
ChannelListener = Callable[[str, ChannelSpec], Awaitable[None]]


def resolve_attachment_refs(
    embeds: list[dict[str, Any]], attachments: list[StoredAttachment]
) -> list[dict[str, Any]]:
    """Embeds as Discord stores them: an `attachment://name.png` in an image, thumbnail,
    author or footer icon becomes the URL of the message's attachment of that name (image
    and thumbnail gain `proxy_url`, `width`, `height`, `content_type`, as Discord measures
    them). A reference to no attachment of the message is left as sent."""
    if not any("attachment://" in json.dumps(e) for e in embeds):
        return embeds
    by_name: dict[str, StoredAttachment] = {}
    for stored in attachments:
        by_name.setdefault(stored.filename, stored)
    out = json.loads(json.dumps(embeds))  # our own copy

    def target(url: Any) -> StoredAttachment | None:
        if not isinstance(url, str) or not url.startswith("attachment://"):
            return None
        name = url[len("attachment://") :]
        return by_name.get(name) or by_name.get(sanitize_filename(name))

    for embed in out:
        for key in ("image", "thumbnail"):
            media = embed.get(key)
            att = target(media.get("url")) if isinstance(media, dict) else None
            if media is not None and att is not None:
                media.update(url=att.url, proxy_url=att.url, flags=0)
                if att.content_type:
                    media["content_type"] = att.content_type
                if att.width is not None:
                    media.update(width=att.width, height=att.height)
        for key in ("author", "footer"):
            part = embed.get(key)
            att = target(part.get("icon_url")) if isinstance(part, dict) else None
            if part is not None and att is not None:
                part.update(icon_url=att.url, proxy_icon_url=att.url)
    return out


class World:
    def __init__(
        self,
        *,
        token: str,
        app_id: int,
        bot_name: str,
        guilds: list[GuildSpec] | None,
        users: list[UserSpec] | None,
        interaction_ack_deadline: float | None = 3.0,
    ) -> None:
        self.token = token
        self.app_id = app_id or new_snowflake()
        self.application_flags = 0
        self.interaction_ack_deadline = interaction_ack_deadline
        self.bot_user = UserSpec(username=bot_name, id=self.app_id, bot=True)
        self.cdn_base = ""  # set once the server listens; attachment URLs start with it
        self.cdn_secret = secrets.token_bytes(16)
        humans = users if users is not None else [UserSpec("alice"), UserSpec("bob")]
        for user in humans:
            user.id = user.id or new_snowflake()
        self.users: dict[int, UserSpec] = {u.id: u for u in humans}
        self.users[self.bot_user.id] = self.bot_user

        self.guild_specs = list(guilds) if guilds is not None else [GuildSpec()]
        self.guilds: dict[int, GuildSpec] = {}
        self.channels: dict[int, ChannelSpec] = {}
        self.roles: dict[int, dict[int, RoleSpec]] = {}  # guild id -> role id -> role
        self._bot_role: dict[int, int] = {}
        for guild in self.guild_specs:
            self._add_guild(guild)

        self.messages: dict[int, StoredMessage] = {}
        self.attachments: dict[int, StoredAttachment] = {}
        self.interactions: dict[int, Interaction] = {}
        self._by_token: dict[str, Interaction] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.command_syncs: list[int | None] = []  # scope of each PUT (None = global)
        # An owner's overrides in Server Settings → Integrations: (guild id, command name) ->
        # the members allowed it whatever its `default_member_permissions` say.
        self.command_overrides: dict[tuple[int, str], set[int]] = {}
        self.listeners: list[MessageListener] = []
        self.channel_listeners: list[ChannelListener] = []
        self._changed = asyncio.Event()

    def add_guild(self, guild: GuildSpec) -> None:
        """A guild the bot joins after start-up (the gateway then sends GUILD_CREATE)."""
        self._add_guild(guild)
        self.guild_specs.append(guild)
        self.notify()

    def _add_guild(self, guild: GuildSpec) -> None:
        guild.id = guild.id or new_snowflake()
        self.guilds[guild.id] = guild
        specs: list[ChannelSpec] = []
        for i, chan in enumerate(guild.channels):
            spec = chan if isinstance(chan, ChannelSpec) else ChannelSpec(f"channel-{i}", id=chan)
            spec.id = spec.id or new_snowflake()
            spec.position = spec.position or i
            spec.guild_id = guild.id
            specs.append(spec)
            self.channels[spec.id] = spec
        guild.channels = list(specs)
        everyone = RoleSpec(
            "@everyone", id=guild.id, permissions=guild.everyone_permissions, position=0
        )
        roles: dict[int, RoleSpec] = {guild.id: everyone}
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
        self.roles[guild.id] = roles
        self._bot_role[guild.id] = bot_role.id
        if guild.member_ids is None:
            guild.member_ids = [u for u, spec in self.users.items() if not spec.bot]
        if guild.owner_id is None:
            guild.owner_id = guild.member_ids[0] if guild.member_ids else self.bot_user.id

    # ------------------------------------------------------------------ change notification

    def notify(self) -> None:
        """Wake every `wait_until` so it re-checks its condition."""
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def wait_until(
        self,
        check: Callable[[], T | None],
        timeout: float,
        what: str,
        describe: Callable[[], str] = lambda: "",
    ) -> T:
        """`check()` once it is truthy; re-evaluated on every change. `describe()` adds
        context (the last requests) to the TimeoutError."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._changed
            result = check()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}{describe()}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    # ------------------------------------------------------------------ lookups

    def channel(self, channel_id: int) -> ChannelSpec | None:
        return self.channels.get(channel_id)

    def guild_channels(self, guild_id: int) -> list[ChannelSpec]:
        """The guild's channels, threads excluded (GUILD_CREATE lists those apart)."""
        return [c for c in self.channels.values() if c.guild_id == guild_id and not c.is_thread]

    def threads(self, guild_id: int | None = None) -> list[ChannelSpec]:
        """Threads (of one guild, or all), oldest first."""
        return sorted(
            (
                c
                for c in self.channels.values()
                if c.is_thread and (guild_id is None or c.guild_id == guild_id)
            ),
            key=lambda c: c.id,
        )

    def active_threads(self, guild_id: int) -> list[ChannelSpec]:
        return [t for t in self.threads(guild_id) if not t.archived]

    def is_member(self, guild_id: int, user_id: int) -> bool:
        guild = self.guilds[guild_id]
        return user_id == self.bot_user.id or user_id in (guild.member_ids or [])

    def member_role_ids(self, guild_id: int, user_id: int) -> list[int]:
        if user_id == self.bot_user.id:
            return [self._bot_role[guild_id]]
        return list(self.guilds[guild_id].member_roles.get(user_id, []))

    def permissions(self, guild_id: int, user_id: int, channel_id: int | None = None) -> int:
        """Owner and ADMINISTRATOR get everything; the bot loses a channel's `bot_denied`.

        A thread has no overwrites of its own: its parent's apply, as on Discord. A private
        thread is visible only to its members and to those with MANAGE_THREADS.
        """
        guild = self.guilds[guild_id]
        if user_id == guild.owner_id:
            return Perm.ALL
        roles = self.roles[guild_id]
        perms = roles[guild_id].permissions
        for rid in self.member_role_ids(guild_id, user_id):
            perms |= roles[rid].permissions
        if perms & Perm.ADMINISTRATOR:
            return Perm.ALL
        chan = self.channels.get(channel_id) if channel_id is not None else None
        thread = chan if chan is not None and chan.is_thread else None
        if thread is not None:
            chan = self.channels.get(thread.parent_id or 0)
        if chan is not None and user_id == self.bot_user.id:
            perms &= ~chan.bot_denied
        if (
            thread is not None
            and thread.type == 12
            and user_id not in thread.thread_member_ids
            and not perms & Perm.MANAGE_THREADS
        ):
            perms &= ~Perm.VIEW_CHANNEL
        return perms

    def bot_permissions(self, chan: ChannelSpec) -> int:
        if chan.guild_id is None:
            return Perm.ALL & ~Perm.ADMINISTRATOR
        return self.permissions(chan.guild_id, self.bot_user.id, chan.id)

    def filesize_limit(self, channel_id: int) -> int:
        chan = self.channels.get(channel_id)
        if chan is None or chan.guild_id is None:
            return DM_FILESIZE_LIMIT
        return self.guilds[chan.guild_id].filesize_limit

    def dm_channel(self, user_id: int) -> ChannelSpec:
        """The DM channel with a user, opened on first use."""
        for chan in self.channels.values():
            if chan.guild_id is None and chan.recipients == [user_id]:
                return chan
        chan = ChannelSpec("", id=new_snowflake(), type=1, recipients=[user_id])
        self.channels[chan.id] = chan
        return chan

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        if guild_id is None:
            return self.global_commands
        return self.guild_commands.get(guild_id, [])

    def set_commands(self, guild_id: int | None, commands: list[dict[str, Any]]) -> None:
        if guild_id is None:
            self.global_commands = commands
        else:
            self.guild_commands[guild_id] = commands
        self.notify()

    def channel_messages(self, channel_id: int) -> list[StoredMessage]:
        """What the bot can see of a channel's history: not deleted, not ephemeral."""
        return sorted(
            (
                m
                for m in self.messages.values()
                if m.channel_id == channel_id and not m.deleted and not m.ephemeral
            ),
            key=lambda m: m.id,
        )

    # ------------------------------------------------------------------ payloads

    def member_payload(self, guild_id: int, user_id: int, *, with_user: bool = True) -> dict:
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.member_role_ids(guild_id, user_id)],
            "nick": None,
            "avatar": None,
            "banner": None,
            "joined_at": iso(snowflake_time(guild_id)),
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

    def member_payloads(self, guild_id: int) -> list[dict[str, Any]]:
        ids = [*(self.guilds[guild_id].member_ids or []), self.bot_user.id]
        return [self.member_payload(guild_id, uid) for uid in ids]

    def thread_payload(self, thread: ChannelSpec) -> dict[str, Any]:
        """A thread channel as Discord renders it (REST answers, THREAD_CREATE, GUILD_CREATE
        `threads`, an interaction's `channel`)."""
        metadata: dict[str, Any] = {
            "archived": thread.archived,
            "auto_archive_duration": thread.auto_archive_duration,
            "archive_timestamp": thread.created_at,
            "locked": thread.locked,
            "create_timestamp": thread.created_at,
        }
        if thread.type == 12:
            metadata["invitable"] = thread.invitable
        return {
            "id": str(thread.id),
            "type": thread.type,
            "guild_id": str(thread.guild_id),
            "parent_id": str(thread.parent_id),
            "owner_id": str(thread.owner_id),
            "name": thread.name,
            "last_message_id": str(thread.last_message_id) if thread.last_message_id else None,
            "rate_limit_per_user": thread.rate_limit_per_user,
            "flags": 0,
            "message_count": thread.message_count,
            "member_count": min(len(thread.thread_member_ids), 50),  # Discord stops at 50
            "total_message_sent": thread.total_message_sent,
            "thread_metadata": metadata,
        }

    def channel_payload(self, chan: ChannelSpec) -> dict[str, Any]:
        if chan.is_thread:
            return self.thread_payload(chan)
        last = str(chan.last_message_id) if chan.last_message_id else None
        if chan.guild_id is None:
            return {
                "id": str(chan.id),
                "type": chan.type,
                "last_message_id": last,
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
            "last_message_id": last,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def guild_create_payload(self, guild_id: int, *, all_members: bool) -> dict[str, Any]:
        """GUILD_CREATE, with the keys discord.py reads. With GUILD_PRESENCES (`all_members`)
        Discord sends every member of a non-large guild (discord.py then skips chunking);
        otherwise only the bot's own."""
        guild = self.guilds[guild_id]
        if all_members:
            members = self.member_payloads(guild_id)
        else:
            members = [self.member_payload(guild_id, self.bot_user.id)]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "owner_id": str(guild.owner_id),
            "roles": [r.payload() for r in self.roles[guild_id].values()],
            "emojis": [],
            "stickers": [],
            "features": list(guild.features),
            "premium_tier": guild.premium_tier,
            "premium_subscription_count": [0, 2, 7, 14][min(guild.premium_tier, 3)],
            "preferred_locale": guild.locale,
            "joined_at": iso(snowflake_time(guild_id)),
            "large": False,
            "unavailable": False,
            "member_count": len(guild.member_ids or []) + 1,
            "members": members,
            "channels": [self.channel_payload(c) for c in self.guild_channels(guild_id)],
            # Active threads the bot can see: discord.py caches them, so after a restart
            # `guild.get_thread()` knows the threads made before it.
            "threads": [
                self.thread_payload(t)
                for t in self.active_threads(guild_id)
                if self.permissions(guild_id, self.bot_user.id, t.id) & Perm.VIEW_CHANNEL
            ],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def message_payload(self, msg: StoredMessage) -> dict[str, Any]:
        """A message as Discord renders it; one a thread was started from carries `thread`."""
        ref = None
        if msg.message_reference and msg.message_reference.get("message_id"):
            ref = self.messages.get(int(msg.message_reference["message_id"]))
        data = msg.payload(self.users, ref)
        thread = self.channels.get(msg.thread_id or 0)
        if thread is not None:
            data["thread"] = self.thread_payload(thread)
        return data

    def interaction_metadata(self, rec: Interaction) -> dict[str, Any]:
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
        parent = self.interactions.get(rec.parent_id or 0)
        if rec.type == 5 and parent is not None:
            meta["triggering_interaction_metadata"] = self.interaction_metadata(parent)
        return meta

    # ------------------------------------------------------------------ attachments

    def _attachment_url(self, prefix: str, owner: int, att_id: int, filename: str) -> str:
        path = f"/{prefix}/{owner}/{att_id}/{filename}"
        query = "&".join(f"{k}={v}" for k, v in cdn_signature(self.cdn_secret, path).items())
        return f"{self.cdn_base}{path}?{query}&"

    def add_user_upload(
        self,
        filename: str,
        data: bytes | os.PathLike[str] | str,
        content_type: str | None,
    ) -> StoredAttachment:
        """A user's upload (bytes, or a file path served from disk)."""
        att_id = new_snowflake()
        name = sanitize_filename(filename)
        raw: bytes | None = None
        path: str | None = None
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
            ephemeral=True,
        )
        self.attachments[att_id] = att
        return att

    def _store_upload(
        self, channel_id: int, upload: Upload, entry: dict[str, Any]
    ) -> StoredAttachment:
        att_id = new_snowflake()
        name = sanitize_filename(entry.get("filename") or upload.filename or "file")
        sent_type = upload.content_type
        if sent_type == "application/octet-stream":
            sent_type = None  # discord.py's default; Discord sniffs the name instead
        size = image_size(upload.data)
        att = StoredAttachment(
            id=att_id,
            filename=name,
            data=upload.data,
            size=len(upload.data),
            url=self._attachment_url("attachments", channel_id, att_id, name),
            content_type=mimetypes.guess_type(name)[0] or sent_type or "application/octet-stream",
            description=entry.get("description"),
            title=entry.get("title"),
            width=size[0] if size else None,
            height=size[1] if size else None,
        )
        self.attachments[att_id] = att
        return att

    def member_attachment(self, channel_id: int, upload: StoredAttachment) -> StoredAttachment:
        """What a member's upload becomes once their message is posted: a channel attachment
        (`/attachments/{channel_id}/{id}/{name}`, a fresh id, not ephemeral) with the bytes
        of the upload (`add_user_upload`), measured like the bot's own uploads."""
        att_id = new_snowflake()
        head = upload.data[:65536] if upload.data is not None else b""
        if upload.path is not None:
            with open(upload.path, "rb") as fh:
                head = fh.read(65536)
        size = image_size(head)
        att = StoredAttachment(
            id=att_id,
            filename=upload.filename,
            data=upload.data,
            path=upload.path,
            size=upload.size,
            url=self._attachment_url("attachments", channel_id, att_id, upload.filename),
            content_type=upload.content_type,
            description=upload.description,
            width=size[0] if size else None,
            height=size[1] if size else None,
        )
        self.attachments[att_id] = att
        return att

    def _attachments(
        self,
        channel_id: int,
        listed: Any,
        files: dict[int, Upload],
        existing: list[StoredAttachment],
        limit: int,
    ) -> list[StoredAttachment]:
        """A message's attachments after a create/edit: `attachments` in the JSON lists
        which existing ones stay and names the new `files[n]` by index."""
        if len(files) > 10:
            raise form_error("files", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        sizes = [len(p.data) for p in files.values()]
        if sizes and (max(sizes) > limit or sum(sizes) > limit):
            raise DiscordHTTPError(413, 40005, "Request entity too large")

        def upload(index: int, entry: dict[str, Any] | None = None) -> StoredAttachment:
            return self._store_upload(channel_id, files[index], entry or {})

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

    # ------------------------------------------------------------------ messages

    def _mentions(
        self,
        chan: ChannelSpec,
        author: UserSpec,
        content: str | None,
        allowed: dict[str, Any] | None,
        replied_user_id: int | None,
    ) -> Mentions:
        roles: dict[int, RoleSpec] = {}
        can_everyone = False
        if chan.guild_id is not None:
            roles = {r: s for r, s in self.roles[chan.guild_id].items() if r != chan.guild_id}
            perms = self.permissions(chan.guild_id, author.id, chan.id)
            can_everyone = bool(perms & Perm.MENTION_EVERYONE)
        return resolve_mentions(
            content,
            allowed,
            known_users=set(self.users),
            roles=roles,
            can_mention_everyone=can_everyone,
            replied_user_id=replied_user_id,
        )

    def _reference(self, chan: ChannelSpec, ref: Any) -> tuple[dict[str, Any] | None, int | None]:
        """The stored `message_reference` of a reply and the replied-to author."""
        if not ref:
            return None, None
        if not isinstance(ref, dict) or "message_id" not in ref:
            raise form_error("message_reference", "BASE_TYPE_REQUIRED", "This field is required")
        try:
            target = self.messages.get(int(ref["message_id"]))
        except (TypeError, ValueError):
            target = None
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

    async def _emit(self, event: str, msg: StoredMessage) -> None:
        for listener in self.listeners:
            await listener(event, msg)
        self.notify()

    def _same_nonce(
        self, chan: ChannelSpec, author: UserSpec, payload: dict[str, Any]
    ) -> StoredMessage | None:
        """Discord's `enforce_nonce`: a message with the same nonce, by the same author in the
        same channel within the last few minutes, is returned instead of made again."""
        nonce = payload.get("nonce")
        if not payload.get("enforce_nonce") or nonce is None:
            return None
        since = (time.time() - NONCE_WINDOW_SECONDS) * 1000 - DISCORD_EPOCH_MS
        for msg in reversed(list(self.messages.values())):
            if (msg.id >> 22) < since:
                break
            same_place = msg.channel_id == chan.id and msg.author_id == author.id
            if same_place and str(msg.nonce) == str(nonce) and not msg.deleted:
                return msg
        return None

    async def create_message(
        self,
        chan: ChannelSpec,
        payload: Any,
        files: dict[int, Upload],
        *,
        author: UserSpec,
        source: str,
        interaction: Interaction | None = None,
        loading: bool = False,
        uploaded: list[StoredAttachment] | None = None,
    ) -> StoredMessage:
        """Store a message as Discord would (or raise its 4xx) and announce MESSAGE_CREATE.

        `source`: channel | interaction_response | followup | user. `loading`: a deferred
        reply's "thinking" placeholder. `uploaded`: a user's files from `add_user_upload`.
        """
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            raise form_error("_root", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        content = rules.check_content(payload.get("content"))
        embeds = rules.check_embeds(payload)
        components = rules.echo_components(payload.get("components"))
        if interaction is None and (same := self._same_nonce(chan, author, payload)) is not None:
            return same  # enforce_nonce: the message already made, no second one
        allowed_flags = FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS
        if interaction is not None:
            allowed_flags |= FLAG_EPHEMERAL
        flags = int(payload.get("flags") or 0) & allowed_flags
        if loading:
            flags |= FLAG_LOADING
        limit = interaction.size_limit if interaction is not None else self.filesize_limit(chan.id)
        attachments = self._attachments(chan.id, payload.get("attachments"), files, [], limit)
        attachments.extend(uploaded or [])
        embeds = resolve_attachment_refs(embeds, attachments)
        if not loading:
            rules.check_not_empty(content, embeds, components, attachments, payload)
        reference, replied_user = self._reference(chan, payload.get("message_reference"))
        allowed = payload.get("allowed_mentions")
        mentions = self._mentions(chan, author, content, allowed, replied_user)
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
            msg.webhook_id = self.app_id
            msg.application_id = self.app_id
            if not reference:
                msg.type = 20 if interaction.type == 2 else 0
            msg.interaction_metadata = self.interaction_metadata(interaction)
            interaction.message_ids.append(msg.id)
        self.messages[msg.id] = msg
        if not msg.ephemeral:
            chan.last_message_id = msg.id
            if chan.is_thread:
                # Posting joins the author to the thread and wakes an archived one.
                chan.message_count += 1
                chan.total_message_sent += 1
                chan.archived = False
                if author.id not in chan.thread_member_ids:
                    chan.thread_member_ids.append(author.id)
        await self._emit("MESSAGE_CREATE", msg)
        return msg

    async def edit_message(
        self, msg: StoredMessage, payload: Any, files: dict[int, Upload]
    ) -> None:
        """Apply an edit; earlier versions go to `msg.edits`. Edits ping nobody, except the
        first content of a deferred reply."""
        if not isinstance(payload, dict):
            raise form_error("_root", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        chan = self.channels[msg.channel_id]
        content = rules.check_content(payload["content"]) if "content" in payload else msg.content
        edits_embeds = "embeds" in payload or "embed" in payload
        embeds = rules.check_embeds(payload) if edits_embeds else msg.embeds
        components = msg.components
        if "components" in payload:
            components = rules.echo_components(payload["components"])
        flags = msg.flags
        if payload.get("flags") is not None:
            new = int(payload["flags"])
            flags = (flags & ~FLAG_SUPPRESS_EMBEDS) | (new & FLAG_SUPPRESS_EMBEDS)
        was_loading = msg.loading
        flags &= ~FLAG_LOADING
        attachments = msg.attachments
        if "attachments" in payload or files:
            owner = self.interactions.get(msg.interaction_id or 0)
            limit = owner.size_limit if owner else self.filesize_limit(chan.id)
            attachments = self._attachments(
                chan.id, payload.get("attachments"), files, msg.attachments, limit
            )
        rules.check_not_empty(content, embeds, components, attachments, {})
        embeds = resolve_attachment_refs(embeds, attachments)
        allowed = payload.get("allowed_mentions", msg.allowed_mentions)
        replied = None
        if msg.message_reference:
            ref = self.messages.get(int(msg.message_reference["message_id"]))
            replied = ref.author_id if ref is not None else None
        author = self.users.get(msg.author_id, self.bot_user)
        mentions = self._mentions(chan, author, content, allowed, replied)
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
            msg.notified_mentions = mentions
        await self._emit("MESSAGE_UPDATE", msg)

    async def delete_message(self, msg: StoredMessage) -> None:
        msg.deleted = True
        chan = self.channels.get(msg.channel_id)
        if chan is not None and chan.is_thread and not msg.ephemeral:
            chan.message_count = max(0, chan.message_count - 1)
        await self._emit("MESSAGE_DELETE", msg)

    # ------------------------------------------------------------------ threads

    async def create_thread(
        self,
        parent: ChannelSpec,
        body: Any,
        *,
        owner: UserSpec,
        message: StoredMessage | None = None,
    ) -> ChannelSpec:
        """Start a thread as Discord does, or raise its refusal.

        From a `message` (POST /channels/{id}/messages/{id}/threads) the thread is public
        (type 11), takes the message's id, and the message gains `thread` and the HAS_THREAD
        flag (a MESSAGE_UPDATE). Without one (POST /channels/{id}/threads) `type` picks 11
        or 12 (private; the default), and a public one gets a "thread created" system
        message (type 18) in the parent. The owner (the bot) is the first member; everyone
        hears THREAD_CREATE with `newly_created`.

        Refusals: a thread's parent must be a text channel (50024); `name` 1-100 and
        `auto_archive_duration` in 60/1440/4320/10080 (50035); CREATE_PUBLIC_THREADS or
        CREATE_PRIVATE_THREADS missing: 403 50013 (checked by the route); a message with a
        thread already: 160004; the guild's `max_active_threads` reached: 160006.
        """
        if not isinstance(body, dict):
            raise form_error("_root", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        if parent.type != 0 or parent.guild_id is None:
            raise DiscordHTTPError(400, 50024, "Cannot execute action on this channel type")
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100 or len(name) > 100:
            raise form_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        duration = body.get("auto_archive_duration")
        if duration is None:
            duration = 1440
        if duration not in ARCHIVE_DURATIONS:
            raise form_error(
                "auto_archive_duration",
                "BASE_TYPE_CHOICES",
                f"Value must be one of {ARCHIVE_DURATIONS}.",
            )
        ttype = 11 if message is not None else body.get("type") or 12
        if ttype not in (11, 12):
            raise form_error("type", "BASE_TYPE_CHOICES", "Value must be one of (11, 12).")
        if message is not None and message.thread_id is not None:
            raise DiscordHTTPError(
                400, 160004, "A thread has already been created for this message"
            )
        guild = self.guilds[parent.guild_id]
        if len(self.active_threads(guild.id)) >= guild.max_active_threads:
            raise DiscordHTTPError(400, 160006, "Maximum number of active threads reached")
        thread = ChannelSpec(
            name,
            id=message.id if message is not None else new_snowflake(),
            type=ttype,
            guild_id=parent.guild_id,
            parent_id=parent.id,
            owner_id=owner.id,
            auto_archive_duration=duration,
            invitable=bool(body.get("invitable", True)),
            rate_limit_per_user=int(body.get("rate_limit_per_user") or 0),
            thread_member_ids=[owner.id],
            created_at=now_iso(),
            starter_message_id=message.id if message is not None else None,
        )
        self.channels[thread.id] = thread
        for listener in self.channel_listeners:
            await listener("THREAD_CREATE", thread)
        if message is not None:
            message.thread_id = thread.id
            message.flags |= FLAG_HAS_THREAD
            await self._emit("MESSAGE_UPDATE", message)
        elif ttype == 11:
            await self._thread_created_notice(parent, thread, owner)
        self.notify()
        return thread

    async def _thread_created_notice(
        self, parent: ChannelSpec, thread: ChannelSpec, owner: UserSpec
    ) -> None:
        """The system message (type 18, THREAD_CREATED) a public thread without a starter
        message leaves in its parent: content is the thread's name, the reference its id."""
        msg = StoredMessage(
            id=new_snowflake(),
            channel_id=parent.id,
            guild_id=parent.guild_id,
            author=owner.payload(),
            content=thread.name,
            type=18,
            message_reference={
                "type": 0,
                "channel_id": str(thread.id),
                "guild_id": str(parent.guild_id),
            },
            source="system",
        )
        self.messages[msg.id] = msg
        parent.last_message_id = msg.id
        await self._emit("MESSAGE_CREATE", msg)

    async def edit_thread(self, thread: ChannelSpec, body: Any) -> None:
        """PATCH /channels/{thread_id}: `name`, `archived`, `locked`, `auto_archive_duration`,
        `invitable`, `rate_limit_per_user`; then THREAD_UPDATE. Discord lets the thread's
        creator rename and archive it, and wants MANAGE_THREADS for the rest (the route
        checks that)."""
        if not isinstance(body, dict):
            raise form_error("_root", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        if "name" in body:
            name = body["name"]
            if not isinstance(name, str) or not 1 <= len(name) <= 100:
                raise form_error(
                    "name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
                )
            thread.name = name
        if body.get("auto_archive_duration") is not None:
            if body["auto_archive_duration"] not in ARCHIVE_DURATIONS:
                raise form_error(
                    "auto_archive_duration",
                    "BASE_TYPE_CHOICES",
                    f"Value must be one of {ARCHIVE_DURATIONS}.",
                )
            thread.auto_archive_duration = body["auto_archive_duration"]
        for key in ("archived", "locked", "invitable"):
            if body.get(key) is not None:
                setattr(thread, key, bool(body[key]))
        if body.get("rate_limit_per_user") is not None:
            thread.rate_limit_per_user = int(body["rate_limit_per_user"])
        for listener in self.channel_listeners:
            await listener("THREAD_UPDATE", thread)
        self.notify()

    def add_thread_member(self, thread: ChannelSpec, user_id: int) -> None:
        """PUT /channels/{id}/thread-members/{user_id} (or @me)."""
        if user_id not in self.users or not self.is_member(thread.guild_id or 0, user_id):
            raise unknown("Member", 10007)
        if user_id not in thread.thread_member_ids:
            thread.thread_member_ids.append(user_id)
        self.notify()

    # ------------------------------------------------------------------ interactions

    def new_interaction(
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
        parent_id: int | None = None,
    ) -> Interaction:
        """An interaction a user starts: its INTERACTION_CREATE payload, token and record."""
        if user_id not in self.users:
            raise LookupError(f"unknown user {user_id}")
        chan = self.channels.get(channel_id)
        if chan is None:
            raise LookupError(f"unknown channel {channel_id}")
        if chan.guild_id != guild_id:
            raise ValueError(f"channel {channel_id} is not in guild {guild_id}")
        visible = (
            guild_id is None or self.permissions(guild_id, user_id, chan.id) & Perm.VIEW_CHANNEL
        )
        if chan.is_thread and not visible:
            raise PermissionError(f"user {user_id} cannot see private thread {chan.id}")
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
            "channel": self.channel_payload(chan),
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": limit,
            "app_permissions": str(self.bot_permissions(chan)),
        }
        if guild_id is not None:
            guild = self.guilds[guild_id]
            if not self.is_member(guild_id, user_id):
                raise ValueError(f"user {user_id} is not a member of guild {guild_id}")
            member = self.member_payload(guild_id, user_id)
            member["permissions"] = str(self.permissions(guild_id, user_id, channel_id))
            payload.update(
                guild_id=str(guild_id),
                guild={"id": str(guild_id), "locale": guild.locale, "features": guild.features},
                guild_locale=guild.locale,
                member=member,
                authorizing_integration_owners={"0": str(guild_id)},
                context=0,
            )
            payload["channel"]["permissions"] = member["permissions"]
        else:
            payload.update(
                user=self.users[user_id].payload(),
                authorizing_integration_owners={"0": "0"},
                context=1,
            )
        if message is not None:
            payload["message"] = self.message_payload(message)
        rec = Interaction(
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
            parent_id=parent_id,
        )
        self.interactions[iid] = rec
        self._by_token[token] = rec
        return rec

    def interaction_for_callback(self, interaction_id: int, token: str) -> Interaction:
        """The interaction a callback names, or Discord's 404/400 for a wrong, late or
        second callback (`interaction_ack_deadline`, 3 s on Discord)."""
        rec = self.interactions.get(interaction_id)
        if rec is None or rec.token != token or rec.expired:
            raise DiscordHTTPError(404, 10062, "Unknown interaction")
        if rec.acked:
            raise DiscordHTTPError(400, 40060, "Interaction has already been acknowledged.")
        deadline = self.interaction_ack_deadline
        age = asyncio.get_running_loop().time() - rec.created
        if deadline is not None and age > deadline:
            raise DiscordHTTPError(404, 10062, "Unknown interaction")
        return rec

    def interaction_for_webhook(self, application_id: int, token: str) -> Interaction:
        """The interaction behind a webhook token (10015 unknown, 50027 expired)."""
        rec = self._by_token.get(token)
        if rec is None or application_id != self.app_id:
            raise unknown("Webhook", 10015)
        if rec.expired:
            raise DiscordHTTPError(401, 50027, "Invalid Webhook Token")
        return rec

    def interaction_message(self, rec: Interaction, message_id: int | None) -> StoredMessage:
        """A message this interaction's token made (None: the original response)."""
        mid = rec.original_message_id if message_id is None else message_id
        msg = self.messages.get(mid or 0)
        if msg is None or mid not in {*rec.message_ids, rec.original_message_id} or msg.deleted:
            raise unknown("Message", 10008)
        return msg

    async def acknowledge(
        self,
        rec: Interaction,
        body: Any,
        files: dict[int, Upload],
        request: RecordedRequest,
    ) -> tuple[Callback, dict[str, Any]]:
        """Apply an interaction callback; the callback and the JSON `with_response` body.

        4 posts the reply, 5 a loading placeholder, 6/7 acknowledge (7: edit) the message a
        component sits on, 9 opens a modal (checked as Discord checks modals).
        """
        if not isinstance(body, dict) or "type" not in body:
            raise form_error("type", "BASE_TYPE_REQUIRED", "This field is required")
        ctype = body["type"]
        allowed = set(rules.CALLBACK_TYPES.get(rec.type, set()))
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
            rules.validate_modal(data or {})
        cb = Callback(type=ctype, data=data, attachments=[], request=request)
        rec.callbacks.append(cb)  # acknowledged from here on; undone if the body is refused
        chan = self.channels[rec.channel_id]
        resource: dict[str, Any] | None = None
        msg: StoredMessage | None = None
        try:
            if ctype == 4:
                msg = await self.create_message(
                    chan,
                    data or {},
                    files,
                    author=self.bot_user,
                    source="interaction_response",
                    interaction=rec,
                )
                resource = {"type": 4, "message": self.message_payload(msg)}
            elif ctype == 5:
                flags = (data or {}).get("flags") or 0
                msg = await self.create_message(
                    chan,
                    {"flags": flags & FLAG_EPHEMERAL},
                    {},
                    author=self.bot_user,
                    source="interaction_response",
                    interaction=rec,
                    loading=True,
                )
            elif ctype in (6, 7):
                msg = self.messages[rec.component_message_id or 0]
                if ctype == 7:
                    await self.edit_message(msg, data or {}, files)
                    resource = {"type": 7, "message": self.message_payload(msg)}
        except Exception:
            rec.callbacks.remove(cb)
            raise
        info: dict[str, Any] = {"id": str(rec.id), "type": rec.type}
        if msg is not None:
            rec.original_message_id = msg.id
            cb.message_id = msg.id
            cb.attachments = list(msg.attachments) if ctype in (4, 7) else []
            info.update(
                response_message_id=str(msg.id),
                response_message_loading=msg.loading,
                response_message_ephemeral=msg.ephemeral,
            )
        self.notify()
        answer: dict[str, Any] = {"interaction": info}
        if resource is not None:
            answer["resource"] = resource
        return cb, answer

    async def followup(
        self, rec: Interaction, body: Any, files: dict[int, Upload]
    ) -> StoredMessage:
        """A followup message. The first one after a deferred reply fills the loading
        message (keeping its ephemeral state) instead of creating one, as on Discord."""
        if not rec.acked:
            raise unknown("Webhook", 10015)
        original = self.messages.get(rec.original_message_id or 0)
        if original is not None and original.loading and not original.deleted:
            if isinstance(body, dict):
                body = {k: v for k, v in body.items() if k != "flags"}
            await self.edit_message(original, body or {}, files)
            msg = original
        else:
            msg = await self.create_message(
                self.channels[rec.channel_id],
                body,
                files,
                author=self.bot_user,
                source="followup",
                interaction=rec,
            )
        rec.followup_ids.append(msg.id)
        self.notify()
        return msg
