"""An inpaint's waveform picture (bot.core.media.waveform_jobs): made, posted, or none."""

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
