"""A server's spend and usage (bot.core.songs.budget, /usage).

A task's credits belong to the UTC day it was charged (quota_charges.day), like its quota:
MusicGPT's `credit_estimate` from the submit answer until its `conversion_cost` (tasks.cost)
is known; nothing before the submit answers, nothing once refunded (the task failed or was
cancelled).
"""

from __future__ import annotations

from bot.core.store.rows import UsageLine
from bot.core.store.tasks import Repository

_CHARGED = (
    "quota_charges q JOIN tasks t ON t.id = q.task_id"
    " WHERE t.guild_id = $1 AND q.day >= $2 AND q.day < $3 AND q.refunded_at IS NULL"
)
_CREDITS = "COALESCE(t.cost, t.credit_estimate, 0)"


class UsageRepository(Repository):
    async def guild_spend(self, guild_id: int, day: str) -> float:
        """A server's credits on one UTC day (`utc_day`), by index quota_by_day."""
        row = await self._db.fetchrow(
            f"SELECT COALESCE(SUM({_CREDITS}), 0) FROM {_CHARGED}",
            (guild_id, day, f"{day}~"),  # "~" sorts after every ISO date of that day
        )
        return float(row[0]) if row else 0.0

    async def guild_usage(
        self, guild_id: int, first_day: str, end_day: str, *, top: int
    ) -> tuple[UsageLine, list[UsageLine]]:
        """A server's requests and credits from `first_day` up to (not including) `end_day`:
        the total (user_id 0), and the `top` members by credits, then requests."""
        params = (guild_id, first_day, end_day)
        async with self._db.transaction() as tx:  # the total and the top read one moment
            total = await tx.fetchrow(
                f"SELECT COUNT(*), COALESCE(SUM({_CREDITS}), 0) FROM {_CHARGED}", params
            )
            rows = await tx.fetch(
                f"SELECT q.user_id, COUNT(*) AS requests, SUM({_CREDITS}) AS credits"
                f" FROM {_CHARGED} GROUP BY q.user_id"
                " ORDER BY credits DESC, requests DESC, q.user_id LIMIT $4",
                (*params, max(0, top)),
            )
        assert total is not None  # noqa: S101 - an aggregate always yields a row
        return UsageLine(0, int(total[0]), float(total[1])), [
            UsageLine(int(r[0]), int(r[1]), float(r[2])) for r in rows
        ]
