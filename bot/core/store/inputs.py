"""Kept inputs (bot.core.media.inputs): one row per distinct uploaded content."""

from __future__ import annotations

from bot.core.store.rows import KeptInput
from bot.core.store.tasks import Repository

# Tasks whose input must stay kept: they will still be submitted (and keep it fresh then).
_NEEDS_INPUT = "status IN ('queued', 'submitting')"


class InputRepository(Repository):
    async def put_input(self, sha256: str, extension: str, size: int, now: float) -> None:
        """Record a kept input, or mark an existing one used now."""
        await self._db.execute(
            "INSERT INTO inputs (sha256, extension, size, kept_at, last_used_at)"
            " VALUES ($1, $2, $3, $4, $4)"
            " ON CONFLICT (sha256) DO UPDATE SET last_used_at = excluded.last_used_at",
            (sha256, extension, size, now),
        )

    async def get_input(self, sha256: str) -> KeptInput | None:
        row = await self._db.fetchrow(
            "SELECT sha256, extension, size, last_used_at FROM inputs WHERE sha256 = $1",
            (sha256,),
        )
        return KeptInput(row[0], row[1], row[2], row[3]) if row else None

    async def touch_input(self, sha256: str, now: float) -> bool:
        """Mark a kept input used now (never back in time); False when it is no longer kept."""
        changed = await self._db.execute(
            "UPDATE inputs SET last_used_at ="
            " CASE WHEN last_used_at > $1 THEN last_used_at ELSE $1 END WHERE sha256 = $2",
            (now, sha256),
        )
        return changed == 1

    async def kept_inputs(self) -> list[KeptInput]:
        """Every kept input, least recently used first."""
        rows = await self._db.fetch(
            "SELECT i.sha256, i.extension, i.size, i.last_used_at,"
            f" EXISTS (SELECT 1 FROM tasks t WHERE t.input_sha256 = i.sha256 AND t.{_NEEDS_INPUT})"
            " FROM inputs i ORDER BY i.last_used_at, i.sha256"
        )
        return [KeptInput(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    async def delete_input(self, sha256: str) -> bool:
        """Forget a kept input, unless a queued or submitting task needs it (checked in the
        same statement, so a task queued meanwhile keeps it); True when it was forgotten."""
        changed = await self._db.execute(
            "DELETE FROM inputs WHERE sha256 = $1 AND NOT EXISTS"
            f" (SELECT 1 FROM tasks WHERE input_sha256 = $1 AND {_NEEDS_INPUT})",
            (sha256,),
        )
        return changed == 1

    async def forget_input(self, sha256: str) -> None:
        """Drop the row of an input whose file is gone (nothing can be made from it)."""
        await self._db.execute("DELETE FROM inputs WHERE sha256 = $1", (sha256,))

    async def set_task_input(self, task_id: int, sha256: str) -> None:
        await self._db.execute(
            "UPDATE tasks SET input_sha256 = $1 WHERE id = $2", (sha256, task_id)
        )
