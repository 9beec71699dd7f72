"""The dispatcher: queued tasks go to MusicGPT while fewer than it takes at once are there.

How many that is starts at MUSICGPT_MAX_PARALLEL and is learned from MusicGPT's 429s
(`LearnedParallelism`): a submit answered 429 was not taken, so it goes back to the head of
the queue, charged once and with its audio kept, and the next submit waits a little (longer
while 429s keep coming, or what Retry-After says) and for a slot to free.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from bot.core.errors import (
    DiskFull,
    MusicGPTConfigurationError,
    MusicGPTError,
    MusicGPTOutOfCredits,
    MusicGPTRateLimited,
    MusicGPTSubmitUncertain,
    MusicGPTUnavailable,
    MusicGPTValidationError,
    StorageError,
    sentence,
)
from bot.core.models import AudioSource, Gender, SubmitReceipt, Task, TaskKind
from bot.core.songs.failures import (
    CANT_SIGN_IN,
    OUT_OF_CREDITS,
    REFUSED,
    REFUSED_WITH_WORDS,
    SEND_FAILED,
    UNAVAILABLE,
    UNCERTAIN,
)
from bot.core.tracker.context import TrackerContext, remove_file
from bot.core.tracker.parallelism import LearnedParallelism
from bot.core.tracker.wakeups import wake_here

log = logging.getLogger(__name__)
# After a claim found nothing it could take while tasks are queued: how soon to look again.
LOCKED_ROW_RETRY = 0.2


class MusicGPTSubmitter(Protocol):
    """The submitting part of `MusicGPTClient`."""

    async def submit_sing(
        self,
        *,
        prompt: str,
        lyrics: str,
        gender: Gender | None,
        audio: AudioSource,
        webhook_url: str | None,
    ) -> SubmitReceipt: ...

    async def submit_inpaint(
        self,
        *,
        prompt: str,
        replace_start: float,
        replace_end: float,
        lyrics: str | None,
        lyrics_section_to_replace: str | None,
        gender: Gender | None,
        num_outputs: int,
        audio: AudioSource,
        webhook_url: str | None,
    ) -> SubmitReceipt: ...

    async def submit_extend(
        self,
        *,
        prompt: str,
        extend_after: float,
        lyrics: str | None,
        gender: Gender | None,
        audio: AudioSource,
        webhook_url: str | None,
    ) -> SubmitReceipt: ...


async def send_task(
    musicgpt: MusicGPTSubmitter, task: Task, webhook_url: str | None
) -> SubmitReceipt:
    """Submit `task` to MusicGPT by the endpoint of its kind."""
    common: dict[str, Any] = {
        "prompt": task.prompt,
        "gender": task.gender,
        "audio": task.audio,
        "webhook_url": webhook_url,
    }
    match task.kind:
        case TaskKind.SING:
            return await musicgpt.submit_sing(lyrics=task.lyrics or "", **common)
        case TaskKind.INPAINT:
            assert task.replace_start is not None and task.replace_end is not None  # noqa: S101
            return await musicgpt.submit_inpaint(
                replace_start=task.replace_start,
                replace_end=task.replace_end,
                lyrics=task.lyrics,
                lyrics_section_to_replace=task.lyrics_section_to_replace,
                num_outputs=task.num_outputs,
                **common,
            )
        case TaskKind.EXTEND:
            assert task.extend_after is not None  # noqa: S101
            return await musicgpt.submit_extend(
                extend_after=task.extend_after, lyrics=task.lyrics, **common
            )
    raise AssertionError(f"unknown task kind {task.kind}")  # pragma: no cover


def failure_message_for(error: Exception) -> str:
    """What the user reads when a submit goes wrong; never MusicGPT's internals or our keys."""
    if isinstance(error, MusicGPTValidationError):
        # MusicGPT's own words when it gave any; the sentence reads the same without them.
        why = error.user_message.strip()
        return REFUSED_WITH_WORDS.format(why=sentence(why)) if why else REFUSED
    if isinstance(error, MusicGPTOutOfCredits):
        return OUT_OF_CREDITS
    if isinstance(error, MusicGPTConfigurationError):
        return CANT_SIGN_IN
    if isinstance(error, MusicGPTSubmitUncertain):
        return UNCERTAIN
    if isinstance(error, MusicGPTUnavailable):
        return UNAVAILABLE
    return SEND_FAILED


