"""What /usage says: this month's requests and credits per member, and today's spend.

Discord-free: the cog (`cogs.usage`) reads the store and sends this text with mentions that
ping no one. A "request" is a charged one (failed and cancelled requests are refunded and
count neither a request nor credits), as in the quota and the budget.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from bot.core.songs.budget import Spend, credits
from bot.core.store import UsageLine
from bot.core.wording import count

TOP = 10  # members listed; the total counts everyone


def month_bounds(now: float) -> tuple[str, str]:
    """The UTC calendar month of `now`: its first day and the next month's first day, as
    the store's quota days (ISO dates) spell them."""
    today = datetime.fromtimestamp(now, tz=UTC).date()
    first = today.replace(day=1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first.isoformat(), following.isoformat()


def usage_text(now: float, total: UsageLine, top: list[UsageLine], today: Spend, reset: str) -> str:
    month = datetime.fromtimestamp(now, tz=UTC).strftime("%B %Y")
    lines = [f"**This month's usage** ({month}, UTC)"]
    if not top:
        lines.append("No songs yet this month.")
    for rank, line in enumerate(top, start=1):
        lines.append(
            f"{rank}. <@{line.user_id}>: {count(line.requests, 'song')}, "
            f"{credits(line.credits)} credits"
        )
    lines.append(
        f"Server total: {count(total.requests, 'song')}, {credits(total.credits)} credits."
    )
    if today.budget is None:
        lines.append(f"Today: {credits(today.spent)} credits spent; no budget.")
    else:
        lines.append(
            f"Today: {credits(today.spent)} of the {credits(today.budget)}-credit daily "
            f"budget spent; it {reset}."
        )
    return "\n".join(lines)
