"""Fixtures the unit tests share: a real store on a temporary file, a clock tests move, and
media files encoded in-process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.core.media.worker import MediaWorker
from bot.core.models import Task
from bot.core.songs.forms import Origin, PendingAudio, SongRequest
from bot.core.songs.intake import Intake
from bot.core.store import Store
from tests.support.media import Fixtures


class FakeClock:
    """`bot.core.clock.Clock` whose time moves only when a test calls `advance`."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._now + seconds, woken))
        await woken

    def advance(self, seconds: float) -> None:
        self._now += seconds
        waiting = []
        for deadline, woken in self._sleepers:
            if woken.done():
                continue
            if deadline <= self._now:
                woken.set_result(None)
            else:
                waiting.append((deadline, woken))
        self._sleepers = waiting


async def drive(
    clock: FakeClock,
    condition: Callable[[], Awaitable[bool]],
    *,
    step: float = 1.0,
    turns: int = 2000,
) -> None:
    """Move the clock `step` at a time until `condition` holds (the code under test runs
    between steps); fail after `turns` steps."""
    for _ in range(turns):
        if await condition():
            return
        clock.advance(step)
        # Let the loops and aiosqlite's thread answer before the next step.
        await asyncio.sleep(0.001)
    raise AssertionError(f"condition not met after {turns} steps of {step} s")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with Store.open(tmp_path / "db.sqlite3") as opened:
        yield opened


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Fixtures:
    """Audio (and a video) encoded in-process with PyAV, each recipe once per session."""
    return Fixtures(tmp_path_factory.mktemp("media"))


@pytest.fixture
async def worker() -> AsyncIterator[MediaWorker]:
    async with MediaWorker() as w:
        yield w


async def submit_song(
    intake: Intake, origin: Origin, pending: PendingAudio, song: SongRequest
) -> Task:
    """A form's submit as the song door makes it: the form's request from where it was
    sent, through the intake's one entry."""
    return await intake.submit(song.request(origin, pending), pending, role_ids=origin.role_ids)
