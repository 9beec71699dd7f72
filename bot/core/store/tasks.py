"""Songs (tasks) and their quota charges: reading them, the queue, and the charge that
queues a new one."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bot.core.models import QuotaRefusal, QuotaUsage, Request, Task
from bot.core.store.database import Database, Executor, placeholders
from bot.core.store.rows import (
    ACTIVE_STATUSES,
    IN_FLIGHT_AT_MUSICGPT,
    INSERT_COLUMNS,
    RETURNING_TASK,
    fetch_tasks,
    request_values,
    task_from_row,
    typed_placeholder,
    utc_day,
)


def _active_of_user(user: str) -> str:
    """A member's unfinished tasks, spelled exactly as index tasks_active_by_user's WHERE,
    so SQLite uses the index."""
    return (
        f"SELECT COUNT(*) FROM tasks WHERE user_id = {user}"
        " AND status NOT IN ('delivered', 'failed', 'cancelled')"
    )


def _used_on_day(user: str, day: str) -> str:
    return (
        f"SELECT COUNT(*) FROM quota_charges WHERE user_id = {user} AND day = {day}"
        " AND refunded_at IS NULL"
    )


# Insert the task only while the member is under both limits: the counts and the insert are
# one statement, so two writers at the limit can't both get in.
# The values are cast to their columns' types: in a SELECT list nothing else tells PostgreSQL.
_N = len(INSERT_COLUMNS)
_TYPED = ", ".join(typed_placeholder(c, n) for n, c in enumerate(INSERT_COLUMNS, 1))
_INSERT_WITHIN_QUOTA = (
    f"INSERT INTO tasks (status, {', '.join(INSERT_COLUMNS)})"
    f" SELECT 'queued', {_TYPED}"
    f" WHERE ({_used_on_day(f'${_N + 1}', f'${_N + 2}')}) < ${_N + 3}"
    f" AND ({_active_of_user(f'${_N + 1}')}) < ${_N + 4}"
    " RETURNING id"
)


class Repository:
    """A feature's statements over one database (the adapter)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def _guarded_update(
        self,
        task_id: int,
        column: str,
        allowed: Sequence[str],
        assignments: str,
        params: Sequence[Any],
        *,
        also: str = "",
    ) -> Task | None:
        """Apply `assignments` (placeholders $1.. for `params`) to the task if its `column` is
        one of `allowed` (and `also`, a fixed condition, holds): one statement with the guard
        in its WHERE, so of two callers racing for one step only one gets the row. The task
        after the step, or None."""
        n = len(params)
        row = await self._db.fetchrow(
            f"UPDATE tasks SET {assignments} WHERE id = ${n + 1}{also}"
            f" AND {column} IN ({placeholders(allowed, n + 2)}) {RETURNING_TASK}",
            (*params, task_id, *allowed),
        )
        return task_from_row(row) if row else None


