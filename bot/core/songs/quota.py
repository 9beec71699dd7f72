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
from bot.core.i18n import N_, LocaleLike, and_list, gettext, ngettext
from bot.core.i18n.said import Said, in_, said, said_n
from bot.core.models import QuotaLimits, QuotaRefusal, QuotaUsage
from bot.core.servers.guild_settings import EffectiveLimits, GuildSettingsService, Source
from bot.core.store.port import QuotaStore


def next_reset(now: float) -> float:
    """The next UTC midnight after `now`, when everyone's daily quota starts over."""
    today = datetime.fromtimestamp(now, tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today + timedelta(days=1)).timestamp()


def describe_wait(seconds: float) -> str:
    return str(wait_said(seconds))


def wait_said(seconds: float) -> Said:
    """How long until a time, in hours and minutes ("3 h 25 min"), said later."""
    minutes = max(1, round(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return said("{hours} h {minutes} min", hours=hours, minutes=minutes)
    return said("{hours} h", hours=hours) if hours else said("{minutes} min", minutes=minutes)


def reset_phrase(now: float) -> str:
    return str(reset_said(now))


def reset_said(now: float) -> Said:
    """ "resets at 00:00 UTC (in 3 h 5 min)": what follows "the quota" or "the budget"."""
    return said("resets at 00:00 UTC (in {wait})", wait=wait_said(next_reset(now) - now))


def refusal_message(refusal: QuotaRefusal, limits: QuotaLimits, now: float) -> str:
    return str(refusal_said(refusal, limits, now))


def refusal_said(refusal: QuotaRefusal, limits: QuotaLimits, now: float) -> Said:
    """The refusal, said later in the member's language (`UserFacingError.message_in`)."""
    wait = wait_said(next_reset(now) - now)
    if refusal.limit == "daily":
        if limits.daily == 1:
            return said(
                "You've made today's song. Your quota resets at 00:00 UTC (in {wait}); "
                "try again then.",
                wait=wait,
            )
        return said(
            "You've made all {daily} of today's songs. Your quota resets at 00:00 UTC "
            "(in {wait}); try again then.",
            daily=limits.daily,
            wait=wait,
        )
    return said_n(
        "You already have {active} of {count} song in progress. "
        "Wait for one to finish, then try again.",
        "You already have {active} of {count} songs in progress. "
        "Wait for one to finish, then try again.",
        limits.active,
        active=refusal.usage.active,
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
        return QuotaExceeded(refusal_said(refusal, limits or self.limits, self._clock.now()))

    def reset_phrase(self) -> str:
        return reset_phrase(self._clock.now())

    def reset_said(self) -> Said:
        return reset_said(self._clock.now())


# --- what /quota (and the end of /help) says ----------------------------------------------

SOURCES = {Source.ROLE: N_("a role of yours"), Source.SERVER: N_("this server's setting")}


def quota_lines(
    usage: QuotaUsage, limits: QuotaLimits, reset: str | Said, locale: LocaleLike = None
) -> list[str]:
    """The answer to /quota (and the end of /help): songs left today, and in progress, in
    the member's language (`locale`)."""
    left = max(0, limits.daily - usage.used_today)
    return [
        ngettext(
            locale,
            "You have **{left} of {count}** song left today; the quota {reset}.",
            "You have **{left} of {count}** songs left today; the quota {reset}.",
            limits.daily,
            left=left,
            reset=in_(reset, locale),
        ),
        ngettext(
            locale,
            "In progress: {active} of the {count} song you can have at once.",
            "In progress: {active} of the {count} songs you can have at once.",
            limits.active,
            active=usage.active,
        ),
    ]


def source_line(effective: EffectiveLimits, locale: LocaleLike = None) -> str | None:
    """Where the member's limits come from, when not from the default."""
    parts = []
    if effective.daily_from in SOURCES:
        parts.append(
            gettext(
                locale,
                "your {daily} a day from {source}",
                daily=effective.limits.daily,
                source=gettext(locale, SOURCES[effective.daily_from]),
            )
        )
    if effective.active_from in SOURCES:
        parts.append(
            gettext(
                locale,
                "your {active} at a time from {source}",
                active=effective.limits.active,
                source=gettext(locale, SOURCES[effective.active_from]),
            )
        )
    if not parts:
        return None
    return gettext(locale, "Limits here: {limits}.", limits=and_list(locale, parts))
