"""Claims under leases: what a process holds, it renews; what a dead one held, another takes.

A task this process sends to MusicGPT (submitting), has to post (completed, delivering), or
whose DM copy it sends, carries this process's identity and a lease end
(`TrackerContext.lease`). Every `Timing.lease_tick` seconds the `ClaimKeeper` renews the
leases of the work still under way here, then takes over every claim whose lease ran out:
one guarded statement, so among processes sweeping at once exactly one gets each row.

* A task left submitting was maybe taken by MusicGPT, maybe not; sending it again could
  run and charge twice, so it fails with a refund and the honest message
  (`RESTARTED_MID_SUBMIT`), as after a restart.
* A result left completed or delivering is delivered by the taker; a dead run's delivery
  (attempts > 1) first looks for what it may have posted, so nothing is posted twice.
* A DM copy (/notify) left wanted or being sent is sent by the taker, looking first for the
  DM a dead run may have sent, the same way.

At start-up on a database only this process uses (SQLite), every claim there is a dead
run's: all are taken at once, without waiting for their leases to run out.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence

from bot.core.errors import StorageError
from bot.core.models import Task, TaskStatus
from bot.core.songs.failures import RESTARTED_MID_SUBMIT
from bot.core.store.rows import Lease
from bot.core.tracker.context import TrackerContext
from bot.core.tracker.delivery import DeliveryWorker

log = logging.getLogger(__name__)


class ClaimKeeper:
    def __init__(
        self,
        context: TrackerContext,
        delivery: DeliveryWorker,
        *,
        sending: Callable[[], Iterable[int]],
        look_again: Callable[[], None],
    ) -> None:
        self._ctx = context
        self._delivery = delivery
        self._sending = sending  # the tasks this process is submitting now
        self._look_again = look_again  # the dispatcher: look at the queue
        self._failing = False  # the last tick's step failed

    def held(self) -> list[int]:
        """The tasks this process works on now: its claims to renew."""
        delivery = self._delivery
        return sorted({*self._sending(), *delivery.active, *delivery.copying})

    async def renew(self) -> None:
        """Extend the leases of the work under way here."""
        await self._ctx.store.renew_leases(self._ctx.lease(), self.held())

    async def hand_over(self, task_ids: Sequence[int]) -> None:
        """End this process's leases on `task_ids` now: it is stopping and left them unfinished,
        so another process takes them over at its next sweep rather than a lease later."""
        ctx = self._ctx
        try:
            await ctx.store.renew_leases(Lease(ctx.holder, ctx.clock.now()), task_ids)
        except Exception:
            log.warning("couldn't hand over %s; they pass on when their leases run out", task_ids)

    async def sweep(self, *, every_claim: bool = False) -> None:
        """Renew this process's claims, then take over the expired ones (with `every_claim`,
        all of them: a start-up on a database no other process uses)."""
        ctx = self._ctx
        await self.renew()
        now = ctx.clock.now()
        before = math.inf if every_claim else now
        taken = await ctx.store.take_expired_claims(ctx.lease(), now, expired_before=before)
        for task in taken:
            try:
                await self._take_over(task)
            except Exception:
                # The others taken still get their turn. This one's claim is now ours and
                # not renewed, so it runs out and is taken over again.
                log.exception("taking over task %s failed", task.id)

    async def _take_over(self, task: Task) -> None:
        ctx = self._ctx
        if task.status is TaskStatus.SUBMITTING:
            if await ctx.fail(task, RESTARTED_MID_SUBMIT, mid_submit_of=ctx.holder):
                log.warning("task %s was left mid-submit by a run that's gone; refunded", task.id)
        elif task.status is TaskStatus.DELIVERED:
            log.info("task %s's DM copy was left by a run that's gone; sending", task.id)
            self._delivery.start_copy(task.id)
        else:
            log.info("task %s was left undelivered by a run that's gone; delivering", task.id)
            self._delivery.start(task.id)

    async def run(self) -> None:
        """Every tick: renew, take over, and (with other processes) look at the queue."""
        ctx = self._ctx
        while True:
            await ctx.clock.sleep(ctx.timing.lease_tick)
            await self._quietly(self.sweep)
            if ctx.store.shared:
                # A wake-up another process told may not have reached this one (not yet
                # listening, a dropped connection, a NOTIFY that failed): every tick, look
                # at the queue and the polls anyway.
                self._look_again()

    async def keep_renewing(self) -> None:
        """Only renew, every tick: while stopping, the work under way finishes under this
        process's claims, and nothing new is taken."""
        while True:
            await self._ctx.clock.sleep(self._ctx.timing.lease_tick)
            await self._quietly(self.renew)

    async def _quietly(self, step: Callable[[], Awaitable[object]]) -> None:
        """One tick's step. Its failures are one line when they start and one when they end,
        not a line every tick while the database is away (a traceback only for a bug)."""
        try:
            await step()
        except Exception as error:
            if not self._failing:
                log.warning(
                    "renewing or taking over claims failed (%s); trying again every %g s",
                    error,
                    self._ctx.timing.lease_tick,
                    exc_info=not isinstance(error, StorageError),
                )
            self._failing = True
        else:
            if self._failing:
                log.info("renewing and taking over claims works again")
            self._failing = False
