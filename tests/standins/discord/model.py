"""The Discord stand-in's vocabulary: specs a test passes in, records it reads back.

Plain data and pure functions (snowflakes, Discord's error bodies, mention rules, CDN
signatures); nothing here touches the network or holds the world's state, so every other
module of the package can import it. Payload shapes follow Discord's API v10 as discord.py
2.7.1 parses them (and as Discord's OpenAPI description lists their required keys).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000

# Guild.filesize_limit in discord.py 2.7.1 (guild.py `_PREMIUM_GUILD_LIMITS`).
FILESIZE_LIMITS = {
    0: 10 * 1024 * 1024,
    1: 10 * 1024 * 1024,
    2: 50 * 1024 * 1024,
    3: 100 * 1024 * 1024,
}
DM_FILESIZE_LIMIT = 10 * 1024 * 1024

# Message flags.
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_HAS_THREAD = 1 << 5  # a thread was started from this message
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12


class Perm:
    """Permission bits used by the stand-in."""

    CREATE_INSTANT_INVITE = 1 << 0
    ADMINISTRATOR = 1 << 3
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    STREAM = 1 << 9
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    USE_VAD = 1 << 25
    CHANGE_NICKNAME = 1 << 26
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    # In a thread this replaces SEND_MESSAGES (which the thread's parent needs).
    SEND_MESSAGES_IN_THREADS = 1 << 38
    ALL = (1 << 53) - 1


# What Discord's own settings call each permission, for refusals a person reads.
PERMISSION_NAMES: dict[int, str] = {
    Perm.CREATE_INSTANT_INVITE: "Create Invite",
    Perm.ADMINISTRATOR: "Administrator",
    Perm.MANAGE_GUILD: "Manage Server",
    Perm.ADD_REACTIONS: "Add Reactions",
    Perm.STREAM: "Video",
    Perm.VIEW_CHANNEL: "View Channels",
    Perm.SEND_MESSAGES: "Send Messages",
    Perm.MANAGE_MESSAGES: "Manage Messages",
    Perm.EMBED_LINKS: "Embed Links",
    Perm.ATTACH_FILES: "Attach Files",
    Perm.READ_MESSAGE_HISTORY: "Read Message History",
    Perm.MENTION_EVERYONE: "Mention @everyone, @here and All Roles",
    Perm.USE_EXTERNAL_EMOJIS: "Use External Emoji",
    Perm.CONNECT: "Connect",
    Perm.SPEAK: "Speak",
    Perm.USE_VAD: "Use Voice Activity",
    Perm.CHANGE_NICKNAME: "Change Nickname",
    Perm.USE_APPLICATION_COMMANDS: "Use Application Commands",
    Perm.MANAGE_THREADS: "Manage Threads",
    Perm.CREATE_PUBLIC_THREADS: "Create Public Threads",
    Perm.CREATE_PRIVATE_THREADS: "Create Private Threads",
    Perm.SEND_MESSAGES_IN_THREADS: "Send Messages in Threads",
}


def permission_names(bits: int) -> str:
    """Permission bits in words: "Manage Server", "Manage Messages and Attach Files"."""
    names = [
        PERMISSION_NAMES.get(1 << n, f"permission bit {n}")
        for n in range(bits.bit_length())
        if bits >> n & 1
    ]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


DEFAULT_EVERYONE_PERMISSIONS = (
    Perm.CREATE_INSTANT_INVITE
    | Perm.ADD_REACTIONS
    | Perm.STREAM
    | Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.MENTION_EVERYONE
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.CONNECT
    | Perm.SPEAK
    | Perm.USE_VAD
    | Perm.CHANGE_NICKNAME
    | Perm.USE_APPLICATION_COMMANDS
    | Perm.CREATE_PUBLIC_THREADS
    | Perm.CREATE_PRIVATE_THREADS
    | Perm.SEND_MESSAGES_IN_THREADS
)
DEFAULT_BOT_PERMISSIONS = DEFAULT_EVERYONE_PERMISSIONS | Perm.MANAGE_MESSAGES


# --------------------------------------------------------------------------- snowflakes

_snowflake_lock = threading.Lock()
_last_snowflake = 0
_increment = itertools.count()


def new_snowflake() -> int:
    """A fresh, strictly increasing snowflake (so ordering by id is ordering by time)."""
    global _last_snowflake
    with _snowflake_lock:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        value = (ms << 22) | (1 << 17) | (next(_increment) & 0xFFF)
        if value <= _last_snowflake:
            value = _last_snowflake + 1
        _last_snowflake = value
        return value


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard that holds a guild, as Discord computes it: `(guild_id >> 22) % count`."""
    return (guild_id >> 22) % shard_count


