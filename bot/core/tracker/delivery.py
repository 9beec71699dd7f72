"""The delivery worker: a completed task is claimed in the database, then posted, once.

Only the caller that wins `claim_delivery` posts, and it holds the task under its lease until
it is delivered (an attempt that failed gives the claim back but keeps the lease for the
next). A claim left by a run that died is taken over when its lease runs out
(`bot.core.tracker.leases`), and the poster first looks for a message that run may already
have posted, so a result is never posted twice.

A member who asked for copies (/notify) then gets one by DM, the same way: the copy is
wanted from the moment the delivery is recorded, claimed (under a lease) before it is sent,
and a claim a dead run left behind, once taken over, first looks for the DM that run may have
sent. The copy comes after the channel post and never changes it: a refusal is recorded (the
status says so), anything else is tried a few times and then given up quietly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from bot.core.errors import PermanentDeliveryError
from bot.core.models import Task
from bot.core.songs.failures import GAVE_UP
from bot.core.songs.notify import CopyImpossible, CopyRefused, CopyState
from bot.core.tracker.context import TrackerContext

log = logging.getLogger(__name__)

# Tries of a DM copy per run, `Timing.delivery_backoff` apart (doubling), before giving up.
COPY_ATTEMPTS = 3


class ResultPoster(Protocol):
    """How results reach people; implemented by the Discord side."""

    async def deliver(self, task: Task) -> Sequence[int]:
        """Post the outputs; return the ids of the messages posted."""

    async def find_delivery(self, task: Task) -> Sequence[int] | None:
        """Ids of result messages already posted for this task (after a crash), or None."""


class CopySender(Protocol):
    """How a DM copy reaches the requester; implemented by the Discord side."""

    async def send_copy(self, task: Task) -> int:
        """DM the delivered task's outputs to its requester; the DM's id. Raises
        `CopyRefused` (DMs closed) or `CopyImpossible`; anything else is retried."""

    async def find_copy(self, task: Task) -> int | None:
        """The id of a copy already sent for this task (after a crash), or None."""


class DeliveryWorker:
    def __init__(self, context: TrackerContext) -> None:
        self._ctx = context
        self._poster: ResultPoster | None = None
        self._copies: CopySender | None = None
        self.copying: set[int] = set()  # task ids with a DM copy under way in this process
        self.active: set[int] = set()  # task ids with a delivery under way in this process
        # Set while no delivery is under way: lets less urgent work (status edits) go after.
        self.idle = asyncio.Event()
        self.idle.set()

    def attach(self, poster: ResultPoster) -> None:
        self._poster = poster

    def attach_copies(self, sender: CopySender) -> None:
        """Without a sender, wanted copies wait (pending) for a run that has one."""
        self._copies = sender

    def start(self, task_id: int) -> None:
        """Deliver a completed task in the background."""
        if task_id not in self.active:
            self.active.add(task_id)
            self.idle.clear()
            self._ctx.spawn(self._deliver(task_id), f"deliver-{task_id}")

    async def _deliver(self, task_id: int) -> None:
        timing = self._ctx.timing
        try:
            for attempt in range(timing.delivery_attempts):
                if await self._attempt(task_id):
                    return
                await self._ctx.clock.sleep(timing.delivery_backoff * (2**attempt))
            task = await self._ctx.store.get_task(task_id)
            if task is not None:
                await self._ctx.fail(task, GAVE_UP)
        finally:
            self.active.discard(task_id)
            if not self.active:
                self.idle.set()

    async def _attempt(self, task_id: int) -> bool:
        """One attempt; True when the task needs no more delivery attempts."""
        store = self._ctx.store
        task = await store.claim_delivery(task_id, self._ctx.clock.now(), lease=self._ctx.lease())
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
            await store.release_delivery(task_id, self._ctx.clock.now(), lease=self._ctx.lease())
            return False
        posted_at = self._ctx.clock.now()
        delivered = await store.mark_delivered(task_id, message_ids, posted_at)
        if delivered is not None:
            self._ctx.metrics.delivered(task.kind, task.completed_at, posted_at)
            self._ctx.events.publish(task_id)
            if delivered.dm_state == CopyState.PENDING:
                self.start_copy(task_id)
        return True

    # --- DM copies (/notify) ---------------------------------------------------------------

    def start_copy(self, task_id: int) -> None:
        """Send the task's DM copy in the background."""
        if self._copies is not None and task_id not in self.copying:
            self.copying.add(task_id)
            self._ctx.spawn(self._copy(task_id), f"copy-{task_id}")

    async def resume_copies(self) -> None:
        """At start-up: every copy wanted and not claimed (a claim a dead run left is taken
        over when its lease runs out: `bot.core.tracker.leases`)."""
        for task in await self._ctx.store.tasks_awaiting_copy():
            self.start_copy(task.id)

    async def _copy(self, task_id: int) -> None:
        timing, store = self._ctx.timing, self._ctx.store
        try:
            for attempt in range(COPY_ATTEMPTS):
                if await self._copy_attempt(task_id):
                    return
                await self._ctx.clock.sleep(timing.delivery_backoff * (2**attempt))
            if await store.give_up_copy(task_id, self._ctx.clock.now()):
                log.warning("gave up the DM copy of task %s", task_id)
        finally:
            self.copying.discard(task_id)

    async def _copy_attempt(self, task_id: int) -> bool:
        """One attempt; True when the copy needs no more attempts."""
        store = self._ctx.store
        task = await store.claim_copy(task_id, self._ctx.clock.now(), lease=self._ctx.lease())
        if task is None:
            return True  # sent, refused, given up, never wanted, or another process's now
        sender = self._copies
        assert sender is not None  # noqa: S101 - start_copy runs only with one
        state, message_id = CopyState.SENT, None
        try:
            if task.dm_attempts > 1:
                # An earlier claim may have sent it before dying; never send twice.
                message_id = await sender.find_copy(task)
            if message_id is None:
                message_id = await sender.send_copy(task)
        except CopyRefused:
            log.info("task %s: the requester's DMs are closed; no copy", task_id)
            state = CopyState.REFUSED
        except CopyImpossible as error:
            log.info("task %s: no DM copy possible (%s)", task_id, error)
            state = CopyState.FAILED
        except Exception:
            log.exception("DM copy of task %s failed; will retry", task_id)
            await store.release_copy(task_id, self._ctx.clock.now(), lease=self._ctx.lease())
            return False
        recorded = await store.record_copy(task_id, state, message_id, self._ctx.clock.now())
        if recorded is not None and state is CopyState.REFUSED:
            self._ctx.events.publish(task_id)  # the status notes it
        return True

    def _require_poster(self) -> ResultPoster:
        if self._poster is None:
            raise RuntimeError("Tracker.attach(poster) must be called before start()")
        return self._poster
