"""What the tracker's parts share: the store, the clock, the event feed and how a task fails."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.clock import Clock
from bot.errors import MusicGPTSubmitUncertain, MusicGPTUnavailable
from bot.models import Task
from bot.store import Store
from bot.tracker.events import TaskEvents

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Timing:
    """How the tracker paces itself. Not settings: nothing an operator should need to tune."""

    default_eta: float = 60.0  # when MusicGPT gives none
    first_poll_margin: float = 0.1  # poll at eta * (1 + margin): most tasks are done by then
    webhook_grace: float = 30.0  # with webhooks, wait this much longer before polling
    min_poll_interval: float = 5.0
    max_poll_interval: float = 120.0
    max_concurrent_polls: int = 10  # confirmations in flight at once (MusicGPT's top plan)
    delivery_attempts: int = 5
    delivery_backoff: float = 2.0


class MusicGPTHealth:
    """Whether the last call reached MusicGPT (any HTTP answer counts); None before any."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.reachable: bool | None = None
        self.last_contact: float | None = None

    def note(self, error: Exception | None) -> None:
        reached = not isinstance(error, MusicGPTUnavailable | MusicGPTSubmitUncertain)
        self.reachable = reached
        if reached:
            self.last_contact = self._clock.now()


@dataclass(eq=False)
class TrackerContext:
    store: Store
    events: TaskEvents
    clock: Clock
    timing: Timing
    health: MusicGPTHealth
    # Set whenever a MusicGPT slot may have come free (a task finished or failed).
    slot_freed: asyncio.Event = field(default_factory=asyncio.Event)
    _background: set[asyncio.Task[Any]] = field(default_factory=set)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self, seconds: float) -> int:
        """Wait up to `seconds` for the background jobs, including any they start
        meanwhile (a finished poll starts a delivery); how many are still running."""
        expired = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            while self._background and not expired.done():
                await asyncio.wait(
                    [*self._background, expired], return_when=asyncio.FIRST_COMPLETED
                )
        finally:
            expired.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await expired
        return len(self._background)

    async def cancel_background(self) -> None:
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def fail(self, task: Task, reason: str) -> Task | None:
        """Fail an unfinished task with a refund; None when it had already ended."""
        failed = await self.store.mark_failed(task.id, reason, self.clock.now())
        remove_file(task.audio_path)
        if failed is not None:
            self.slot_freed.set()
            self.events.publish(task.id)
        return failed


def remove_file(path: str | None) -> None:
    if path:
        Path(path).unlink(missing_ok=True)
