"""The delivery worker: a completed task is claimed in the database, then posted, once.

Only the caller that wins `claim_delivery` posts. A claim left by a run that died (or an
attempt that failed mid-way) is taken back, and the poster first looks for a message that
run may already have posted, so a result is never posted twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from bot.errors import PermanentDeliveryError
from bot.models import Task
from bot.tracker.context import TrackerContext

log = logging.getLogger(__name__)

GAVE_UP = "The song was ready, but I couldn't post it to this channel. Please try again later."


class ResultPoster(Protocol):
    """How results reach people; implemented by the Discord side."""

    async def deliver(self, task: Task) -> Sequence[int]:
        """Post the outputs; return the ids of the messages posted."""

    async def find_delivery(self, task: Task) -> Sequence[int] | None:
        """Ids of result messages already posted for this task (after a crash), or None."""


class DeliveryWorker:
    def __init__(self, context: TrackerContext) -> None:
        self._ctx = context
        self._poster: ResultPoster | None = None
        self.active: set[int] = set()  # task ids with a delivery under way in this process
        # Set while no delivery is under way: lets less urgent work (status edits) go after.
        self.idle = asyncio.Event()
        self.idle.set()

    def attach(self, poster: ResultPoster) -> None:
        self._poster = poster

    def start(self, task_id: int, *, reclaim: bool = False) -> None:
        """Deliver in the background; `reclaim` takes back a claim a dead run left behind."""
        if task_id not in self.active:
            self.active.add(task_id)
            self.idle.clear()
            self._ctx.spawn(self._deliver(task_id, reclaim), f"deliver-{task_id}")

    async def _deliver(self, task_id: int, reclaim: bool) -> None:
        timing = self._ctx.timing
        try:
            for attempt in range(timing.delivery_attempts):
                if await self._attempt(task_id, reclaim=reclaim or attempt > 0):
                    return
                await self._ctx.clock.sleep(timing.delivery_backoff * (2**attempt))
            task = await self._ctx.store.get_task(task_id)
            if task is not None:
                await self._ctx.fail(task, GAVE_UP)
        finally:
            self.active.discard(task_id)
            if not self.active:
                self.idle.set()

    async def _attempt(self, task_id: int, *, reclaim: bool) -> bool:
        """One attempt; True when the task needs no more delivery attempts."""
        store, now = self._ctx.store, self._ctx.clock.now()
        if reclaim:
            await store.release_delivery(task_id, now)
        task = await store.claim_delivery(task_id, now)
        if task is None:
            return True  # delivered, failed, or not completed: nothing for us to do
        poster = self._require_poster()
        try:
            message_ids: Sequence[int] | None = None
            if task.delivery_attempts > 1:
                # An earlier claim may have posted before dying; never post twice.
                message_ids = await poster.find_delivery(task)
            if not message_ids:
                message_ids = await poster.deliver(task)
        except PermanentDeliveryError as error:
            self._ctx.metrics.delivery_failed(error)
            log.warning("delivery of task %s impossible: %s", task_id, error)
            await self._ctx.fail(task, error.user_message)
            return True
        except Exception as error:
            self._ctx.metrics.delivery_failed(error)
            log.exception("delivery of task %s failed; will retry", task_id)
            await store.release_delivery(task_id, self._ctx.clock.now())
            return False
        posted_at = self._ctx.clock.now()
        if await store.mark_delivered(task_id, message_ids, posted_at):
            self._ctx.metrics.delivered(task.kind, task.completed_at, posted_at)
            self._ctx.events.publish(task_id)
        return True

    def _require_poster(self) -> ResultPoster:
        if self._poster is None:
            raise RuntimeError("Tracker.attach(poster) must be called before start()")
        return self._poster