class TaskRepository(Repository):
    async def get_task(self, task_id: int) -> Task | None:
        tasks = await fetch_tasks(self._db, "t.id = $1", (task_id,))
        return tasks[0] if tasks else None

    async def unfinished_tasks(self) -> list[Task]:
        return await fetch_tasks(
            self._db,
            f"t.status IN ({placeholders(ACTIVE_STATUSES)}) ORDER BY t.id",
            ACTIVE_STATUSES,
        )

    async def recent_tasks(self, user_id: int, limit: int) -> list[Task]:
        """A member's last `limit` tasks, newest first (/history), by index tasks_by_user."""
        return await fetch_tasks(
            self._db, "t.user_id = $1 ORDER BY t.id DESC LIMIT $2", (user_id, max(0, limit))
        )

    async def queue_position(self, task_id: int) -> int:
        """1 for the next queued task to go to MusicGPT; 0 when the task is not queued."""
        row = await self._db.fetchrow(
            "SELECT COUNT(*) FROM tasks WHERE status = 'queued' AND id <= $1"
            " AND EXISTS (SELECT 1 FROM tasks WHERE id = $1 AND status = 'queued')",
            (task_id,),
        )
        return int(row[0]) if row else 0

    async def _count(self, sql: str, params: Iterable[Any] = ()) -> int:
        row = await self._db.fetchrow(sql, tuple(params))
        return int(row[0]) if row else 0

    async def count_in_flight(self) -> int:
        """Tasks MusicGPT is (or may be) working on: what MUSICGPT_MAX_PARALLEL bounds."""
        return await self._count(
            f"SELECT COUNT(*) FROM tasks WHERE status IN ({placeholders(IN_FLIGHT_AT_MUSICGPT)})",
            IN_FLIGHT_AT_MUSICGPT,
        )

    async def count_submitted(self) -> int:
        """Tasks MusicGPT confirmed it took and that aren't finished: what it runs of ours."""
        return await self._count("SELECT COUNT(*) FROM tasks WHERE status = 'submitted'")

    async def count_queued(self) -> int:
        """Tasks waiting in our queue (/metrics)."""
        return await self._count("SELECT COUNT(*) FROM tasks WHERE status = 'queued'")

    async def polls_due(self, now: float, limit: int, *, skip: Iterable[int] = ()) -> list[Task]:
        """Submitted tasks due to be polled by `now`, soonest first, leaving out `skip`
        (polls already under way)."""
        skipped = list(skip)
        not_in = f" AND t.id NOT IN ({placeholders(skipped, 3)})" if skipped else ""
        return await fetch_tasks(
            self._db,
            f"t.status = 'submitted' AND t.next_poll_at <= $1{not_in}"
            " ORDER BY t.next_poll_at, t.id LIMIT $2",
            (now, limit, *skipped),
        )

    async def next_poll_at(self, *, skip: Iterable[int] = ()) -> float | None:
        """When the soonest submitted task (other than `skip`) is due to be polled."""
        skipped = list(skip)
        not_in = f" AND id NOT IN ({placeholders(skipped)})" if skipped else ""
        row = await self._db.fetchrow(
            f"SELECT MIN(next_poll_at) FROM tasks WHERE status = 'submitted'{not_in}", skipped
        )
        return row[0] if row else None

    # --- quota -----------------------------------------------------------------------------------

    async def quota_usage(self, user_id: int, now: float) -> QuotaUsage:
        return await self._quota_usage(self._db, user_id, utc_day(now))

    @staticmethod
    async def _quota_usage(db: Executor, user_id: int, day: str) -> QuotaUsage:
        row = await db.fetchrow(
            f"SELECT ({_used_on_day('$1', '$2')}), ({_active_of_user('$1')})", (user_id, day)
        )
        assert row is not None  # noqa: S101 - an aggregate always yields a row
        return QuotaUsage(used_today=int(row[0]), active=int(row[1]))

    async def create_task(
        self,
        request: Request,
        *,
        now: float,
        daily_quota: int,
        max_active: int,
        audio_path: str | None = None,
        audio_duration: float | None = None,
        input_sha256: str | None = None,
    ) -> Task | QuotaRefusal:
        """Charge one generation and insert the task as queued, or refuse; all or nothing.

        The limits are checked in the INSERT itself, so this holds with other writers (other
        processes) charging the same member at the same moment."""
        day = utc_day(now)
        values = [*request_values(request), audio_path, audio_duration, input_sha256, now, now]
        async with self._db.transaction() as tx:
            await tx.serialize(f"quota:{request.user_id}")
            row = await tx.fetchrow(
                _INSERT_WITHIN_QUOTA, (*values, request.user_id, day, daily_quota, max_active)
            )
            if row is None:
                usage = await self._quota_usage(tx, request.user_id, day)
                limit = "daily" if usage.used_today >= daily_quota else "active"
                return QuotaRefusal(limit=limit, usage=usage)
            task_id = int(row[0])
            await tx.execute(
                "INSERT INTO quota_charges (task_id, user_id, day, charged_at)"
                " VALUES ($1, $2, $3, $4)",
                (task_id, request.user_id, day, now),
            )
            tasks = await fetch_tasks(tx, "t.id = $1", (task_id,))
        return tasks[0]
