"""A task's life: queued -> submitting -> submitted -> completed -> delivering -> delivered,
or failed / cancelled. Every step is one guarded UPDATE (`... WHERE status IN (...)`), so two
callers racing for the same transition (a webhook and a poll, a restart and a retry, two
processes) cannot both win: whoever gets a row back owns the next step.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.core.models import Output, SubmitReceipt, Task, TaskStatus
from bot.core.store.database import placeholders
from bot.core.store.rows import (
    ACTIVE_STATUSES,
    IN_FLIGHT_AT_MUSICGPT,
    LEASED_STATUSES,
    RETURNING_TASK,
    UNHELD,
    Lease,
    fetch_tasks,
    held,
    outputs_to_json,
    task_from_row,
)
from bot.core.store.tasks import Repository

# A delivered task's DM copy is wanted when its requester asked for copies (/notify): decided
# in the statement that records the delivery, so a restart finds it either wanted or not.
_COPY_WANTED = (
    "CASE WHEN EXISTS (SELECT 1 FROM member_preferences p"
    " WHERE p.user_id = tasks.user_id AND p.dm_copies = 1) THEN 'pending' ELSE dm_state END"
)
_REFUND = "UPDATE quota_charges SET refunded_at = $1 WHERE task_id = $2 AND refunded_at IS NULL"


class TaskTransitions(Repository):
    async def _transition(
        self,
        task_id: int,
        from_statuses: Sequence[TaskStatus],
        assignments: str,
        params: Sequence[Any],
    ) -> Task | None:
        """Apply `assignments` (placeholders $1.. for `params`) if the task is in one of
        `from_statuses`; the task, or None."""
        allowed = [s.value for s in from_statuses]
        return await self._guarded_update(task_id, "status", allowed, assignments, params)

    async def claim_next_queued(
        self, now: float, *, lease: Lease | None = None, limit: int | None = None
    ) -> Task | None:
        """Move the oldest queued task to `submitting` under `lease`, if any, and only while
        fewer than `limit` tasks are at MusicGPT (submitting or submitted); the caller then
        submits it. The count and the claim are one statement, and claims run one at a time
        (`serialize`), so claimers in several processes never exceed `limit` together: each
        sees the claims committed before it. The outer WHERE repeats the guard: a row another
        claimer took between the sub-select and the update is not taken twice."""
        in_flight = placeholders(IN_FLIGHT_AT_MUSICGPT, 5)
        within = (
            f" AND (SELECT COUNT(*) FROM tasks WHERE status IN ({in_flight})) < $4"
            if limit is not None
            else ""
        )
        async with self._db.transaction() as tx:
            await tx.serialize("claim")
            row = await tx.fetchrow(
                "UPDATE tasks SET status = 'submitting', updated_at = $1, claimed_by = $2,"
                " lease_until = $3"
                " WHERE id = (SELECT id FROM tasks WHERE status = 'queued' ORDER BY id LIMIT 1"
                f"{self._db.skip_locked}) AND status = 'queued'{within} {RETURNING_TASK}",
                (
                    now,
                    *held(lease),
                    *((limit, *IN_FLIGHT_AT_MUSICGPT) if limit is not None else ()),
                ),
            )
        return task_from_row(row) if row else None

    async def requeue(self, task_id: int, now: float) -> Task | None:
        """submitting -> queued, for a submit MusicGPT certainly did not take (a 429).

        The task keeps its id, and `claim_next_queued` takes the lowest id first: every task
        queued after it has a higher id, so it is at the head of the queue again. Its audio
        stays on disk and its quota stays charged; nothing about it is lost.
        """
        return await self._transition(
            task_id,
            [TaskStatus.SUBMITTING],
            f"status = 'queued', updated_at = $1, {UNHELD}",
            (now,),
        )

    async def mark_submitted(
        self, task_id: int, receipt: SubmitReceipt, *, next_poll_at: float, now: float
    ) -> Task | None:
        return await self._transition(
            task_id,
            [TaskStatus.SUBMITTING],
            "status = 'submitted', musicgpt_task_id = $1, conversion_ids = $2, eta_seconds = $3,"
            " credit_estimate = $4, submitted_at = $5, next_poll_at = $6, audio_path = NULL,"
            f" updated_at = $5, {UNHELD}",
            (
                receipt.task_id,
                json.dumps(list(receipt.conversion_ids)),
                receipt.eta_seconds,
                receipt.credit_estimate,
                now,
                next_poll_at,
            ),
        )

    async def schedule_poll(self, task_id: int, *, at: float, polled: bool, now: float) -> None:
        await self._db.execute(
            "UPDATE tasks SET next_poll_at = $1, poll_count = poll_count + $2, updated_at = $3"
            " WHERE id = $4 AND status = 'submitted'",
            (at, 1 if polled else 0, now, task_id),
        )

    async def note_webhook(self, task_id: int, musicgpt_task_id: str | None, now: float) -> bool:
        """Remember a webhook came: a submitted task becomes due for a confirming poll now.

        Only for a task still waiting on MusicGPT, and not when the webhook names another
        MusicGPT task than the one we know. True when it was noted.
        """
        changed = await self._db.execute(
            "UPDATE tasks SET webhook_seen = 1, updated_at = $1,"
            " next_poll_at = CASE WHEN status = 'submitted' THEN $1 ELSE next_poll_at END"
            " WHERE id = $2 AND status IN ('submitting', 'submitted')"
            " AND (musicgpt_task_id IS NULL OR CAST($3 AS TEXT) IS NULL OR musicgpt_task_id = $3)",
            (now, task_id, musicgpt_task_id),
        )
        return changed == 1

    async def mark_completed(
        self,
        task_id: int,
        outputs: Sequence[Output],
        cost: float | None,
        now: float,
        *,
        lease: Lease | None = None,
    ) -> Task | None:
        """submitted -> completed, held under `lease` by the process that will deliver it."""
        return await self._transition(
            task_id,
            [TaskStatus.SUBMITTED],
            "status = 'completed', outputs = $1, cost = $2, completed_at = $3,"
            " next_poll_at = NULL, updated_at = $3, claimed_by = $4, lease_until = $5",
            (outputs_to_json(outputs), cost, now, *held(lease)),
        )

    async def claim_delivery(
        self, task_id: int, now: float, *, lease: Lease | None = None
    ) -> Task | None:
        """completed -> delivering. Only one caller wins; it alone may post the result."""
        return await self._transition(
            task_id,
            [TaskStatus.COMPLETED],
            "status = 'delivering', delivery_attempts = delivery_attempts + 1, updated_at = $1,"
            " claimed_by = $2, lease_until = $3",
            (now, *held(lease)),
        )

    async def release_delivery(
        self, task_id: int, now: float, *, lease: Lease | None = None
    ) -> Task | None:
        """delivering -> completed, so a later attempt can claim it again; still held under
        `lease` while that attempt waits."""
        return await self._transition(
            task_id,
            [TaskStatus.DELIVERING],
            "status = 'completed', updated_at = $1, claimed_by = $2, lease_until = $3",
            (now, *held(lease)),
        )

    async def mark_delivered(
        self, task_id: int, message_ids: Sequence[int], now: float
    ) -> Task | None:
        return await self._transition(
            task_id,
            [TaskStatus.DELIVERING],
            "status = 'delivered', delivered_message_ids = $1, finished_at = $2,"
            f" updated_at = $2, dm_state = {_COPY_WANTED}, {UNHELD}",
            (json.dumps(list(message_ids)), now),
        )

    async def mark_failed(
        self, task_id: int, error: str, now: float, *, mid_submit_of: str | None = None
    ) -> Task | None:
        """Fail an unfinished task and refund its quota in the same transaction. With
        `mid_submit_of`, only while the task is still submitting under that holder's claim:
        a takeover's, since the process it took over from may have recorded the submit
        meanwhile (it was slow, not gone), and a song MusicGPT has is not to be failed."""
        guard, extra = f"status IN ({placeholders(ACTIVE_STATUSES, 4)})", ACTIVE_STATUSES
        if mid_submit_of is not None:
            guard, extra = "status = 'submitting' AND claimed_by = $4", (mid_submit_of,)
        async with self._db.transaction() as tx:
            failed = await tx.fetchrow(
                "UPDATE tasks SET status = 'failed', error = $1, finished_at = $2,"
                f" updated_at = $2, next_poll_at = NULL, audio_path = NULL, {UNHELD}"
                f" WHERE id = $3 AND {guard} RETURNING id",
                (error, now, task_id, *extra),
            )
            if failed is None:
                return None
            await tx.execute(_REFUND, (now, task_id))
            tasks = await fetch_tasks(tx, "t.id = $1", (task_id,))
        return tasks[0]

    async def cancel_queued(self, task_id: int, user_id: int, now: float) -> Task | None:
        """queued -> cancelled for the requester, with the refund in the same transaction.

        The guard is the dispatcher's claim turned around: whichever of the two statements
        runs first wins the row, so a task cancelled here is never sent, and one claimed a
        moment earlier is not cancelled (the UPDATE then changes no row, and nothing is
        refunded). The task as it was before (its `audio_path` still set, for the caller to
        remove), or None when it wasn't queued or isn't theirs.
        """
        async with self._db.transaction() as tx:
            before = await fetch_tasks(
                tx, "t.id = $1 AND t.user_id = $2 AND t.status = 'queued'", (task_id, user_id)
            )
            if not before:
                return None
            changed = await tx.execute(
                "UPDATE tasks SET status = 'cancelled', finished_at = $1, updated_at = $1,"
                " audio_path = NULL WHERE id = $2 AND user_id = $3 AND status = 'queued'",
                (now, task_id, user_id),
            )
            if changed != 1:
                return None
            await tx.execute(_REFUND, (now, task_id))
        return before[0]

    # --- leases: several processes on one database -------------------------------------------

    async def renew_leases(self, lease: Lease, task_ids: Sequence[int]) -> int:
        """Extend the holder's claims on `task_ids` (the work it still does) to `lease.until`;
        how many it still held. A claim another process took over is not taken back."""
        if not task_ids:
            return 0
        return await self._db.execute(
            "UPDATE tasks SET lease_until = $1 WHERE claimed_by = $2"
            f" AND id IN ({placeholders(task_ids, 3)})",
            (lease.until, lease.holder, *task_ids),
        )

    async def take_expired_claims(
        self, lease: Lease, now: float, *, expired_before: float
    ) -> list[Task]:
        """Take over every claim whose lease ended before `expired_before` (or that has none):
        its process died, or stopped renewing. One guarded statement, so of several processes
        sweeping at once exactly one takes each row. A delivery under way goes back to
        completed, and a DM copy being sent back to pending, for the taker to claim them again
        (and look for what the dead process may have sent first); a task left submitting stays
        so, for the taker to settle. The tasks taken, in id order."""
        rows = await self._db.fetch(
            "UPDATE tasks SET claimed_by = $1, lease_until = $2, updated_at = $3,"
            " status = CASE WHEN status = 'delivering' THEN 'completed' ELSE status END,"
            " dm_state = CASE WHEN status = 'delivered' AND dm_state = 'sending'"
            " THEN 'pending' ELSE dm_state END"
            f" WHERE (status IN ({placeholders(LEASED_STATUSES, 5)})"
            " OR (status = 'delivered' AND dm_state IN ('pending', 'sending')))"
            f" AND (lease_until IS NULL OR lease_until < $4) {RETURNING_TASK}",
            (lease.holder, lease.until, now, expired_before, *LEASED_STATUSES),
        )
        return sorted((task_from_row(row) for row in rows), key=lambda task: task.id)

    async def set_status_message(self, task_id: int, message_id: int) -> None:
        await self._db.execute(
            "UPDATE tasks SET status_message_id = $1 WHERE id = $2", (message_id, task_id)
        )
