"""What the dispatcher learns of MusicGPT's parallel limit (`bot/core/tracker/parallelism.py`)."""

from __future__ import annotations

import asyncio
import dataclasses

from bot.core.models import TaskStatus
from bot.core.store import Store
from bot.core.tracker import Tracker
from bot.core.tracker.parallelism import LearnedParallelism
from tests.unit.conftest import FakeClock, drive
from tests.unit.core.tracker.conftest import SETTINGS, BusyMusicGPT, FakePoster, Harness, named


async def test_the_parallelism_learned_goes_down_at_once_and_back_up_slowly(
    store: Store, poster: FakePoster, clock: FakeClock
) -> None:
    busy = BusyMusicGPT(capacity=2)
    tracker = Tracker(
        store, busy, dataclasses.replace(SETTINGS, musicgpt_max_parallel=4), clock=clock
    )
    tracker.attach(poster)
    h = Harness(tracker, store, clock)
    parallel = tracker.dispatcher.parallelism
    interval = tracker._ctx.timing.parallel_raise_interval
    try:
        await tracker.start()
        tasks = [await h.submit(named(f"song {n}", n)) for n in range(1, 6)]

        async def two_running_and_learned() -> bool:
            return len(busy.running) == 2 and busy.refusals >= 1 and parallel.limit == 2

        await drive(clock, two_running_and_learned, step=0.1)
        first_refusal = [a[2] for a in busy.attempts].index("429")

        async def all_delivered() -> bool:
            busy.finish(*list(busy.running))  # MusicGPT finishes whatever it runs
            found = [await store.get_task(task.id) for task in tasks]
            return all(t is not None and t.status is TaskStatus.DELIVERED for t in found)

        await drive(clock, all_delivered)
        # Once the 429 was in, every submit found MusicGPT with room for it: at most 2.
        assert max(in_flight for _, in_flight, _ in busy.attempts[first_refusal + 1 :]) <= 2
        assert parallel.limit == 2 and len(busy.submits) == 5

        # The owner upgrades the plan. Successes raise the figure by one, once an interval.
        busy.capacity = 4
        clock.advance(interval)

        # The dispatcher learns from a submit just after recording it: the test may see the
        # task submitted a moment before that, so it waits (in real time) for the figure.
        async def limit_becomes(expected: int) -> int:
            for _ in range(200):
                if parallel.limit == expected:
                    break
                await asyncio.sleep(0.01)
            return parallel.limit

        extra = await h.submit(named("song 6", 6))
        await h.until(extra.id, TaskStatus.SUBMITTED)
        assert await limit_becomes(3) == 3
        another = await h.submit(named("song 7", 7))
        await h.until(another.id, TaskStatus.SUBMITTED)
        await asyncio.sleep(0.1)  # its lesson learned, whatever it was
        assert parallel.limit == 3  # not again before the interval is over
        clock.advance(interval)
        last = await h.submit(named("song 8", 8))
        await h.until(last.id, TaskStatus.SUBMITTED)
        assert await limit_becomes(4) == 4
        assert parallel.describe() == (
            "MusicGPT took only 2 at once earlier; using all 4 of MUSICGPT_MAX_PARALLEL=4 again"
        )
    finally:
        await tracker.stop()


async def test_what_one_process_learns_every_process_uses(store: Store) -> None:
    """Two dispatchers' figures over one database, as two processes have them: a 429 one
    meets lowers the other's, and the step back up is taken once per interval, not once
    per process."""
    clock = FakeClock(start=1000.0)
    mine = LearnedParallelism(store, 4, clock, raise_interval=300.0)
    theirs = LearnedParallelism(store, 4, clock, raise_interval=300.0)
    assert await theirs.current() == 4 and theirs.describe() is None
    await mine.refused(running=2)
    assert await theirs.current() == 2 and theirs.limited
    assert theirs.describe() == "MusicGPT took only 2 at once; using 2 of MUSICGPT_MAX_PARALLEL=4"
    clock.advance(300.0)
    await theirs.took(running=2)  # a quiet interval: one more
    await mine.current()
    await mine.took(running=2)  # the same interval, seen from the other process: no more
    assert await mine.current() == await theirs.current() == 3
    await mine.took(running=4)  # more got through than the figure: MusicGPT took that many
    assert await theirs.current() == 4 and not theirs.limited
