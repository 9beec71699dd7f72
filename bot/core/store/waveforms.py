"""An inpaint's waveform picture (bot.core.media.waveform_jobs): made, posted, or none; on
PostgreSQL its PNG too, for every process."""

from __future__ import annotations

from bot.core.models import WaveformState
from bot.core.store.tasks import Repository


class WaveformRepository(Repository):
    """An inpaint's waveform picture (bot.core.media.waveform_jobs): made, posted, or none."""

    async def set_waveform_state(
        self, task_id: int, state: WaveformState, *, was: WaveformState | None
    ) -> bool:
        """Move the task's picture from `was` to `state`; False when it stood elsewhere."""
        if was is None:
            changed = await self._db.execute(
                "UPDATE tasks SET waveform_state = $1 WHERE id = $2 AND waveform_state IS NULL",
                (state.value, task_id),
            )
        else:
            changed = await self._db.execute(
                "UPDATE tasks SET waveform_state = $1 WHERE id = $2 AND waveform_state = $3",
                (state.value, task_id, was.value),
            )
        return changed == 1

    async def put_waveform_png(self, task_id: int, png: bytes) -> None:
        await self._db.execute(
            "INSERT INTO waveform_pictures (task_id, png) VALUES ($1, $2)"
            " ON CONFLICT (task_id) DO UPDATE SET png = excluded.png",
            (task_id, png),
        )

    async def waveform_png(self, task_id: int) -> bytes | None:
        row = await self._db.fetchrow(
            "SELECT png FROM waveform_pictures WHERE task_id = $1", (task_id,)
        )
        return bytes(row[0]) if row else None

    async def drop_waveform_pngs(self, task_id: int | None = None) -> int:
        """Forget the pictures of final tasks (or of `task_id`, once final); how many went.
        A final task's status is never drawn with a new picture again."""
        final = "SELECT id FROM tasks WHERE status IN ('delivered', 'failed', 'cancelled')"
        if task_id is None:
            return await self._db.execute(
                f"DELETE FROM waveform_pictures WHERE task_id IN ({final})"
            )
        return await self._db.execute(
            f"DELETE FROM waveform_pictures WHERE task_id = $1 AND task_id IN ({final})",
            (task_id,),
        )