def guild_id_for_shard(shard_id: int, shard_count: int) -> int:
    """A fresh snowflake (for `GuildSpec(id=...)`) that lands on `shard_id` of
    `shard_count`: the next one whose timestamp part is `shard_id` modulo the count, so
    ids stay increasing. `shard_of(guild_id_for_shard(i, n), n) == i`."""
    if not 0 <= shard_id < shard_count:
        raise ValueError(f"no shard {shard_id} among {shard_count}")
    global _last_snowflake
    with _snowflake_lock:
        ms = max(int(time.time() * 1000) - DISCORD_EPOCH_MS, (_last_snowflake >> 22) + 1)
        ms += (shard_id - ms) % shard_count
        value = (ms << 22) | (1 << 17) | (next(_increment) & 0xFFF)
        _last_snowflake = value
        return value


def snowflake_time(snowflake: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000, dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def now_iso() -> str:
    return iso(dt.datetime.now(dt.UTC))


# --------------------------------------------------------------------------- errors


class DiscordHTTPError(Exception):
    """Raised inside handlers; becomes Discord's JSON error body."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def form_error(field_path: str, code: str, message: str) -> DiscordHTTPError:
    """A 400 "Invalid Form Body" (50035) naming one field, as Discord words it."""
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(field_path.split(".")):
        errors = {part: errors}
    return DiscordHTTPError(400, 50035, "Invalid Form Body", errors)


def unknown(kind: str, code: int) -> DiscordHTTPError:
    return DiscordHTTPError(404, code, f"Unknown {kind}")


# --------------------------------------------------------------------------- specs


@dataclass
class UserSpec:
    """A Discord user. `id=0` gets a fresh snowflake when the stand-in starts."""

    username: str = "user"
    id: int = 0
    global_name: str | None = None
    bot: bool = False
    # The user's DMs are closed to the bot (privacy settings, or it is blocked): Discord still
    # opens the DM channel, but a message the bot sends there is refused, 403 50007.
    dms_closed: bool = False

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "collectibles": None,
            "primary_guild": None,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass
class RoleSpec:
    name: str = "role"
    id: int = 0
    permissions: int = 0
    mentionable: bool = False
    color: int = 0
    position: int = 1
    managed: bool = False
    bot_id: int | None = None  # set for the bot's managed role

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {  # as GUILD_CREATE carries it
            "id": str(self.id),
            "name": self.name,
            "color": self.color,
            "hoist": False,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


THREAD_TYPES = (11, 12)  # public, private thread
ARCHIVE_DURATIONS = (60, 1440, 4320, 10080)  # minutes Discord accepts
MAX_ACTIVE_THREADS = 1000  # per guild, on Discord


@dataclass
class ChannelSpec:
    """A channel (type 0 = text, 1 = DM, 11/12 = public/private thread). `bot_denied` is a
    permission overwrite for the bot. The stand-in fills in `guild_id`, `recipients` and
    `last_message_id` and keeps the spec as its record.

    Threads are made by the bot's calls (`World.create_thread`), never by a test's spec:
    they have a `parent_id` (the text channel), an `owner_id` (who started them), and the
    parent's permission overwrites apply inside them, as on Discord.
    """

    name: str = "general"
    id: int = 0
    type: int = 0
    topic: str | None = None
    bot_denied: int = 0
    position: int = 0
    guild_id: int | None = None
    recipients: list[int] = field(default_factory=list)  # a DM's user
    last_message_id: int | None = None
    # Threads only.
    parent_id: int | None = None
    owner_id: int | None = None
    archived: bool = False
    locked: bool = False
    auto_archive_duration: int = 1440
    invitable: bool = True  # private threads: may non-moderators add people
    rate_limit_per_user: int = 0
    message_count: int = 0  # messages in the thread (not the starter message)
    total_message_sent: int = 0  # same, but never decremented by deletions
    thread_member_ids: list[int] = field(default_factory=list)
    created_at: str | None = None
    starter_message_id: int | None = None  # the message it was started from (same id)

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES


@dataclass
class GuildSpec:
    """A guild the bot is in.

    channels: ChannelSpec or bare ids (text channels named channel-N).
    member_ids: which users are members (None = every configured user).
    member_roles: user id -> role ids.
    """

    name: str = "Test Guild"
    id: int = 0
    channels: list[ChannelSpec | int] = field(default_factory=lambda: [ChannelSpec()])
    premium_tier: int = 0
    roles: list[RoleSpec] = field(default_factory=list)
    member_ids: list[int] | None = None
    member_roles: dict[int, list[int]] = field(default_factory=dict)
    owner_id: int | None = None
    everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS
    bot_permissions: int = DEFAULT_BOT_PERMISSIONS
    locale: str = "en-US"
    features: list[str] = field(default_factory=list)
    # Discord refuses a new thread with 160006 once this many are active (not archived).
    max_active_threads: int = MAX_ACTIVE_THREADS

    @property
    def filesize_limit(self) -> int:
        return FILESIZE_LIMITS.get(self.premium_tier, FILESIZE_LIMITS[0])


# --------------------------------------------------------------------------- attachments


@dataclass
class StoredAttachment:
    """A file held by the stand-in's CDN: user uploads (`add_attachment`) and bot uploads."""

    id: int
    filename: str
    data: bytes | None  # None when served from `path`
    size: int
    url: str
    content_type: str | None = None
    description: str | None = None
    path: str | None = None
    ephemeral: bool = False
    title: str | None = None
    width: int | None = None  # images only, as Discord measures them
    height: int | None = None

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        with open(self.path, "rb") as fh:
            return fh.read()

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
        }
        if self.content_type:
            data["content_type"] = self.content_type
        if self.description is not None:
            data["description"] = self.description
        if self.title is not None:
            data["title"] = self.title
        if self.width is not None and self.height is not None:
            data.update(width=self.width, height=self.height)
        if self.ephemeral:
            data["ephemeral"] = True
        return data


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF or baseline/progressive JPEG (Discord adds them to
    image attachments and to embed images); None for anything else."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data) and data[i] == 0xFF:
            marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2):
                return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(
                    data[i + 5 : i + 7], "big"
                )
            i += 2 + length
    return None


