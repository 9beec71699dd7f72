"""Quota: what a member may still start, when the day resets, and what a refused member reads.

The charge itself happens in the store, in the same transaction that queues the task, so
twenty requests racing for the last song can't all get it; this module decides and
words everything around it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.clock import Clock, SystemClock
from bot.errors import QuotaExceeded
from bot.models import QuotaLimits, QuotaRefusal, QuotaUsage
from bot.store import Store


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
            f"You've made all {limits.daily} of today's songs. "
            f"Your quota {reset_phrase(now)}; try again then."
        )
    return (
        f"You already have {refusal.usage.active} of {limits.active} songs in progress. "
        "Wait for one to finish, then try again."
    )


class QuotaService:
    def __init__(self, store: Store, limits: QuotaLimits, *, clock: Clock | None = None) -> None:
        self._store = store
        self.limits = limits
        self._clock = clock or SystemClock()

    async def usage(self, user_id: int) -> QuotaUsage:
        return await self._store.quota_usage(user_id, self._clock.now())

    async def check(self, user_id: int) -> QuotaUsage:
        """Refuse early (before any upload) when a new request could not be accepted."""
        usage = await self.usage(user_id)
        if usage.used_today >= self.limits.daily:
            raise self.refused(QuotaRefusal("daily", usage))
        if usage.active >= self.limits.active:
            raise self.refused(QuotaRefusal("active", usage))
        return usage

    def refused(self, refusal: QuotaRefusal) -> QuotaExceeded:
        return QuotaExceeded(refusal_message(refusal, self.limits, self._clock.now()))

    def reset_phrase(self) -> str:
        return reset_phrase(self._clock.now())