class Dispatcher:
    def __init__(
        self,
        context: TrackerContext,
        musicgpt: MusicGPTSubmitter,
        *,
        max_parallel: int,
        webhook_base_url: str | None,
        poll_due: asyncio.Event,
    ) -> None:
        self._ctx = context
        self._musicgpt = musicgpt
        self.parallelism = LearnedParallelism(
            context.store,
            max_parallel,
            context.clock,
            raise_interval=context.timing.parallel_raise_interval,
        )
        # After a 429: no submit before this time; the wait doubles while 429s keep coming.
        self._not_before = 0.0
        self._busy_backoff = context.timing.busy_backoff
        self._webhook_base_url = webhook_base_url
        self._poll_due = poll_due  # set when a task becomes pollable
        # Tasks queued in this process, and that count when the queue was last seen empty:
        # while they are equal a freed slot (every finished task frees one) needs no query.
        self._queued = 1  # start-up: tasks queued before a restart may be waiting
        self._queued_when_empty = 0
        # Tasks claimed here and being sent to MusicGPT: their leases are renewed.
        self.sending: set[int] = set()

    @property
    def wakeup(self) -> asyncio.Event:
        return self._ctx.slot_freed

    def queued(self) -> None:
        """A task was queued: look for a free slot."""
        self._queued += 1
        self.wakeup.set()

    def look_again(self) -> None:
        """Look at the queue, as if a task was queued, without waking the other processes
        (each looks on its own tick)."""
        self._queued += 1
        wake_here(self.wakeup)

    async def run(self) -> None:
        store = self._ctx.store
        clock = self._ctx.clock
        while True:
            await self.wakeup.wait()
            pause = self._not_before - clock.now()
            if pause > 0:
                # MusicGPT said 429 a moment ago: what woke us waits until the pause is over
                # (the event stays set, so the next turn looks at the queue).
                await clock.sleep(pause)
                continue
            self.wakeup.clear()
            if self._queued == self._queued_when_empty:
                continue
            try:
                while clock.now() >= self._not_before:
                    # The limit is checked in the claim itself: with several processes on one
                    # database, a count read first could be stale by the time of the claim.
                    # The pause is checked right before it: a 429 answered meanwhile must not
                    # see its task claimed again at once.
                    queued_before = self._queued
                    limit = await self.parallelism.current()  # shared by every process
                    task = await store.claim_next_queued(
                        clock.now(), lease=self._ctx.lease(), limit=limit
                    )
                    if task is None:
                        await self._claimed_nothing(limit, queued_before)
                        break
                    if clock.now() < self._not_before or self.parallelism.limit < limit:
                        # A 429 came while claiming: the claim's limit no longer holds, so the
                        # task goes back to the head of the queue rather than to MusicGPT.
                        await store.requeue(task.id, clock.now())
                        self._queued += 1  # the queue is not empty
                        self.wakeup.set()
                        break
                    self.sending.add(task.id)
                    self._ctx.spawn(self._submit(task), f"submit-{task.id}")
                if clock.now() < self._not_before:
                    self.wakeup.set()  # a 429 came while claiming: come back after the pause
            except Exception:
                log.exception("dispatcher failed; retrying shortly")
                await clock.sleep(1)
                self.queued()

    async def _claimed_nothing(self, limit: int, queued_before: int) -> None:
        """Why the claim found nothing, and when to look again. At the limit: when a task
        finishes (here, or as the sweep sees it). Below it with tasks queued: PostgreSQL's
        claim skipped a row another writer holds locked for a moment (its status message being
        recorded), so shortly rather than calling the queue empty. Else the queue is empty."""
        store = self._ctx.store
        if await store.count_in_flight() >= limit:
            return
        if await store.count_queued():
            self._ctx.spawn(self._wake_after(LOCKED_ROW_RETRY), "dispatch-retry")
        else:
            self._queued_when_empty = queued_before

    async def _wake_after(self, seconds: float) -> None:
        await self._ctx.clock.sleep(seconds)
        self.wakeup.set()

    def webhook_url_for(self, task_id: int) -> str | None:
        base = self._webhook_base_url
        return f"{base}/{task_id}" if base else None

    async def _submit(self, task: Task) -> None:
        uploading = False
        try:
            # On PostgreSQL the audio comes out of the database into a file of this process's
            # own, removed once the upload is over (bot.core.media.blobs).
            async with self._ctx.audio.sendable(task) as sent:
                uploading = True
                receipt = await send_task(self._musicgpt, sent, self.webhook_url_for(task.id))
        except MusicGPTRateLimited as error:
            self._ctx.health.note(error)
            try:
                await self._requeue(task, error.retry_after)
            except Exception:
                # Still `submitting` in the database: once its lease runs out, a sweep (this
                # process's or another's) ends it with a refund.
                log.exception("couldn't put task %s back in the queue", task.id)
        except MusicGPTError as error:
            self._ctx.health.note(error)
            if isinstance(error, MusicGPTConfigurationError):
                log.error("MusicGPT rejected the API key; check MUSICGPT_API_KEY")
            else:
                log.warning("submit of task %s failed: %s", task.id, type(error).__name__)
            await self._ctx.fail(task, failure_message_for(error))
        except Exception as error:
            if not uploading and isinstance(error, (StorageError, OSError, DiskFull)):
                # The audio couldn't be read back (the database or the disk failed for now):
                # nothing went to MusicGPT, so the song waits in the queue, not failed.
                await self._put_back(task, error)
            else:
                log.exception("submit of task %s failed unexpectedly", task.id)
                await self._ctx.fail(task, failure_message_for(error))
        else:
            self._ctx.health.note(None)
            self._busy_backoff = self._ctx.timing.busy_backoff
            await self._on_submitted(task, receipt)
            if self.parallelism.limited:  # one more query per submit only while learning
                await self.parallelism.took(await self._ctx.store.count_submitted())
        finally:
            self.sending.discard(task.id)
            self.wakeup.set()

    async def _put_back(self, task: Task, error: Exception) -> None:
        """Back to the head of the queue, tried again after a pause: it was never sent."""
        ctx = self._ctx
        wait = self._busy_backoff  # doubling while it keeps failing, as after 429s
        self._busy_backoff = min(wait * 2, ctx.timing.busy_backoff_max)
        self._not_before = max(self._not_before, ctx.clock.now() + wait)
        log.warning(
            "couldn't read task %s's audio to send it (%s); it waits in the queue",
            task.id,
            type(error).__name__,
        )
        try:
            requeued = await ctx.store.requeue(task.id, ctx.clock.now())
        except Exception:
            # Still `submitting`: once its lease runs out, a sweep ends it with a refund.
            log.exception("couldn't put task %s back in the queue", task.id)
            return
        if requeued is not None:
            self._queued += 1
            ctx.events.publish(task.id)

    async def _requeue(self, task: Task, retry_after: float | None) -> None:
        """MusicGPT didn't take it (429): back to the head of the queue, and slow down."""
        ctx = self._ctx
        timing = ctx.timing
        if retry_after is None:
            wait = self._busy_backoff
        else:  # MusicGPT's own figure, within reason (a broken header can't park the queue)
            wait = min(max(retry_after, 0.5), timing.busy_retry_after_max)
        self._busy_backoff = min(self._busy_backoff * 2, timing.busy_backoff_max)
        self._not_before = max(self._not_before, ctx.clock.now() + wait)
        requeued = await ctx.store.requeue(task.id, ctx.clock.now())
        await self.parallelism.refused(await ctx.store.count_submitted())
        log.info(
            "MusicGPT was busy (429) for task %s; it waits at the head of the queue (%.0f s)",
            task.id,
            wait,
        )
        if requeued is not None:
            self._queued += 1  # the queue is not empty any more
            ctx.events.publish(task.id)

    async def _on_submitted(self, task: Task, receipt: SubmitReceipt) -> None:
        ctx = self._ctx
        now = ctx.clock.now()
        eta = ctx.timing.default_eta if receipt.eta_seconds is None else receipt.eta_seconds
        first_poll = now + eta * (1 + ctx.timing.first_poll_margin)
        if self._webhook_base_url:
            first_poll += ctx.timing.webhook_grace
        submitted = await ctx.store.mark_submitted(
            task.id, receipt, next_poll_at=first_poll, now=now
        )
        if submitted is not None and ctx.inputs is not None:
            # Kept for Again before this task's own copy goes (a no-op when keeping is off).
            await ctx.inputs.submitted(task)
        remove_file(task.audio_path)
        if submitted is None:
            # Ended meanwhile (cancelled by a takeover that thought this process gone, say):
            # MusicGPT has it all the same, so say which task it holds for us.
            log.warning(
                "task %s ended while MusicGPT took it (MusicGPT task %s); not tracked further",
                task.id,
                receipt.task_id,
            )
            return
        if submitted.webhook_seen:  # the webhook beat the submit's own answer
            await ctx.store.schedule_poll(task.id, at=now, polled=False, now=now)
        self._poll_due.set()
        ctx.events.publish(task.id)