_FILENAME_BAD = re.compile(r"[^\w.\-]", re.UNICODE)


def sanitize_filename(name: str) -> str:
    """Discord's upload renaming, approximately: whitespace -> '_', odd characters dropped."""
    cleaned = _FILENAME_BAD.sub("", re.sub(r"\s", "_", name))
    return cleaned or "unknown"


def cdn_signature(secret: bytes, path: str) -> dict[str, str]:
    """The `ex`/`is`/`hm` query Discord's CDN requires since 2024 (here an HMAC of the path)."""
    issued = int(time.time())
    expires = issued + 24 * 3600
    mac = hashlib.sha256(secret + path.encode() + f"{expires:x}{issued:x}".encode()).hexdigest()
    return {"ex": f"{expires:x}", "is": f"{issued:x}", "hm": mac}


def cdn_signature_ok(secret: bytes, path: str, query: Any) -> bool:
    try:
        ex, issued, hm = query["ex"], query["is"], query["hm"]
    except KeyError:
        return False
    mac = hashlib.sha256(secret + path.encode() + f"{ex}{issued}".encode()).hexdigest()
    return mac == hm


# --------------------------------------------------------------------------- mentions

USER_MENTION = re.compile(r"<@!?(\d{1,20})>")
ROLE_MENTION = re.compile(r"<@&(\d{1,20})>")


