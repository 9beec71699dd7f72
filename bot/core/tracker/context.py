"""What the tracker's parts share: the store, the clock, the event feed and how a task fails."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bot.core.clock import Clock
from bot.core.errors import MusicGPTConfigurationError, MusicGPTSubmitUncertain, MusicGPTUnavailable
from bot.core.metrics import Metrics
from bot.core.models import Task
from bot.core.store.port import TrackerStore
from bot.core.store.rows import Lease
from bot.core.tracker.events import TaskEvents

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
    # A poll holds its task this long (next_poll_at pushed on) so no other process polls it
    # meanwhile; a process that died mid-poll leaves the task to the others after it.
    poll_lease: float = 120.0
    delivery_attempts: int = 5
    delivery_backoff: float = 2.0
    # MusicGPT answering 429: how long to leave a refused submit queued (doubling while they
    # keep coming, unless Retry-After says otherwise), and how slowly to try more at once.
    busy_backoff: float = 2.0
    busy_backoff_max: float = 60.0
    busy_retry_after_max: float = 600.0
    parallel_raise_interval: float = 300.0  # one more at once, at most this often
    poll_rate_raise_interval: float = 60.0  # no faster polling for this long after a 429
    # A claim (submitting, completed, delivering) is held this long past its last renewal;
    # every `lease_tick` each process renews its own and takes over the expired ones. Several
    # ticks fit in a lease, so a live process's claim never runs out between two renewals.
    lease: float = 15.0
    lease_tick: float = 2.0


class MusicGPTHealth:
    """Whether MusicGPT is failing *persistently*, and whether it took our key.

    One failed call is not an outage (the client already retried it): MusicGPT counts as
    failing after FAILURES_IN_A_ROW failed calls in a row, or when the failures since the last
    success span FAILING_WINDOW seconds (calls kept being made and none got through). Any
    HTTP answer is contact: a 429 or a 401 is MusicGPT answering, not MusicGPT gone.
    """

    FAILURES_IN_A_ROW = 3
    FAILING_WINDOW = 300.0

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.last_contact: float | None = None
        self.consecutive_failures = 0
        self._first_failure_at: float | None = None  # of the current run of failures
        self._last_failure_at: float | None = None
        # None until something tells: the start-up check, or a call answered 401/403.
        self.key_accepted: bool | None = None

    def note(self, error: Exception | None) -> None:
        now = self._clock.now()
        if isinstance(error, MusicGPTUnavailable | MusicGPTSubmitUncertain):
            if self.consecutive_failures == 0:
                self._first_failure_at = now
            self.consecutive_failures += 1
            self._last_failure_at = now
            return
        self.consecutive_failures = 0
        self._first_failure_at = self._last_failure_at = None
        self.last_contact = now
        if isinstance(error, MusicGPTConfigurationError):
            self.key_accepted = False
        elif error is None:
            self.key_accepted = True  # a call went through: whatever the key was, it works

    def note_key(self, accepted: bool) -> None:
        self.key_accepted = accepted

    @property
    def failing(self) -> bool:
        if self.consecutive_failures >= self.FAILURES_IN_A_ROW:
            return True
        first, last = self._first_failure_at, self._last_failure_at
        return first is not None and last is not None and last - first >= self.FAILING_WINDOW

    @property
    def reachable(self) -> bool:
        """Not failing persistently (nothing asked yet counts as reachable)."""
        return not self.failing


def process_identity() -> str:
    """This run of the bot, unique among the processes on one database: host, pid, and a
    random part (a pid is reused after a restart, and containers all run as pid 1)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class InputKeeper(Protocol):
    """The part of `bot.core.media.inputs.InputStore` the tracker uses: uploads are kept for Again
    when
    their task is queued and marked used when it is submitted, never deleted from here."""

    def keeping(
        self, path: Path | None, digest: str | None = None
    ) -> AbstractAsyncContextManager[str | None]: ...

    async def submitted(self, task: Task) -> None: ...


class AudioHolder(Protocol):
    """Where a queued upload's bytes wait for the dispatcher (`bot.core.media.blobs`): in
    the database on PostgreSQL, so any process can send them; the intake's file on SQLite."""

    async def hold(self, path: Path, digest: str | None = None) -> str | None:
        """Store the file for its task; its sha256, or None when the file itself is sent."""
        ...

    def sendable(self, task: Task) -> AbstractAsyncContextManager[Task]:
        """The task with a local file to upload while the block runs."""
        ...


class FileAudio:
    """The intake's file is what the dispatcher sends (SQLite, and tests)."""

    async def hold(self, path: Path, digest: str | None = None) -> str | None:
        return None

    @contextlib.asynccontextmanager
    async def sendable(self, task: Task) -> AsyncIterator[Task]:
        yield task


@dataclass(eq=False)
class TrackerContext:
    store: TrackerStore
    events: TaskEvents
    clock: Clock
    timing: Timing
    health: MusicGPTHealth
    inputs: InputKeeper | None = None  # None: uploads are not kept after submit
    audio: AudioHolder = field(default_factory=FileAudio)
    metrics: Metrics = field(default_factory=Metrics)
    # Who this process is, in the claims it writes (bot.core.tracker.leases).
    holder: str = field(default_factory=process_identity)
    # Set whenever a MusicGPT slot may have come free (a task finished or failed).
    slot_freed: asyncio.Event = field(default_factory=asyncio.Event)
    _background: set[asyncio.Task[Any]] = field(default_factory=set)

    def lease(self) -> Lease:
        """A claim by this process, held from now for `timing.lease` seconds."""
        return Lease(self.holder, self.clock.now() + self.timing.lease)

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

    async def fail(
        self, task: Task, reason: str, *, mid_submit_of: str | None = None
    ) -> Task | None:
        """Fail an unfinished task with a refund; None when it had already ended (with
        `mid_submit_of`: unless still submitting under that holder's claim)."""
        failed = await self.store.mark_failed(
            task.id, reason, self.clock.now(), mid_submit_of=mid_submit_of
        )
        if failed is not None:
            # Only the winner's: a task that was requeued meanwhile still needs its file.
            remove_file(task.audio_path)
            self.metrics.request(task.kind, "failed")
            self.slot_freed.set()
            self.events.publish(task.id)
        return failed


def remove_file(path: str | None) -> None:
    if path:
        Path(path).unlink(missing_ok=True)
