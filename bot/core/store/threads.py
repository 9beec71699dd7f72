"""A song's thread (bot.discord's thread opener): asked for, then opened or refused, once.

Both decisions are guarded by "still undecided", so two openers racing (the command and the
restart sweep, say) can't record two outcomes.
"""

from __future__ import annotations

from bot.core.models import Task
from bot.core.store.database import placeholders
from bot.core.store.rows import ACTIVE_STATUSES, RETURNING_TASK, fetch_tasks, task_from_row
from bot.core.store.tasks import Repository

_UNDECIDED = "thread_wanted = 1 AND thread_id IS NULL AND thread_refusal IS NULL"


class ThreadRepository(Repository):
    async def tasks_awaiting_thread(self) -> list[Task]:
        """Unfinished tasks that asked for a thread and have a status message to start it
        from, but no recorded outcome yet (a run died before recording it, say)."""
        return await fetch_tasks(
            self._db,
            # No thread column is in quota_charges: the names need no `t.`.
            f"{_UNDECIDED} AND t.status_message_id IS NOT NULL"
            f" AND t.status IN ({placeholders(ACTIVE_STATUSES)}) ORDER BY t.id",
            ACTIVE_STATUSES,
        )

    async def record_thread(self, task_id: int, thread_id: int) -> Task | None:
        """The task's posts go to this thread from now on; None if it was already decided."""
        return await self._decide_thread(task_id, "thread_id = $1", thread_id)

    async def record_thread_refusal(self, task_id: int, refusal: str) -> Task | None:
        """The task stays in its channel, for this reason; None if it was already decided."""
        return await self._decide_thread(task_id, "thread_refusal = $1", refusal)

    async def _decide_thread(self, task_id: int, assignment: str, value: object) -> Task | None:
        row = await self._db.fetchrow(
            f"UPDATE tasks SET {assignment} WHERE id = $2 AND {_UNDECIDED} {RETURNING_TASK}",
            (value, task_id),
        )
        return task_from_row(row) if row else None
