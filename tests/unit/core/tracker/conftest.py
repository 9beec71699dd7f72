"""What the tracker's tests share: fakes of its seams (MusicGPT client, result poster) and a
harness over a real store and a fake clock: time only moves when a test drives it, so nothing
here sleeps on the wall clock."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest

from bot.core.config import Settings
from bot.core.errors import MusicGPTRateLimited
from bot.core.models import (
    ConversionResult,
    ConversionStatus,
    Output,
    QuotaLimits,
    Request,
    SubmitReceipt,
    Task,
    TaskKind,
    TaskStatus,
)
from bot.core.musicgpt.client import KeyCheck
from bot.core.store import Store
from bot.core.tracker import Tracker
from tests.unit.conftest import FakeClock, drive

SETTINGS = Settings(
    discord_token="t",
    musicgpt_api_key="k",
    musicgpt_max_parallel=1,
    musicgpt_polls_per_minute=600_000,
)
LIMITS = QuotaLimits(daily=5, active=5)

DONE = ConversionResult(
    ConversionStatus.COMPLETED,
    task_id="mg-1",
    outputs=(Output("http://mg/a.wav", "c1", 3.0, "Song"),),
    cost=1.0,
)


class FakeMusicGPT:
    def __init__(self) -> None:
        self.submits: list[dict[str, Any]] = []
        self.polls: list[str] = []
        self.results: list[ConversionResult] = []  # answered in order; the last repeats
        self.submit_error: Exception | None = None
        self.release_submit = asyncio.Event()
        self.release_submit.set()
        self.in_flight = 0
        self.max_in_flight = 0
        self.key_checks = 0
        self.key_verdict = KeyCheck(True, 404, "HTTP 404")

    async def _submit(self, **fields: Any) -> SubmitReceipt:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self.release_submit.wait()
            if self.submit_error:
                raise self.submit_error
            self.submits.append(fields)
            return SubmitReceipt(f"mg-{len(self.submits)}", ("c1",), 0, 1.0)
        finally:
            self.in_flight -= 1

    async def submit_sing(self, **fields: Any) -> SubmitReceipt:
        return await self._submit(kind="sing", **fields)

    async def submit_inpaint(self, **fields: Any) -> SubmitReceipt:
        return await self._submit(kind="inpaint", **fields)

    async def submit_extend(self, **fields: Any) -> SubmitReceipt:
        return await self._submit(kind="extend", **fields)

    async def check_key(self) -> KeyCheck:
        self.key_checks += 1
        return self.key_verdict

    async def get_conversion(
        self, kind: TaskKind, *, task_id: str | None = None, **_: Any
    ) -> ConversionResult:
        self.polls.append(task_id or "")
        if not self.results:
            return ConversionResult(ConversionStatus.IN_PROGRESS, task_id=task_id)
        result = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        return ConversionResult(result.status, task_id, (), result.message, result.outputs, 1.0)


class FakePoster:
    def __init__(self) -> None:
        self.delivered: list[int] = []
        self.existing: dict[int, list[int]] = {}
        self.failures: list[Exception] = []

    async def deliver(self, task: Task) -> Sequence[int]:
        if self.failures:
            raise self.failures.pop(0)
        self.delivered.append(task.id)
        return [1000 + task.id]

    async def find_delivery(self, task: Task) -> Sequence[int] | None:
        return self.existing.get(task.id)


def sing(user_id: int = 1) -> Request:
    return Request(
        TaskKind.SING, user_id, 10, 20, "piano ballad", "la la", audio_url="https://x/a.mp3"
    )


@pytest.fixture
def musicgpt() -> FakeMusicGPT:
    return FakeMusicGPT()


@pytest.fixture
def poster() -> FakePoster:
    return FakePoster()


class Harness:
    def __init__(self, tracker: Tracker, store: Store, clock: FakeClock) -> None:
        self.tracker, self.store, self.clock = tracker, store, clock

    async def submit(self, request: Request) -> Task:
        created = await self.tracker.submit(request, limits=LIMITS, audio_duration=None)
        assert isinstance(created, Task)
        return created

    async def until(self, task_id: int, status: TaskStatus, step: float = 1.0) -> Task:
        """Drive the clock until the task reaches `status`; the task then."""
        seen: list[Task] = []

        async def reached() -> bool:
            task = await self.store.get_task(task_id)
            seen[:] = [task] if task else []
            return task is not None and task.status is status

        await drive(self.clock, reached, step=step)
        return seen[0]


@pytest.fixture
async def make_harness(store: Store, musicgpt: FakeMusicGPT, poster: FakePoster, clock: FakeClock):
    """A factory of harnesses over one store; every tracker is stopped before the store closes."""
    made: list[Tracker] = []

    def make(**settings: Any) -> Harness:
        webhook_base_url = settings.pop("webhook_base_url", None)
        tracker = Tracker(
            store,
            musicgpt,
            dataclasses.replace(SETTINGS, **settings),
            webhook_base_url=webhook_base_url,
            clock=clock,
        )
        tracker.attach(poster)
        made.append(tracker)
        return Harness(tracker, store, clock)

    yield make
    for tracker in made:
        await tracker.stop()


@pytest.fixture
def harness(make_harness) -> Harness:
    return make_harness()


# --- MusicGPT's limits: 429s, 409s and the key --------------------------------------------


class BusyMusicGPT(FakeMusicGPT):
    """MusicGPT with a plan's parallel limit: a submit while `capacity` tasks run is a 429.

    Accepted tasks run until `finish(mg_id)`; polls answer IN_PROGRESS until then."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.running: set[str] = set()
        self.attempts: list[tuple[str, int, str]] = []  # (prompt, in flight on arrival, outcome)
        self.receiving = 0
        self.refusals = 0
        self.error: Exception | None = None  # raised by every submit when set

    async def _submit(self, **fields: Any) -> SubmitReceipt:
        self.receiving += 1
        in_flight = len(self.running) + self.receiving
        try:
            await asyncio.sleep(0)  # a round trip: other submits may be on their way meanwhile
            if self.error is not None:
                self.attempts.append((fields["prompt"], in_flight, type(self.error).__name__))
                raise self.error
            if len(self.running) >= self.capacity:
                self.refusals += 1
                self.attempts.append((fields["prompt"], in_flight, "429"))
                raise MusicGPTRateLimited("too many at once")
            self.submits.append(fields)
            mg_id = f"mg-{len(self.submits)}"
            self.running.add(mg_id)
            self.attempts.append((fields["prompt"], in_flight, mg_id))
            return SubmitReceipt(mg_id, ("c1",), 0, 1.0)
        finally:
            self.receiving -= 1

    def finish(self, *mg_ids: str) -> None:
        self.running.difference_update(mg_ids)

    async def get_conversion(
        self, kind: TaskKind, *, task_id: str | None = None, **_: Any
    ) -> ConversionResult:
        self.polls.append(task_id or "")
        if task_id in self.running:
            return ConversionResult(ConversionStatus.IN_PROGRESS, task_id=task_id)
        return ConversionResult(ConversionStatus.COMPLETED, task_id, (), None, DONE.outputs, 1.0)


def named(prompt: str, user_id: int) -> Request:
    return dataclasses.replace(sing(user_id), prompt=prompt)
