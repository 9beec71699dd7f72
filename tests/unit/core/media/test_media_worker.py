"""The bounded worker: each limit stops a job, and jobs queue per member and overall."""

from __future__ import annotations

import asyncio
import os

import pytest

from bot.core.media.worker import Limits, MediaWorker, WorkerFailed
from tests.support import worker_jobs

MIB = 1024 * 1024
ROOMY = Limits(cpu_seconds=5, wall_seconds=20, memory_bytes=256 * MIB)


async def failure(worker: MediaWorker, fn: object, args: tuple, limits: Limits) -> WorkerFailed:
    with pytest.raises(WorkerFailed) as info:
        async with worker.turn(1):
            await worker.call(fn, args, limits)  # type: ignore[arg-type]
    return info.value


async def test_returns_what_the_job_returned(worker: MediaWorker) -> None:
    async with worker.turn(1):
        assert await worker.call(worker_jobs.echo, ({"a": [1, 2]},), ROOMY) == {"a": [1, 2]}
        # The job ran in another process.
        assert await worker.call(os.getpid, (), ROOMY) != os.getpid()


async def test_results_come_back_as_json_not_pickles(worker: MediaWorker) -> None:
    async with worker.turn(1):
        # A dataclass travels as its fields and is rebuilt by the caller.
        assert await worker.call(worker_jobs.point, (), ROOMY, worker_jobs.Point) == (
            worker_jobs.Point(3, "z")
        )
    # What JSON can't carry is a bug in the job, not something to unpickle.
    assert (await failure(worker, worker_jobs.a_set, (), ROOMY)).kind == "error"
    # And the parent reads at most 1 MB of it.
    failed = await failure(worker, worker_jobs.huge, (), ROOMY)
    assert failed.kind == "crash" and "unreadable result" in failed.detail


async def test_cpu_limit_stops_a_spinning_job(worker: MediaWorker) -> None:
    limits = Limits(cpu_seconds=1, wall_seconds=30, memory_bytes=256 * MIB)
    assert (await failure(worker, worker_jobs.spin, (), limits)).kind == "cpu"


async def test_memory_limit_stops_a_hungry_job(worker: MediaWorker) -> None:
    limits = Limits(cpu_seconds=5, wall_seconds=30, memory_bytes=128 * MIB)
    assert (await failure(worker, worker_jobs.hog, (), limits)).kind == "memory"


async def test_wall_clock_bound_kills_a_stuck_job(worker: MediaWorker) -> None:
    limits = Limits(cpu_seconds=5, wall_seconds=0.5, memory_bytes=256 * MIB)
    assert (await failure(worker, worker_jobs.nap, (60,), limits)).kind == "wall"
    assert worker._running == set()  # killed and reaped, not left behind


async def test_a_bug_in_a_job_is_reported_with_its_traceback(worker: MediaWorker) -> None:
    failed = await failure(worker, worker_jobs.fail, (), ROOMY)
    assert failed.kind == "error" and "ValueError: a bug in a job" in failed.detail


async def test_close_kills_running_jobs() -> None:
    worker = MediaWorker()
    async with worker.turn(1):
        job = asyncio.create_task(worker.call(worker_jobs.nap, (60,), ROOMY))
        while not worker._running:
            await asyncio.sleep(0.01)
        await worker.close()
        with pytest.raises(WorkerFailed):
            await job
    with pytest.raises(RuntimeError, match="closed"):
        await worker.call(worker_jobs.echo, (1,), ROOMY)


async def test_one_job_per_member_and_two_overall() -> None:
    worker = MediaWorker(slots=2)
    inside: list[int] = []
    most = 0
    release = asyncio.Event()

    async def job(member: int) -> None:
        nonlocal most
        async with worker.turn(member):
            inside.append(member)
            most = max(most, len(inside))
            await release.wait()
            inside.remove(member)

    jobs = [asyncio.create_task(job(m)) for m in (1, 1, 2, 3)]
    for _ in range(10):
        await asyncio.sleep(0)
    # Member 1's second upload waits for the first; member 3 waits for a slot.
    assert sorted(inside) == [1, 2]
    release.set()
    await asyncio.gather(*jobs)
    assert most == 2 and inside == []
    assert worker._members == {}  # nothing kept per member once they're done


async def test_a_job_cancelled_while_starting_leaves_the_next_ones_whole(
    worker: MediaWorker,
) -> None:
    # A replaced form cancels its check at any moment, often while `process.start()` is still
    # handing the pipe to the forkserver in a thread. Closing the pipe under it gave the
    # child a dead (or reused) descriptor, and a later job's verdict went missing.
    cancelled = 0
    for delay in [ms / 1000 for ms in range(30)]:  # cancels at every stage of a call
        job = asyncio.create_task(worker.call(worker_jobs.echo, ("gone",), ROOMY))
        await asyncio.sleep(delay)
        job.cancel()
        try:
            await job  # a long delay may let it finish first: that's fine too
        except asyncio.CancelledError:
            cancelled += 1
        async with worker.turn(1):
            assert await worker.call(worker_jobs.echo, (delay,), ROOMY) == delay
    assert cancelled >= 6  # the early cancels at least
    assert worker._running == set()