@dataclass
class Mentions:
    """Who a message pings, computed as Discord does from content + allowed_mentions."""

    users: list[int] = field(default_factory=list)
    roles: list[int] = field(default_factory=list)
    everyone: bool = False  # "@everyone" pinged
    here: bool = False  # "@here" pinged

    @property
    def mention_everyone(self) -> bool:
        return self.everyone or self.here

    @property
    def empty(self) -> bool:
        return not (self.users or self.roles or self.everyone or self.here)


def _snowflake_list(value: Any, field_name: str) -> list[int]:
    if not isinstance(value, list):
        raise form_error(f"allowed_mentions.{field_name}", "LIST_TYPE_CONVERT", "Must be a list.")
    if len(value) > 100:
        raise form_error(
            f"allowed_mentions.{field_name}",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 100 or fewer in length.",
        )
    try:
        return [int(v) for v in value]
    except (TypeError, ValueError):
        raise form_error(
            f"allowed_mentions.{field_name}", "NUMBER_TYPE_COERCE", "Value is not snowflake."
        ) from None


def resolve_mentions(
    content: str | None,
    allowed_mentions: dict[str, Any] | None,
    *,
    known_users: set[int],
    roles: dict[int, RoleSpec],
    can_mention_everyone: bool,
    replied_user_id: int | None = None,
) -> Mentions:
    """Apply Discord's rules.

    * allowed_mentions absent: every user/role/@everyone/@here in `content` is parsed, and a
      reply pings the replied-to author.
    * present: `parse` lists the kinds parsed wholesale; `users`/`roles` whitelist ids that must
      also appear in `content`; `parse` containing "users" together with a `users` list is a
      400 (same for roles); `replied_user` defaults to false.
    * @everyone/@here and unmentionable roles need MENTION_EVERYONE; unknown user ids and roles
      are not mentions. Mentions in embeds never ping.
    """
    content = content or ""
    if allowed_mentions is None:
        parse = {"users", "roles", "everyone"}
        user_whitelist: set[int] = set()
        role_whitelist: set[int] = set()
        replied = True
    else:
        if not isinstance(allowed_mentions, dict):
            raise form_error(
                "allowed_mentions", "DICT_TYPE_CONVERT", "Only dictionaries may be used."
            )
        raw_parse = allowed_mentions.get("parse", [])
        if not isinstance(raw_parse, list) or any(
            p not in ("users", "roles", "everyone") for p in raw_parse
        ):
            raise form_error(
                "allowed_mentions.parse", "ENUM_TYPE_COERCE", f"Value {raw_parse!r} is not valid."
            )
        parse = set(raw_parse)
        user_whitelist = set(_snowflake_list(allowed_mentions.get("users", []), "users"))
        role_whitelist = set(_snowflake_list(allowed_mentions.get("roles", []), "roles"))
        if "users" in parse and user_whitelist:
            raise form_error(
                "allowed_mentions",
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                'parse:["users"] and users: [ids] are mutually exclusive.',
            )
        if "roles" in parse and role_whitelist:
            raise form_error(
                "allowed_mentions",
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                'parse:["roles"] and roles: [ids] are mutually exclusive.',
            )
        replied = bool(allowed_mentions.get("replied_user", False))

    result = Mentions()
    for match in USER_MENTION.finditer(content):
        uid = int(match.group(1))
        if uid not in known_users or uid in result.users:
            continue
        if "users" in parse or uid in user_whitelist:
            result.users.append(uid)
    for match in ROLE_MENTION.finditer(content):
        rid = int(match.group(1))
        role = roles.get(rid)
        if role is None or rid in result.roles:
            continue
        if not (role.mentionable or can_mention_everyone):
            continue
        if "roles" in parse or rid in role_whitelist:
            result.roles.append(rid)
    if "everyone" in parse and can_mention_everyone:
        result.everyone = "@everyone" in content
        result.here = "@here" in content
    if replied and replied_user_id is not None and replied_user_id not in result.users:
        result.users.append(replied_user_id)
    return result


