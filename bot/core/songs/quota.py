"""Quota: what a member may still start, when the day resets, and what a refused member reads.

The charge itself happens in the store, in the same transaction that queues the task, so
twenty requests racing for the last song can't all get it; this module decides and
words everything around it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from bot.core.clock import Clock, SystemClock
from bot.core.errors import QuotaExceeded
from bot.core.models import QuotaLimits, QuotaRefusal, QuotaUsage
from bot.core.servers.guild_settings import EffectiveLimits, GuildSettingsService, Source
from bot.core.store.port import QuotaStore
from bot.core.wording import count, noun


def next_reset(now: float) -> float:
    """The next UTC midnight after `now`, when everyone's daily quota starts over."""
    today = datetime.fromtimestamp(now, tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today + timedelta(days=1)).timestamp()


def describe_wait(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"


def reset_phrase(now: float) -> str:
    return f"resets at 00:00 UTC (in {describe_wait(next_reset(now) - now)})"


def refusal_message(refusal: QuotaRefusal, limits: QuotaLimits, now: float) -> str:
    if refusal.limit == "daily":
        return (
            f"You've made {'today' if limits.daily == 1 else f'all {limits.daily} of today'}'s "
            f"{noun(limits.daily, 'song')}. "
            f"Your quota {reset_phrase(now)}; try again then."
        )
    return (
        f"You already have {refusal.usage.active} of {count(limits.active, 'song')} in progress. "
        "Wait for one to finish, then try again."
    )


class QuotaService:
    """A member's limits are the server's settings over the environment's (`limits`): the
    largest override among the roles they hold, else the server's default, else `limits`."""

    def __init__(
        self,
        store: QuotaStore,
        limits: QuotaLimits,
        *,
        clock: Clock | None = None,
        guild_settings: GuildSettingsService | None = None,
    ) -> None:
        self._store = store
        self.limits = limits  # the environment's (USER_DAILY_QUOTA, USER_MAX_ACTIVE)
        self._clock = clock or SystemClock()
        self._settings = guild_settings

    async def limits_for(
        self, guild_id: int | None, role_ids: Collection[int] = ()
    ) -> EffectiveLimits:
        """A member's limits in a server (outside one, or without settings: the defaults)."""
        if self._settings is None or guild_id is None:
            return EffectiveLimits(self.limits, Source.DEFAULT, Source.DEFAULT)
        settings = await self._settings.get(guild_id)
        return settings.limits_for(role_ids, self.limits)

    async def usage(self, user_id: int) -> QuotaUsage:
        return await self._store.quota_usage(user_id, self._clock.now())

    async def check(
        self, user_id: int, *, guild_id: int | None = None, role_ids: Collection[int] = ()
    ) -> QuotaUsage:
        """Refuse early (before any upload) when a new request could not be accepted."""
        limits = (await self.limits_for(guild_id, role_ids)).limits
        usage = await self.usage(user_id)
        if usage.used_today >= limits.daily:
            raise self.refused(QuotaRefusal("daily", usage), limits)
        if usage.active >= limits.active:
            raise self.refused(QuotaRefusal("active", usage), limits)
        return usage

    def refused(self, refusal: QuotaRefusal, limits: QuotaLimits | None = None) -> QuotaExceeded:
        """The refusal in words, against the limits that refused it (default: the env's)."""
        return QuotaExceeded(refusal_message(refusal, limits or self.limits, self._clock.now()))

    def reset_phrase(self) -> str:
        return reset_phrase(self._clock.now())


# --- what /quota (and the end of /help) says ----------------------------------------------

SOURCES = {Source.ROLE: "a role of yours", Source.SERVER: "this server's setting"}


def quota_lines(usage: QuotaUsage, limits: QuotaLimits, reset: str) -> list[str]:
    """The answer to /quota (and the end of /help): songs left today, and in progress."""
    left = max(0, limits.daily - usage.used_today)
    return [
        f"You have **{left} of {limits.daily}** {noun(limits.daily, 'song')} left today; "
        f"the quota {reset}.",
        f"In progress: {usage.active} of the {count(limits.active, 'song')} you can have at once.",
    ]


def source_line(effective: EffectiveLimits) -> str | None:
    """Where the member's limits come from, when not from the default."""
    said = []
    if effective.daily_from in SOURCES:
        said.append(f"your {effective.limits.daily} a day from {SOURCES[effective.daily_from]}")
    if effective.active_from in SOURCES:
        said.append(
            f"your {effective.limits.active} at a time from {SOURCES[effective.active_from]}"
        )
    return f"Limits here: {' and '.join(said)}." if said else None
