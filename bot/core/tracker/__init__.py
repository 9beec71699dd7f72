"""The task tracker: from an accepted request to audio in the channel, exactly once.

A thin facade over four parts, all driven by rows in the database so a restart (or another
process on the same database) loses nothing:

* the `Dispatcher` sends queued tasks to MusicGPT while fewer than it takes at once are there
  (MUSICGPT_MAX_PARALLEL, lowered by MusicGPT's 429s: `parallelism.py`);
* the `Poller` asks `byId` about submitted tasks as they fall due, within the poll budget
  (MUSICGPT_POLLS_PER_MINUTE, lowered by 429s too);
* the `DeliveryWorker` claims a completed task in the database before posting it;
* the `ClaimKeeper` renews this process's claims and takes over those of a process that is
  gone (`leases.py`).

Webhooks never deliver anything themselves: MusicGPT signs nothing, so a webhook only makes
its task due for a confirming `byId` poll now. Poll results go through `apply_update`, the
one idempotent path to `completed` or `failed`.

The tracker never waits on Discord: every change is published on `events` ("task N
changed") for the status renderer, and results go out through the attached `ResultPoster`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

from bot.core.clock import Clock, SystemClock
from bot.core.config import Settings
from bot.core.errors import StorageError, sentence
from bot.core.metrics import Metrics, Readings
from bot.core.models import (
    ConversionResult,
    ConversionStatus,
    QuotaLimits,
    QuotaRefusal,
    Request,
    Task,
    TaskStatus,
)
from bot.core.musicgpt.client import KeyCheck
from bot.core.musicgpt.parse import parse_conversion
from bot.core.songs.failures import (
    FAILED_WITH_WORDS,
    MUSICGPT_FAILED,
    NO_AUDIO_BACK,
    RESTARTED_MID_SUBMIT,
)
from bot.core.store.port import TrackerStore
from bot.core.tracker.context import (
    AudioHolder,
    FileAudio,
    InputKeeper,
    MusicGPTHealth,
    Timing,
    TrackerContext,
    remove_file,
)
from bot.core.tracker.delivery import DeliveryWorker, ResultPoster
from bot.core.tracker.dispatch import Dispatcher, MusicGPTSubmitter
from bot.core.tracker.events import TaskEvents
from bot.core.tracker.leases import ClaimKeeper
from bot.core.tracker.poller import MusicGPTStatus, PollBudget, Poller
from bot.core.tracker.wakeups import DISPATCH, POLLS, Wakeups, wake_here
from bot.core.wording import count

__all__ = [
    "RESTARTED_MID_SUBMIT",
    "MusicGPTApi",
    "PollBudget",
    "ResultPoster",
    "TaskEvents",
    "Timing",
    "Tracker",
]

log = logging.getLogger(__name__)


class MusicGPTKeyChecker(Protocol):
    async def check_key(self) -> KeyCheck: ...


class MusicGPTApi(MusicGPTSubmitter, MusicGPTStatus, MusicGPTKeyChecker, Protocol):
    """The part of `MusicGPTClient` the tracker uses."""


def musicgpt_silent_text(reason: str) -> str:
    """What an owner should know when MusicGPT doesn't answer at start-up: what it means for a
    song asked for meanwhile (the dispatcher's retries run out, the member reads "try again in a
    few minutes" and is refunded; nothing waits in the queue for MusicGPT to come back)."""
    return (
        f"MusicGPT isn't answering ({reason}): until it does, songs asked for fail with "
        "“try again in a few minutes” and are refunded"
    )


class Tracker:
    def __init__(
        self,
        store: TrackerStore,
        musicgpt: MusicGPTApi,
        settings: Settings,
        *,
        webhook_base_url: str | None = None,
        clock: Clock | None = None,
        timing: Timing | None = None,
        events: TaskEvents | None = None,
        inputs: InputKeeper | None = None,
        audio: AudioHolder | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        clock = clock or SystemClock()
        self._musicgpt = musicgpt
        self.events = events or TaskEvents()
        self.health = MusicGPTHealth(clock)
        # Queued tasks, freed slots and due polls wake every process's loops (LISTEN/NOTIFY).
        self.wakeups = Wakeups(store)
        self._ctx = TrackerContext(
            store,
            self.events,
            clock,
            timing or Timing(),
            self.health,
            inputs=inputs,
            audio=audio or FileAudio(),
            metrics=metrics or Metrics(),
            slot_freed=self.wakeups.event(DISPATCH),
        )
        self.poller = Poller(
            self._ctx,
            musicgpt,
            polls_per_minute=settings.musicgpt_polls_per_minute,
            give_up_after=settings.poll_give_up_minutes * 60,
            on_result=self.apply_update,
            wakeup=self.wakeups.event(POLLS),
        )
        self.dispatcher = Dispatcher(
            self._ctx,
            musicgpt,
            max_parallel=settings.musicgpt_max_parallel,
            webhook_base_url=webhook_base_url,
            poll_due=self.poller.wakeup,
        )
        self.delivery = DeliveryWorker(self._ctx)
        self.claims = ClaimKeeper(
            self._ctx,
            self.delivery,
            sending=lambda: self.dispatcher.sending,
            look_again=self._look_again,
        )
        self._loops: list[asyncio.Task[None]] = []
        # Why MusicGPT didn't answer the start-up key check ("connection refused"), or None.
        self.musicgpt_silent: str | None = None

    def attach(self, poster: ResultPoster) -> None:
        self.delivery.attach(poster)

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Check the MusicGPT key, resume every unfinished task where it stood, run the loops."""
        key_check = asyncio.create_task(self._check_key(), name="musicgpt-key-check")
        # Which process a claim in the database is (its `claimed_by`), for whoever reads it.
        log.info("claims are held as %s", self._ctx.holder)
        # Listening before recovering: nothing another process does meanwhile goes unheard.
        await self.wakeups.start({DISPATCH: self.dispatcher.queued, POLLS: self.poller.wakeup.set})
        await self._recover()
        self._loops = [
            key_check,
            asyncio.create_task(self.dispatcher.run(), name="tracker-dispatch"),
            asyncio.create_task(self.poller.run(), name="tracker-poll"),
            asyncio.create_task(self.claims.run(), name="tracker-claims"),
        ]
        # Not awaited: start-up doesn't wait on MusicGPT. Until the verdict (milliseconds,
        # usually) /readyz counts the key as not refused.

    async def _check_key(self) -> None:
        """One free call at start-up, so a wrong key shows before a member's first request."""
        try:
            verdict = await self._musicgpt.check_key()
        except Exception:
            log.exception("the MusicGPT key check failed")
            return
        if verdict.accepted is False:
            self.health.note_key(False)
            log.warning(
                "MUSICGPT_API_KEY was refused by MusicGPT (%s): check the key", verdict.reason
            )
        elif verdict.status == 429:  # busy is an answer: submits wait at the head of the queue
            log.warning(
                "couldn't check MUSICGPT_API_KEY: MusicGPT is busy (HTTP 429); songs wait in "
                "the queue until it takes them"
            )
        elif verdict.accepted is None:
            self.musicgpt_silent = verdict.reason
            log.warning("%s; MUSICGPT_API_KEY not checked", musicgpt_silent_text(verdict.reason))
        else:
            if self.health.key_accepted is None:
                self.health.note_key(True)
            log.info("MusicGPT accepted the API key")

    async def musicgpt_limits(self, *, read: bool = True) -> dict[str, object]:
        """What the tracker learned about MusicGPT's limits (for /readyz), as every process
        on the database uses them; with `read=False` (the database didn't answer /readyz's
        check), as this process saw them last, so /readyz still answers in time."""
        parallel = self.dispatcher.parallelism
        budget = self.poller.budget
        if read:
            with contextlib.suppress(StorageError):  # failed since the check: the last seen
                await parallel.current()
                await budget.refresh()
        return {
            "musicgpt_parallel": {
                "using": parallel.limit,
                "configured": parallel.configured,
                "learned": parallel.describe(),
            },
            "musicgpt_polls_per_minute": {
                "using": round(budget.per_minute),
                "configured": budget.configured,
                "learned": budget.describe(),
            },
        }

    async def readings(self) -> Readings:
        """What /metrics shows of the queue and of MusicGPT's limits, read now."""
        store, parallel, budget = self._ctx.store, self.dispatcher.parallelism, self.poller.budget
        await parallel.current()  # the shared figures, not this process's last look at them
        await budget.refresh()
        return Readings(
            tasks_queued=await store.count_queued(),
            tasks_at_musicgpt=await store.count_in_flight(),
            polls_per_minute=budget.per_minute,
            polls_per_minute_configured=budget.configured,
            parallel=parallel.limit,
            parallel_configured=parallel.configured,
        )

    async def stop(self, grace: float = 0) -> None:
        """Take no new work (nothing more is sent or polled), give what is under way (submits
        uploading, polls, deliveries) up to `grace` seconds to finish and be recorded, then
        cancel the rest and hand its claims over. Queued tasks stay queued."""
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops.clear()
        renewing = asyncio.create_task(self.claims.keep_renewing(), name="tracker-renew")
        try:
            unfinished = await self._ctx.drain(grace)
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)
        if unfinished:
            log.warning(
                "stopped %s still running after %g s", count(unfinished, "tracker job"), grace
            )
        left = self.claims.held()
        await self._ctx.cancel_background()
        if left:
            await self.claims.hand_over(left)
        # Last: a submit finished during the drain must still wake the others' pollers.
        await self.wakeups.stop()

    def _look_again(self) -> None:
        """The claims' tick, with other processes on the database: work they queued, slots
        they freed or songs they made due may have been told while this process wasn't
        listening (or the telling failed), so look at the queue and the polls anyway."""
        self.dispatcher.look_again()
        wake_here(self.poller.wakeup)

    async def _recover(self) -> None:
        # Claims (submitting, completed, delivering) whose process is gone: on a database
        # only this process uses, all of them now; with other processes, only those whose
        # lease ran out (a live process's fresh claim is its own), the rest as they expire.
        await self.claims.sweep(every_claim=not self._ctx.store.shared)
        for task in await self._ctx.store.unfinished_tasks():
            if task.status in (TaskStatus.QUEUED, TaskStatus.SUBMITTED):
                # They resume from the database; their status messages are refreshed once
                # the Discord side is up.
                self.events.publish(task.id)
        await self.delivery.resume_copies()
        self.dispatcher.wakeup.set()
        self.poller.wakeup.set()

    # --- requests --------------------------------------------------------------------------

    async def submit(
        self,
        request: Request,
        *,
        limits: QuotaLimits,
        audio_path: Path | None = None,
        audio_duration: float | None,
    ) -> Task | QuotaRefusal:
        """Charge quota and queue the request, or refuse it; MusicGPT gets it once a slot frees.

        An uploaded file is kept for Again from now on (its hash recorded on the task), so a
        queued parent can be repeated too; keeping never fails the request. On PostgreSQL
        the file's bytes go to the database before the task row (the task names them by
        that hash), and the file goes: any process may send the song."""
        held = await self._ctx.audio.hold(audio_path) if audio_path else None
        async with self._keeping(audio_path, held) as input_sha256:
            created = await self._ctx.store.create_task(
                request,
                now=self._ctx.clock.now(),
                daily_quota=limits.daily,
                max_active=limits.active,
                audio_path=str(audio_path) if audio_path and not held else None,
                audio_duration=audio_duration,
                input_sha256=held or input_sha256,
            )
        if isinstance(created, Task):
            if held:  # in the database now (a refused request keeps it for Edit and retry)
                remove_file(str(audio_path))
            self._ctx.metrics.request(request.kind, "queued")
            self.events.publish(created.id)
            self.dispatcher.queued()
        return created

    async def cancel(self, task_id: int, user_id: int) -> Task | None:
        """A task still in our queue is cancelled: never sent, refunded, its audio removed.
        `user_id` is its requester's (whoever clicked, the requester or a moderator, was
        checked by the caller). The task as it was, or None when it had left the queue."""
        cancelled = await self._ctx.store.cancel_queued(task_id, user_id, self._ctx.clock.now())
        if cancelled is not None:
            self._ctx.metrics.request(cancelled.kind, "cancelled")
            remove_file(cancelled.audio_path)
            self.events.publish(task_id)
        return cancelled

    def _keeping(
        self, path: Path | None, digest: str | None
    ) -> AbstractAsyncContextManager[str | None]:
        inputs = self._ctx.inputs
        if inputs is None:
            return contextlib.nullcontext(digest)
        return inputs.keeping(path, digest)

    # --- webhooks --------------------------------------------------------------------------

    async def handle_webhook(self, task_id: int, payload: Mapping[str, Any]) -> None:
        """A webhook is a hint, not a result: it makes the task due for a confirming poll."""
        result = parse_conversion(payload)
        if result.status is ConversionStatus.UNKNOWN:
            return  # lyrics timestamps and other `subtype` extras carry no status
        if await self._ctx.store.note_webhook(task_id, result.task_id, self._ctx.clock.now()):
            self.poller.wakeup.set()
        else:
            # Finished already, unknown, or naming another MusicGPT task than this one's.
            log.debug("webhook for task %s changed nothing; ignored", task_id)

    # --- the one update path ---------------------------------------------------------------

    async def apply_update(self, task_id: int, result: ConversionResult) -> Task | None:
        """Record a final result from MusicGPT. Repeats and late arrivals change nothing."""
        if result.status.is_failure:
            reason = (
                FAILED_WITH_WORDS.format(why=sentence(result.message))
                if result.message
                else MUSICGPT_FAILED
            )
            return await self._fail_by_id(task_id, reason)
        if result.status is not ConversionStatus.COMPLETED:
            return None
        if not result.outputs:
            return await self._fail_by_id(task_id, NO_AUDIO_BACK)
        completed = await self._ctx.store.mark_completed(
            task_id, result.outputs, result.cost, self._ctx.clock.now(), lease=self._ctx.lease()
        )
        if completed is not None:
            # Delivery first: the "done" status edit must not hold up the song itself.
            self.delivery.start(task_id)
            self.dispatcher.wakeup.set()
            self.events.publish(task_id)
        return completed

    async def _fail_by_id(self, task_id: int, reason: str) -> Task | None:
        task = await self._ctx.store.get_task(task_id)
        return await self._ctx.fail(task, reason) if task else None
