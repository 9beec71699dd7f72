"""What /usage says: this month's requests and credits per member, and today's spend.

Discord-free: the cog (`cogs.usage`) reads the store and sends this text with mentions that
ping no one. A "request" is a charged one (failed and cancelled requests are refunded and
count neither a request nor credits), as in the quota and the budget.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from babel.dates import format_skeleton

from bot.core.i18n import LocaleLike, decimal, gettext, language, ngettext
from bot.core.i18n.said import Said, in_
from bot.core.songs.budget import Spend
from bot.core.store import UsageLine

TOP = 10  # members listed; the total counts everyone


def month_bounds(now: float) -> tuple[str, str]:
    """The UTC calendar month of `now`: its first day and the next month's first day, as
    the store's quota days (ISO dates) spell them."""
    today = datetime.fromtimestamp(now, tz=UTC).date()
    first = today.replace(day=1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first.isoformat(), following.isoformat()


def usage_text(
    now: float,
    total: UsageLine,
    top: list[UsageLine],
    today: Spend,
    reset: str | Said,
    locale: LocaleLike = None,
) -> str:
    """The whole /usage answer, in the member's language (`locale`)."""
    formats = language(locale).formats
    month = format_skeleton("yMMMM", datetime.fromtimestamp(now, tz=UTC), locale=formats)
    lines = [gettext(locale, "**This month's usage** ({month}, UTC)", month=month)]
    if not top:
        lines.append(gettext(locale, "No songs yet this month."))
    for rank, line in enumerate(top, start=1):
        lines.append(
            ngettext(
                locale,
                "{rank}. <@{user}>: {count} song, {credits} credits",
                "{rank}. <@{user}>: {count} songs, {credits} credits",
                line.requests,
                rank=rank,
                user=line.user_id,
                credits=decimal(locale, line.credits, 2),
            )
        )
    lines.append(
        ngettext(
            locale,
            "Server total: {count} song, {credits} credits.",
            "Server total: {count} songs, {credits} credits.",
            total.requests,
            credits=decimal(locale, total.credits, 2),
        )
    )
    spent = decimal(locale, today.spent, 2)
    if today.budget is None:
        lines.append(gettext(locale, "Today: {spent} credits spent; no budget.", spent=spent))
    else:
        lines.append(
            gettext(
                locale,
                "Today: {spent} of the {budget}-credit daily budget spent; it {reset}.",
                spent=spent,
                budget=decimal(locale, today.budget, 2),
                reset=in_(reset, locale),
            )
        )
    return "\n".join(lines)
