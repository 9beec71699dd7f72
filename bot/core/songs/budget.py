"""A server's daily MusicGPT credit budget (`/settings budget`): today's spend, and the refusal.

The check is early and advisory, on purpose. A request's credits are known only once
MusicGPT answers its submit (`credit_estimate`, later `conversion_cost`), long after the
member was told "got it", so the check can only count what earlier requests already cost.
Requests started while the last ones are still queued all pass, and a burst can overshoot
the budget by what those cost; the next request after them is refused. Holding every request
until the one before it is priced would serialise a whole server for that.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.clock import Clock, SystemClock
from bot.core.errors import UserFacingError
from bot.core.i18n.said import Said, said
from bot.core.servers.guild_settings import GuildSettingsService
from bot.core.songs.quota import reset_said
from bot.core.store import utc_day
from bot.core.store.port import SpendStore


class BudgetReached(UserFacingError):
    """The server has spent today's credits; nothing was charged."""


@dataclass(frozen=True, slots=True)
class Spend:
    spent: float
    budget: float | None  # None: the server has no budget

    @property
    def reached(self) -> bool:
        return self.budget is not None and self.spent >= self.budget


def credits(amount: float) -> str:
    """Credits as MusicGPT counts them, without a trailing ".0"."""
    return f"{amount:,.2f}".rstrip("0").rstrip(".")


def refusal(spend: Spend, now: float) -> str:
    return str(refusal_said(spend, now))


def refusal_said(spend: Spend, now: float) -> Said:
    """Said later, in the member's language (`UserFacingError.message_in`)."""
    return said(
        "This server has used today's MusicGPT budget ({spent} of {budget} credits). "
        "The budget {reset}; try again then. Nothing was charged.",
        spent=credits(spend.spent),
        budget=credits(spend.budget or 0),
        reset=reset_said(now),
    )


class Budget:
    def __init__(
        self, store: SpendStore, settings: GuildSettingsService, *, clock: Clock | None = None
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock or SystemClock()

    async def today(self, guild_id: int | None) -> Spend:
        """Today's (UTC) spend of a server against its budget; outside a server, nothing."""
        if guild_id is None:
            return Spend(0.0, None)
        settings = await self._settings.get(guild_id)
        spent = await self._store.guild_spend(guild_id, utc_day(self._clock.now()))
        return Spend(spent, settings.budget_credits if settings.has_budget else None)

    async def check(self, guild_id: int | None) -> None:
        """Refuse a new request once today's spend reached the budget (see the module's
        docstring for why this may let a burst overshoot a little). Raises BudgetReached."""
        if guild_id is None or not (await self._settings.get(guild_id)).has_budget:
            return  # no query for a server without a budget
        spend = await self.today(guild_id)
        if spend.reached:
            raise BudgetReached(refusal_said(spend, self._clock.now()))
