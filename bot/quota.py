"""Quota arithmetic and wording: when the day resets and what a refused user reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.models import QuotaRefusal


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


def refusal_message(refusal: QuotaRefusal, limits: tuple[int, int, float]) -> str:
    daily_quota, max_active, now = limits
    if refusal.limit == "daily":
        return (
            f"You've used all {daily_quota} of today's generations. Your quota {reset_phrase(now)}."
        )
    return (
        f"You already have {refusal.usage.active} of {max_active} songs in progress. "
        "Wait for one to finish, then try again."
    )
