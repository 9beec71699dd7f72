"""'Task N changed': how the tracker tells the Discord side, without waiting for it.

Publishing is a set insertion: dispatch, polling and delivery never wait on Discord. Changes
coalesce per task until the consumer takes them, so a task that went from completed through
delivering to delivered while the status renderer was busy is rendered once, as delivered.
"""

from __future__ import annotations

import asyncio


class TaskEvents:
    def __init__(self) -> None:
        self._changed: dict[int, None] = {}  # insertion-ordered set: oldest change first
        self._ready = asyncio.Event()

    def publish(self, task_id: int) -> None:
        self._changed[task_id] = None
        self._ready.set()

    def pending(self) -> int:
        return len(self._changed)

    async def take(self) -> list[int]:
        """Every task changed since the last call (waiting for at least one), oldest first."""
        while not self._changed:
            self._ready.clear()
            await self._ready.wait()
        changed = list(self._changed)
        self._changed.clear()
        return changed
