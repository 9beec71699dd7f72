"""MusicGPT's limits shared by every process on the database: the poll budget and the learned
parallelism, one row each in `musicgpt_limits`.

A change is read, decided and written in one transaction serialised on the limit's name
(PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE), so two processes spending the budget
or learning from a 429 at the same moment take turns: neither overwrites what the other just
wrote. The decision itself is the tracker's (`change`), made on the row as it is now.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from bot.core.models import Task
from bot.core.store.database import Executor
from bot.core.store.rows import RETURNING_TASK, task_from_row
from bot.core.store.tasks import Repository

POLLS, PARALLEL = "polls", "parallel"


@dataclasses.dataclass(frozen=True, slots=True)
class SharedLimit:
    """One limit as all processes use it."""

    name: str
    learned: float | None = None  # the figure in use; None: the setting
    took_only: int | None = None  # parallel: what MusicGPT ran when it last said 429
    changed_at: float | None = None  # the last 429, or the last step back up
    next_allowed: float = 0.0  # polls: no call starts before this


# What a decision does to a limit: the row it should become (the same row: nothing to write).
Change = Callable[[SharedLimit], SharedLimit]
# A poll's spend: the row after spending, or None when the budget has nothing to spend now.
Spend = Callable[[SharedLimit], SharedLimit | None]

_COLUMNS = "name, learned, took_only, changed_at, next_allowed"


async def _select(db: Executor, name: str) -> SharedLimit | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM musicgpt_limits WHERE name = $1", (name,))
    if row is None:
        return None
    return SharedLimit(
        row[0],
        None if row[1] is None else float(row[1]),
        None if row[2] is None else int(row[2]),
        None if row[3] is None else float(row[3]),
        float(row[4]),
    )


async def _read(db: Executor, name: str) -> SharedLimit:
    """The row, made if missing: on first use rather than by the migration, so copy-db can
    copy an SQLite file's rows into a migrated, empty PostgreSQL database."""
    found = await _select(db, name)
    if found is not None:
        return found
    await db.execute(
        "INSERT INTO musicgpt_limits (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", (name,)
    )
    return SharedLimit(name)


async def _write(db: Executor, limit: SharedLimit) -> None:
    await db.execute(
        "UPDATE musicgpt_limits SET learned = $1, took_only = $2, changed_at = $3,"
        " next_allowed = $4 WHERE name = $5",
        (limit.learned, limit.took_only, limit.changed_at, limit.next_allowed, limit.name),
    )


class LimitRepository(Repository):
    async def shared_limit(self, name: str) -> SharedLimit:
        """The limit as it stands (a reader's view: it may change the next moment)."""
        return await _select(self._db, name) or SharedLimit(name)

    async def change_limit(self, name: str, change: Change) -> SharedLimit:
        """Apply `change` to the limit as it is now, no other process changing it meanwhile;
        the limit after."""
        async with self._db.transaction() as tx:
            await tx.serialize(f"musicgpt_limits:{name}")
            before = await _read(tx, name)
            after = change(before)
            if after != before:
                await _write(tx, after)
        return after

    async def claim_poll(
        self, task_id: int, *, now: float, until: float, spend: Spend
    ) -> tuple[Task | None, SharedLimit]:
        """Spend the poll budget on task `task_id` and hold the task for this poller until
        `until` (its next_poll_at pushed on, so no other process polls it meanwhile), both or
        neither: a task another poller took first costs no budget. The task if it was claimed
        (None: the budget had nothing to spend now, or the task isn't due any more), and the
        budget as it stands."""
        async with self._db.transaction() as tx:
            await tx.serialize(f"musicgpt_limits:{POLLS}")
            before = await _read(tx, POLLS)
            after = spend(before)
            if after is None:
                return None, before
            row = await tx.fetchrow(
                "UPDATE tasks SET next_poll_at = $1 WHERE id = $2 AND status = 'submitted'"
                f" AND next_poll_at <= $3 {RETURNING_TASK}",
                (until, task_id, now),
            )
            if row is None:
                return None, before
            await _write(tx, after)
        return task_from_row(row), after
