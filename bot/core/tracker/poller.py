"""The poller: asks `byId` about submitted tasks as they fall due, within the poll budget.

Like RoboDanny's timer loop it sleeps until the soonest row is due, or until something wakes
it (a submit, a webhook, a finished poll). Several confirmations run at once: when fifty
webhooks arrive within a second, the fiftieth is not kept waiting behind forty-nine round
trips to MusicGPT, and the budget still spaces their start.

When the database can't be written (a full disk), a result already fetched is not fetched
again: its recording is retried with a backoff, and no new poll starts until a write
succeeds, so a stuck store costs no polls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from bot.core.clock import Clock, sleep_or_wake
from bot.core.errors import MusicGPTError, MusicGPTRateLimited, StorageError
from bot.core.models import ConversionResult, Task, TaskKind
from bot.core.songs.failures import gave_up_waiting
from bot.core.store.limits import POLLS, SharedLimit
from bot.core.store.port import LimitStore
from bot.core.tracker.context import TrackerContext

log = logging.getLogger(__name__)

ResultHandler = Callable[[int, ConversionResult], Awaitable[object]]
# Retrying a write the database refused: from a few seconds up to a minute apart.
RECORD_RETRY_FIRST = 2.0
RECORD_RETRY_MAX = 60.0


class MusicGPTStatus(Protocol):
    """The status part of `MusicGPTClient`."""

    async def get_conversion(
        self, kind: TaskKind, *, task_id: str | None = None, conversion_id: str | None = None
    ) -> ConversionResult: ...


class PollBudget:
    """Spaces `byId` calls evenly over every process on the database, so no 60-second window
    holds more than the rate in use: one row (`musicgpt_limits`, name `polls`) holds when the
    next call may start, and each call pushes it on by 60 / rate in the transaction that
    claims its task (`LimitStore.claim_poll`).

    The rate starts at MUSICGPT_POLLS_PER_MINUTE. A 429 from `byId` halves it (at least one a
    minute) and holds every poll for its Retry-After; after `raise_interval` seconds without
    one, each successful poll raises it by one a minute, back up to the setting. The rate is
    in the same row, so what one process learns every process uses at once.
    """

    def __init__(
        self,
        store: LimitStore,
        per_minute: int,
        clock: Clock,
        *,
        raise_interval: float = 60.0,
        lease: float = 120.0,
        max_hold: float = 600.0,
    ) -> None:
        self.configured = per_minute
        self._store = store
        self._clock = clock
        self._raise_interval = raise_interval
        self._lease = lease
        # The longest a 429's Retry-After holds every poll: the hold is shared by all the
        # processes and outlives a restart, so a broken header must not park them for hours.
        self._max_hold = max_hold
        self._seen = SharedLimit(POLLS)  # the row as this process last read or wrote it

    @property
    def per_minute(self) -> float:
        """The rate in use, as last seen (`refresh` reads it again)."""
        return self._rate(self._seen)

    def _rate(self, limit: SharedLimit) -> float:
        # Within the setting even if an owner lowered it below what was learned before.
        return float(
            self.configured if limit.learned is None else min(limit.learned, self.configured)
        )

    async def refresh(self) -> None:
        self._seen = await self._store.shared_limit(POLLS)

    def known_wait(self) -> float:
        """How long the budget is spent for, as far as this process knows without asking.

        next_allowed only ever moves on, so if what this process saw last is still ahead, so
        is the row: no query needed to learn that. Woken by every other process's submits and
        polls, that is most wake-ups while the budget is spent."""
        return max(0.0, self._seen.next_allowed - self._clock.now())

    async def claim(self, task_id: int) -> tuple[Task | None, float]:
        """Spend one call on task `task_id` and hold the task for this process's poll. The
        task if that was done; else None and how long until the budget has a call to spend
        (0: it had one, but another process polls the task)."""
        if wait := self.known_wait():
            return None, wait
        now = self._clock.now()

        def spend(limit: SharedLimit) -> SharedLimit | None:
            if limit.next_allowed > now:
                return None
            # From now, not from a next_allowed long past: a quiet spell earns no burst.
            start = max(limit.next_allowed, now)
            return dataclasses.replace(limit, next_allowed=start + 60.0 / self._rate(limit))

        task, self._seen = await self._store.claim_poll(
            task_id, now=now, until=now + self._lease, spend=spend
        )
        return task, 0.0 if task else max(0.0, self._seen.next_allowed - now)

    async def limited(self, retry_after: float | None) -> None:
        """MusicGPT answered a poll with 429."""
        now = self._clock.now()
        rates: list[float] = []

        def learn(limit: SharedLimit) -> SharedLimit:
            before = self._rate(limit)
            learned, at = limit.learned, limit.changed_at
            # Polls sent at the old rate and refused together call for one halving, not one
            # each, whichever processes sent them.
            if at is None or now - at >= max(1.0, 120.0 / before):
                learned, at = max(1.0, before / 2), now
            after = self._rate(dataclasses.replace(limit, learned=learned))
            rates[:] = [before, after]
            hold = max(60.0 / after, min(retry_after or 0.0, self._max_hold))
            return dataclasses.replace(
                limit,
                learned=learned,
                changed_at=at,
                next_allowed=max(limit.next_allowed, now + hold),
            )

        self._seen = await self._store.change_limit(POLLS, learn)
        before, after = rates
        if after == before:
            return
        log.warning(
            "MusicGPT limited status checks (429); polling at %.0f a minute instead of %.0f "
            "(MUSICGPT_POLLS_PER_MINUTE=%d)",
            after,
            before,
            self.configured,
        )

    async def succeeded(self) -> None:
        """A poll was answered: after a quiet spell, creep back towards the setting."""
        now = self._clock.now()

        def quiet_for_long(limit: SharedLimit) -> bool:
            return (
                limit.changed_at is not None
                and self._rate(limit) < self.configured
                and now - limit.changed_at >= self._raise_interval
            )

        if not quiet_for_long(self._seen):  # nothing to raise as far as this process knows
            return

        def creep(limit: SharedLimit) -> SharedLimit:
            if not quiet_for_long(limit):  # another process raised it meanwhile, or a 429 came
                return limit
            return dataclasses.replace(
                limit, learned=min(float(self.configured), self._rate(limit) + 1)
            )

        self._seen = await self._store.change_limit(POLLS, creep)
        if self.per_minute >= self.configured:
            log.info("polling at MUSICGPT_POLLS_PER_MINUTE=%d again", self.configured)

    def describe(self) -> str | None:
        """What was learned, for /readyz; None while MusicGPT never limited the polls."""
        if self._seen.changed_at is None:
            return None
        return (
            f"MusicGPT limited status checks; polling at {self.per_minute:.0f} a minute "
            f"of MUSICGPT_POLLS_PER_MINUTE={self.configured}"
        )


class Poller:
    def __init__(
        self,
        context: TrackerContext,
        musicgpt: MusicGPTStatus,
        *,
        polls_per_minute: int,
        give_up_after: float,
        on_result: ResultHandler,
        wakeup: asyncio.Event | None = None,
    ) -> None:
        self._ctx = context
        self._musicgpt = musicgpt
        self.budget = PollBudget(
            context.store,
            polls_per_minute,
            context.clock,
            raise_interval=context.timing.poll_rate_raise_interval,
            # Held against other processes' polls; a database no other process uses needs
            # no hold, and none is left behind by a crash (the song is due again at once).
            lease=context.timing.poll_lease if context.store.shared else 0.0,
            max_hold=context.timing.busy_retry_after_max,
        )
        self._give_up_after = give_up_after
        self._on_result = on_result
        self._in_flight: set[int] = set()
        # Set when a task may have become due (here, or in another process: `wakeups.py`).
        self.wakeup = wakeup or asyncio.Event()
        # Cleared while the database refuses writes: no poll starts until one succeeds.
        self._store_writable = asyncio.Event()
        self._store_writable.set()

    async def run(self) -> None:
        while True:
            try:
                await self._turn()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("poller failed; retrying shortly")
                await self._ctx.clock.sleep(1)

    async def _turn(self) -> None:
        self.wakeup.clear()
        if not self._store_writable.is_set():
            await self._store_writable.wait()  # a poll's result now could not be recorded
            return
        ctx, slots = self._ctx, self._ctx.timing.max_concurrent_polls
        room = slots - len(self._in_flight)
        if room <= 0:
            await sleep_or_wake(ctx.clock, self.wakeup, None)  # a finishing poll wakes us
            return
        if spent_for := self.budget.known_wait():
            # Whatever is due waits for the budget anyway: no need to read the table first.
            await sleep_or_wake(ctx.clock, self.wakeup, spent_for)
            return
        due = await ctx.store.polls_due(ctx.clock.now(), room, skip=self._in_flight)
        for candidate in due:
            task, wait = await self.budget.claim(candidate.id)
            if task is None and wait > 0:
                await sleep_or_wake(ctx.clock, self.wakeup, wait)
                return  # look again: something sooner may have become due meanwhile
            if task is None:
                continue  # another process is polling it
            self._in_flight.add(task.id)
            ctx.spawn(self._poll(task), f"poll-{task.id}")
        if len(due) == room:
            return  # every slot is busy; the next turn waits for one to free
        # Nothing else is due: sleep until the soonest task is, unless something wakes us.
        soonest = await ctx.store.next_poll_at(skip=self._in_flight)
        until = None if soonest is None else max(0.0, soonest - ctx.clock.now())
        await sleep_or_wake(ctx.clock, self.wakeup, until)

    async def _poll(self, task: Task) -> None:
        try:
            await self._confirm(task)
        except Exception:
            log.exception("poll of task %s failed unexpectedly", task.id)
        finally:
            slots_were_full = len(self._in_flight) >= self._ctx.timing.max_concurrent_polls
            self._in_flight.discard(task.id)
            if slots_were_full:
                self.wakeup.set()

    async def _confirm(self, task: Task) -> None:
        assert task.musicgpt_task_id is not None  # noqa: S101 - submitted tasks have one
        try:
            result = await self._musicgpt.get_conversion(task.kind, task_id=task.musicgpt_task_id)
        except MusicGPTError as error:
            self._ctx.health.note(error)
            if isinstance(error, MusicGPTRateLimited):
                await self.budget.limited(error.retry_after)
            else:
                log.warning("poll of task %s failed: %s", task.id, type(error).__name__)
            await self._record(task, self._poll_later, task)
            return
        self._ctx.health.note(None)
        await self.budget.succeeded()
        if result.status.is_final:
            await self._record(task, self._on_result, task.id, result)
        else:
            await self._record(task, self._poll_later, task)

    async def _record(
        self, task: Task, write: Callable[..., Awaitable[object]], *args: Any
    ) -> None:
        """Run `write` until the database takes it. The task stays in flight meanwhile (so
        it isn't polled again) and the other polls wait: what MusicGPT said is known."""
        delay = RECORD_RETRY_FIRST
        while True:
            try:
                await write(*args)
            except StorageError as error:
                self._store_writable.clear()
                log.warning(
                    "couldn't record task %s (%s); retrying in %.0f s, polling paused",
                    task.id,
                    error,
                    delay,
                )
                await self._ctx.clock.sleep(delay)
                delay = min(delay * 2, RECORD_RETRY_MAX)
                continue
            if not self._store_writable.is_set():
                log.info("recorded task %s; polling resumes", task.id)
                self._store_writable.set()
            return

    def _eta(self, task: Task) -> float:
        default = self._ctx.timing.default_eta
        return float(default if task.eta_seconds is None else task.eta_seconds)

    def _poll_delay(self, task: Task) -> float:
        timing = self._ctx.timing
        delay = self._eta(task) * 0.25 * (1.5 ** max(task.poll_count, 0))
        return min(max(delay, timing.min_poll_interval), timing.max_poll_interval)

    async def _poll_later(self, task: Task) -> None:
        ctx = self._ctx
        now = ctx.clock.now()
        deadline = (task.submitted_at or task.created_at) + self._eta(task) + self._give_up_after
        if now >= deadline:
            minutes = round(self._give_up_after / 60)
            await ctx.fail(task, gave_up_waiting(minutes))
            return
        next_at = min(now + self._poll_delay(task), deadline)
        await ctx.store.schedule_poll(task.id, at=next_at, polled=True, now=now)
        self.wakeup.set()  # the loop may be sleeping until a later time than this