# --------------------------------------------------------------------------- messages


@dataclass
class StoredMessage:
    """A message as the stand-in holds it. `edits` keeps earlier versions (oldest first)."""

    id: int
    channel_id: int
    guild_id: int | None
    author: dict[str, Any]
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[StoredAttachment] = field(default_factory=list)
    flags: int = 0
    allowed_mentions: dict[str, Any] | None = None
    resolved_mentions: Mentions = field(default_factory=Mentions)
    message_reference: dict[str, Any] | None = None
    type: int = 0
    tts: bool = False
    nonce: str | int | None = None
    source: str = "channel"  # channel | interaction_response | followup | user | system
    interaction_id: int | None = None
    interaction_metadata: dict[str, Any] | None = None
    webhook_id: int | None = None
    application_id: int | None = None
    timestamp: str = field(default_factory=now_iso)
    edited_timestamp: str | None = None
    deleted: bool = False
    edits: list[dict[str, Any]] = field(default_factory=list)
    thread_id: int | None = None  # the thread started from this message
    # Who the message pinged when it was posted (or when a deferred reply got its content);
    # later edits change `resolved_mentions` but notify nobody, as on Discord.
    notified_mentions: Mentions = field(default_factory=Mentions)

    @property
    def author_id(self) -> int:
        return int(self.author["id"])

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & FLAG_LOADING)

    @property
    def files(self) -> dict[str, bytes]:
        """filename -> bytes of this message's attachments."""
        return {a.filename: a.read() for a in self.attachments}

    @property
    def notified(self) -> Mentions:
        """Who was actually notified: nobody for ephemeral or @silent messages."""
        if self.ephemeral or self.flags & FLAG_SUPPRESS_NOTIFICATIONS:
            return Mentions()
        return self.notified_mentions

    def snapshot(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "embeds": self.embeds,
            "components": self.components,
            "attachments": [a.filename for a in self.attachments],
            "flags": self.flags,
            "allowed_mentions": self.allowed_mentions,
            "resolved_mentions": self.resolved_mentions,
            "edited_timestamp": self.edited_timestamp,
        }

    def payload(self, users: dict[int, UserSpec], referenced: StoredMessage | None = None) -> dict:
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "channel_id": str(self.channel_id),
            "author": self.author,
            "content": self.content,
            "timestamp": self.timestamp,
            "edited_timestamp": self.edited_timestamp,
            "tts": self.tts,
            "mention_everyone": self.resolved_mentions.mention_everyone,
            "mentions": [users[u].payload() for u in self.resolved_mentions.users if u in users],
            "mention_roles": [str(r) for r in self.resolved_mentions.roles],
            "attachments": [a.payload() for a in self.attachments],
            "embeds": self.embeds,
            "components": self.components,
            "pinned": False,
            "flags": self.flags,
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        if self.nonce is not None:
            data["nonce"] = self.nonce
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
        if self.application_id is not None:
            data["application_id"] = str(self.application_id)
        if self.interaction_metadata is not None:
            data["interaction_metadata"] = self.interaction_metadata
        if self.message_reference is not None:
            data["message_reference"] = self.message_reference
        if self.message_reference is not None and self.message_reference.get("message_id"):
            data["referenced_message"] = (
                referenced.payload(users)
                if referenced is not None and not referenced.deleted
                else None
            )
        return data


# --------------------------------------------------------------------------- records


