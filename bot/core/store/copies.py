"""DM copies (/notify, bot.core.songs.notify): a member's choice, and each task's copy.

A copy goes pending -> sending (the claim: whoever gets the row sends) -> sent, refused or
failed, each one guarded UPDATE like the task's own transitions; an attempt that failed
gives its claim back (sending -> pending) for the next try. A claim is held under the
sender's lease, as a task's are (`TaskTransitions.take_expired_claims` takes over a dead
sender's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.core.models import Task
from bot.core.store.rows import UNHELD, Lease, fetch_tasks, held
from bot.core.store.tasks import Repository


class CopyRepository(Repository):
    async def set_dm_copies(self, user_id: int, wanted: bool, now: float) -> None:
        """A member's /notify choice, for the songs delivered from now on."""
        await self._db.execute(
            "INSERT INTO member_preferences (user_id, dm_copies, updated_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (user_id) DO UPDATE SET dm_copies = excluded.dm_copies,"
            " updated_at = excluded.updated_at",
            (user_id, int(wanted), now),
        )

    async def dm_copies(self, user_id: int) -> bool:
        row = await self._db.fetchrow(
            "SELECT dm_copies FROM member_preferences WHERE user_id = $1", (user_id,)
        )
        return bool(row and row[0])

    async def tasks_awaiting_copy(self) -> list[Task]:
        """Delivered tasks whose DM copy is wanted but not settled (a restart resumes them)."""
        return await fetch_tasks(
            self._db,
            "t.dm_state IN ('pending', 'sending') AND t.status = 'delivered' ORDER BY t.id",
        )

    async def _copy_transition(
        self, task_id: int, from_states: Sequence[str], assignments: str, params: Sequence[Any]
    ) -> Task | None:
        return await self._guarded_update(
            task_id, "dm_state", from_states, assignments, params, also=" AND status = 'delivered'"
        )

    async def claim_copy(
        self, task_id: int, now: float, *, lease: Lease | None = None
    ) -> Task | None:
        """pending -> sending, under `lease`. Only one caller wins; it alone may send it."""
        return await self._copy_transition(
            task_id,
            ["pending"],
            "dm_state = 'sending', dm_attempts = dm_attempts + 1, updated_at = $1,"
            " claimed_by = $2, lease_until = $3",
            (now, *held(lease)),
        )

    async def release_copy(
        self, task_id: int, now: float, *, lease: Lease | None = None
    ) -> Task | None:
        """sending -> pending, so a later attempt can claim it again; still held under
        `lease` while that attempt waits."""
        return await self._copy_transition(
            task_id,
            ["sending"],
            "dm_state = 'pending', updated_at = $1, claimed_by = $2, lease_until = $3",
            (now, *held(lease)),
        )

    async def record_copy(
        self, task_id: int, state: str, message_id: int | None, now: float
    ) -> Task | None:
        """sending -> `state` (sent, refused or failed), with the DM's id when sent."""
        return await self._copy_transition(
            task_id,
            ["sending"],
            f"dm_state = $1, dm_message_id = $2, updated_at = $3, {UNHELD}",
            (state, message_id, now),
        )

    async def give_up_copy(self, task_id: int, now: float) -> Task | None:
        """An unsettled copy -> failed: tried enough, never to be sent."""
        return await self._copy_transition(
            task_id,
            ["pending", "sending"],
            f"dm_state = 'failed', updated_at = $1, {UNHELD}",
            (now,),
        )
