"""What each server's owner set with /settings, typed, and where every value comes from.

Settings are rows of the store's `guild_settings` table (one per server and key, JSON
values), so they survive restarts. A server that set nothing behaves exactly as the
environment says (USER_DAILY_QUOTA, USER_MAX_ACTIVE): every field here is "unset" until an
owner sets it. Reads are cached per server and dropped on every write, because every request
reads them and owners rarely change them.

Discord-free: /settings (cogs) writes through `GuildSettingsService`; the intake, the quota
and the thread decision read `GuildSettings`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.core.errors import UserFacingError
from bot.core.i18n.said import said
from bot.core.models import QuotaLimits
from bot.core.store.port import SettingsStore


class ThreadsMode(StrEnum):
    OFF = "off"  # the `thread` option is ignored: songs stay in the channel
    OPTIONAL = "optional"  # the member decides with the `thread` option (the default)
    ALWAYS = "always"  # every song gets a thread of its own


class Source(StrEnum):
    """Where an effective value came from, as /settings view and /quota say it."""

    ROLE = "role"
    SERVER = "server"
    DEFAULT = "default"  # the bot's environment (.env)


# The stored keys; their JSON values are described on `GuildSettings`' fields.
DAILY_QUOTA = "daily_quota"
MAX_ACTIVE = "max_active"
ROLE_QUOTAS = "role_quotas"
BUDGET_CREDITS = "budget_credits"
BLOCKED_WORDS = "blocked_words"
THREADS_MODE = "threads_mode"
LANGUAGE = "language"

# What /settings language offers: "auto" (the server's Discord locale) or a Discord locale.
LANGUAGE_CHOICES = ("auto", "en", "es", "pt-BR", "de", "fr", "ja")

# Bounds on a server's blocked words: every prompt and lyrics field is matched against them,
# and /settings view lists them in one message.
WORDS_MAX = 200
WORD_CHARS_MAX = 50


@dataclass(frozen=True, slots=True)
class RoleQuota:
    """An override for members holding a role; None leaves that limit to the server."""

    daily: int | None = None
    active: int | None = None


@dataclass(frozen=True, slots=True)
class EffectiveLimits:
    limits: QuotaLimits
    daily_from: Source
    active_from: Source


@dataclass(frozen=True, slots=True)
class GuildSettings:
    """One server's settings; None (or empty) means the server hasn't set it."""

    daily_quota: int | None = None  # JSON int
    max_active: int | None = None  # JSON int
    role_quotas: Mapping[int, RoleQuota] = field(default_factory=dict)  # {"<role id>": {...}}
    budget_credits: float | None = None  # JSON number; None or 0: no budget
    blocked_words: tuple[str, ...] = ()  # JSON list of strings, as the owner typed them
    threads_mode: ThreadsMode = ThreadsMode.OPTIONAL  # JSON string
    language: str | None = None  # JSON string, a LANGUAGE_CHOICES but "auto"; None: auto

    def public_locale(self, guild_locale: str | None) -> str | None:
        """The locale of what I post publicly here: the owner's choice, else the server's
        Discord locale (`guild_locale`)."""
        return self.language or guild_locale

    @property
    def has_budget(self) -> bool:
        return bool(self.budget_credits)

    def limits_for(self, role_ids: Iterable[int], defaults: QuotaLimits) -> EffectiveLimits:
        """A member's limits: the largest among the overrides of the roles they hold, else
        the server's default, else the environment's; each limit decided on its own."""
        held = [self.role_quotas[r] for r in role_ids if r in self.role_quotas]
        daily, daily_from = _pick(
            [q.daily for q in held if q.daily is not None], self.daily_quota, defaults.daily
        )
        active, active_from = _pick(
            [q.active for q in held if q.active is not None], self.max_active, defaults.active
        )
        return EffectiveLimits(QuotaLimits(daily=daily, active=active), daily_from, active_from)

    def wants_thread(self, option: bool | None) -> bool:
        """Whether a request gets a thread, before the "already in a thread" check."""
        if self.threads_mode is ThreadsMode.OFF:
            return False
        if self.threads_mode is ThreadsMode.ALWAYS:
            return True
        return bool(option)


def _pick(from_roles: list[int], server: int | None, default: int) -> tuple[int, Source]:
    if from_roles:
        return max(from_roles), Source.ROLE
    if server is not None:
        return server, Source.SERVER
    return default, Source.DEFAULT


def parse(stored: Mapping[str, str]) -> GuildSettings:
    """The typed settings from the stored rows; a value that doesn't parse counts as unset
    (a hand-edited database must not take the bot down)."""
    values: dict[str, Any] = {}
    for key, raw in stored.items():
        try:
            values[key] = json.loads(raw)
        except ValueError:
            continue
    roles: dict[int, RoleQuota] = {}
    raw_roles = values.get(ROLE_QUOTAS)
    if isinstance(raw_roles, dict):
        for role_id, quota in raw_roles.items():
            if str(role_id).isdigit() and isinstance(quota, dict):
                roles[int(role_id)] = RoleQuota(
                    daily=_int_or_none(quota.get("daily")),
                    active=_int_or_none(quota.get("active")),
                )
    words = values.get(BLOCKED_WORDS)
    budget = values.get(BUDGET_CREDITS)
    language = values.get(LANGUAGE)
    try:
        mode = ThreadsMode(values.get(THREADS_MODE, ThreadsMode.OPTIONAL.value))
    except ValueError:
        mode = ThreadsMode.OPTIONAL
    return GuildSettings(
        daily_quota=_int_or_none(values.get(DAILY_QUOTA)),
        max_active=_int_or_none(values.get(MAX_ACTIVE)),
        role_quotas=roles,
        budget_credits=float(budget)
        if isinstance(budget, int | float) and not isinstance(budget, bool) and budget > 0
        else None,
        blocked_words=tuple(w for w in words if isinstance(w, str))
        if isinstance(words, list)
        else (),
        threads_mode=mode,
        language=language if language in LANGUAGE_CHOICES and language != "auto" else None,
    )


def split_words(typed: str | None) -> list[str]:
    """Words as an owner types them in /settings words: comma-separated, trimmed (inner
    spaces squeezed), empties dropped, case-insensitively de-duplicated (the first spelling
    kept). Raises UserFacingError for a word over WORD_CHARS_MAX characters."""
    kept: dict[str, str] = {}
    for piece in (typed or "").split(","):
        word = " ".join(piece.split())
        if not word:
            continue
        if len(word) > WORD_CHARS_MAX:
            raise UserFacingError(
                said(
                    "A blocked word can be at most {limit} characters; one you gave has {count}.",
                    limit=WORD_CHARS_MAX,
                    count=len(word),
                )
            )
        kept.setdefault(word.casefold(), word)
    return list(kept.values())


def edited_words(current: Iterable[str], *, add: str | None, remove: str | None) -> list[str]:
    """The blocked words after adding `add` and removing `remove` (both as typed), compared
    case-insensitively. Raises UserFacingError beyond WORDS_MAX words."""
    removed = {w.casefold() for w in split_words(remove)}
    words: dict[str, str] = {}
    for word in [*current, *split_words(add)]:
        if word.casefold() not in removed:
            words.setdefault(word.casefold(), word)
    if len(words) > WORDS_MAX:
        raise UserFacingError(
            said(
                "A server can block at most {limit} words; that would make {count}. "
                "Remove some first.",
                limit=WORDS_MAX,
                count=len(words),
            )
        )
    return list(words.values())


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class GuildSettingsService:
    """Reads (cached) and writes one server's settings."""

    def __init__(self, store: SettingsStore) -> None:
        self._store = store
        self._cache: dict[int, GuildSettings] = {}

    async def get(self, guild_id: int | None) -> GuildSettings:
        """A server's settings; outside a server (a DM) the defaults."""
        if guild_id is None:
            return GuildSettings()
        cached = self._cache.get(guild_id)
        if cached is None:
            cached = self._cache[guild_id] = parse(await self._store.guild_settings(guild_id))
        return cached

    async def _set(self, guild_id: int, key: str, value: object | None) -> GuildSettings:
        encoded = None if value is None else json.dumps(value)
        await self._store.set_guild_setting(guild_id, key, encoded)
        self._cache.pop(guild_id, None)
        return await self.get(guild_id)

    async def set_quota(
        self, guild_id: int, *, daily: int | None, active: int | None, role_id: int | None = None
    ) -> GuildSettings:
        """The server's defaults, or (with `role_id`) that role's override. A limit left None
        is left as it was; a role override with neither limit left is removed."""
        if role_id is None:
            if daily is not None:
                await self._set(guild_id, DAILY_QUOTA, daily)
            if active is not None:
                await self._set(guild_id, MAX_ACTIVE, active)
            return await self.get(guild_id)
        current = await self.get(guild_id)
        roles = {
            str(r): {"daily": q.daily, "active": q.active} for r, q in current.role_quotas.items()
        }
        old = current.role_quotas.get(role_id, RoleQuota())
        roles[str(role_id)] = {
            "daily": old.daily if daily is None else daily,
            "active": old.active if active is None else active,
        }
        return await self._set(guild_id, ROLE_QUOTAS, roles)

    async def clear_role_quota(self, guild_id: int, role_id: int) -> GuildSettings:
        current = await self.get(guild_id)
        roles = {
            str(r): {"daily": q.daily, "active": q.active}
            for r, q in current.role_quotas.items()
            if r != role_id
        }
        return await self._set(guild_id, ROLE_QUOTAS, roles or None)

    async def forget_role(self, guild_id: int, role_id: int) -> bool:
        """A deleted role's override goes with it; True when it had one."""
        if role_id not in (await self.get(guild_id)).role_quotas:
            return False
        await self.clear_role_quota(guild_id, role_id)
        return True

    async def set_budget(self, guild_id: int, credits: float) -> GuildSettings:
        """Credits per UTC day for the whole server; 0 removes the budget."""
        return await self._set(guild_id, BUDGET_CREDITS, credits if credits > 0 else None)

    async def set_blocked_words(self, guild_id: int, words: Iterable[str]) -> GuildSettings:
        """The whole list (see `edited_words`); de-duplicated here too, in order."""
        kept = list(dict.fromkeys(w for w in words if w))
        return await self._set(guild_id, BLOCKED_WORDS, kept or None)

    async def set_threads_mode(self, guild_id: int, mode: ThreadsMode) -> GuildSettings:
        return await self._set(
            guild_id, THREADS_MODE, None if mode is ThreadsMode.OPTIONAL else mode.value
        )

    async def set_language(self, guild_id: int, language: str) -> GuildSettings:
        """The language of my public messages here; "auto" follows the server's locale."""
        return await self._set(guild_id, LANGUAGE, None if language == "auto" else language)