@dataclass
class Upload:
    """One multipart part of a request (`payload_json`, `files[n]`)."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


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
    timestamp: float  # time.time() once the body was read
    kind: str  # "rest" | "cdn"
    json: Any = None
    parts: list[PartSummary] = field(default_factory=list)
    authorization: str | None = None  # scheme only ("Bot"), None when absent
    route: str | None = None  # "/channels/{channel_id}/messages"
    status: int | None = None
    response: Any = None  # decoded JSON response body
    fault: Any = None  # the rest.Fault that answered instead of the route
    unhandled: bool = False
    # What the OpenAPI check needs (multipart bodies are checked through payload_json).
    query_items: list[tuple[str, str]] = field(default_factory=list, repr=False)
    validation_body: bytes | None = field(default=None, repr=False)
    validation_ctype: str | None = field(default=None, repr=False)
    response_body: bytes | None = field(default=None, repr=False)
    response_ctype: str | None = field(default=None, repr=False)
    response_headers: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def files(self) -> list[PartSummary]:
        return [p for p in self.parts if p.filename is not None]

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


@dataclass
class Callback:
    """One interaction callback the bot made (POST /interactions/{id}/{token}/callback)."""

    type: int
    data: dict[str, Any] | None
    attachments: list[StoredAttachment]
    request: RecordedRequest
    message_id: int | None = None
    # Loop time when the HTTP answer's last byte was handed to the bot's socket: only then
    # does Discord's client learn of the callback (and, for a modal, show it).
    responded_at: float | None = None

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
    type: int  # 4 text input, 3 string select (the kinds the stand-in fills in)
    label: str | None
    required: bool
    min_length: int | None = None
    max_length: int | None = None
    value: str | None = None  # pre-filled text
    options: list[dict[str, Any]] | None = None  # a select's options (label, value, ...)
    min_values: int = 1
    max_values: int = 1
    placeholder: str | None = None  # the grey hint shown while the input is empty

    @property
    def option_values(self) -> list[str]:
        return [o["value"] for o in self.options or []]


def modal_fields(components: list[dict[str, Any]]) -> list[ModalField]:
    """The inputs of a modal, in order, with their effective `required`."""
    out: list[ModalField] = []

    def visit(comp: dict[str, Any], label: str | None) -> None:
        ctype = comp.get("type")
        if ctype == 1:
            for child in comp.get("components", []):
                visit(child, None)
        elif ctype == 18:
            visit(comp.get("component", {}), comp.get("label"))
        elif "custom_id" in comp and isinstance(ctype, int):
            out.append(
                ModalField(
                    custom_id=comp["custom_id"],
                    type=ctype,
                    label=label if label is not None else comp.get("label"),
                    required=bool(comp.get("required", True)),
                    min_length=comp.get("min_length"),
                    max_length=comp.get("max_length"),
                    value=comp.get("value"),
                    options=comp.get("options"),
                    min_values=comp.get("min_values", 1),
                    max_values=comp.get("max_values", 1),
                    placeholder=comp.get("placeholder"),
                )
            )

    for comp in components:
        visit(comp, None)
    return out


def find_component(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    """The component with `custom_id`, at any depth (rows, sections, labels)."""
    for comp in components:
        if comp.get("custom_id") == custom_id:
            return comp
        for key in ("components", "accessory", "component"):
            child = comp.get(key)
            children = (
                child if isinstance(child, list) else [child] if isinstance(child, dict) else []
            )
            found = find_component(children, custom_id)
            if found is not None:
                return found
    return None


@dataclass
class Interaction:
    """An interaction the stand-in sent, and everything the bot did with its token."""

    id: int
    token: str
    type: int  # 2 command, 3 component, 5 modal submit
    payload: dict[str, Any]  # the INTERACTION_CREATE data
    user_id: int
    guild_id: int | None
    channel_id: int
    created: float  # loop time
    size_limit: int
    name: str | None = None
    component_message_id: int | None = None
    parent_id: int | None = None  # for a modal submit: the interaction that opened the modal
    callbacks: list[Callback] = field(default_factory=list)
    original_message_id: int | None = None
    message_ids: list[int] = field(default_factory=list)
    followup_ids: list[int] = field(default_factory=list)
    expired: bool = False
    sent_at: float | None = None  # loop time the INTERACTION_CREATE went out

    @property
    def acked(self) -> bool:
        return bool(self.callbacks)
