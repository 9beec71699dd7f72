"""Figure 11: claiming queued songs under contention, on one PostgreSQL database (issue 21).

`python -m bench --only 11`. 1,000 songs are queued through the bot's own `Store`
(`create_task`, as the intake does). Then three processes (`python -m bench.claims URL`),
each with a store of its own (its own connection pool), start together and each runs four
claimers that call `Store.claim_next_queued` (the dispatcher's claim: `FOR UPDATE SKIP
LOCKED`) until the queue is empty. Every claimed id comes back to the bench: no song may be
claimed twice, and every one must be claimed once. Claims per second: 1,000 over the time
from the start signal to the last claimer finding the queue empty. Beside it: one process
with four claimers, on a fresh copy of the same queue.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path

from bench.common import Row, postgres_database
from bot.core.models import Request, Task, TaskKind
from bot.core.store import Store

QUEUED = 1_000
PROCESSES = 3
CLAIMERS = 4  # per process, each awaiting its own claims: the pool's connections contend
LOAD_NOTE = "shared 2-CPU machine, other engineers' tests running"


async def queue_songs(url: str) -> None:
    now = time.time()
    async with Store.open(url) as store:
        for n in range(QUEUED):
            request = Request(
                kind=TaskKind.SING,
                user_id=10_000 + n,
                guild_id=1,
                channel_id=2,
                prompt="warm soul vocal",
                lyrics="la la la",
                audio_url="https://example.com/beat.mp3",
            )
            task = await store.create_task(request, now=now, daily_quota=10, max_active=10)
            assert isinstance(task, Task), task


async def claim_all(url: str) -> None:
    """One claiming process: ready, then on "go" claim until the queue is empty; prints
    the ids it claimed (JSON)."""
    async with Store.open(url, migrate=False) as store:
        await store.get_value("warm-up")  # the pool's first connection, before the signal
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        claimed: list[int] = []

        async def claimer() -> None:
            while (task := await store.claim_next_queued(time.time())) is not None:
                claimed.append(task.id)

        await asyncio.gather(*(claimer() for _ in range(CLAIMERS)))
    print(json.dumps(claimed), flush=True)


async def contend(url: str, processes: int) -> tuple[float, list[list[int]]]:
    """`processes` claiming processes at once; seconds from "go" to the last one done, and
    each one's claimed ids."""
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.claims",
            url,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    for child in children:
        assert child.stdout is not None
        assert (await child.stdout.readline()).strip() == b"ready"
    started = time.perf_counter()
    for child in children:
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        await child.stdin.drain()
    outputs = await asyncio.gather(*(child.communicate() for child in children))
    elapsed = time.perf_counter() - started
    return elapsed, [json.loads(out) for out, _ in outputs]


def _describe(elapsed: float, claimed: list[list[int]]) -> tuple[str, bool]:
    counts = Counter(task_id for ids in claimed for task_id in ids)
    twice = sum(1 for n in counts.values() if n > 1)
    missing = QUEUED - len(counts)
    text = (
        f"{sum(counts.values()):,} claims, {twice} song(s) claimed twice, {missing} never; "
        f"{QUEUED / elapsed:,.0f} claims/s ({elapsed:.2f} s)"
    )
    if len(claimed) > 1:
        text += f"; per process: {', '.join(str(len(ids)) for ids in claimed)}"
    return text, twice == 0 and missing == 0


async def measure(tmp: Path) -> list[Row]:
    async with postgres_database() as template_url:
        await queue_songs(template_url)
        template = template_url.rpartition("/")[2]
        async with postgres_database(template) as url:
            three, ok = _describe(*await contend(url, PROCESSES))
        async with postgres_database(template) as url:
            one, _ = _describe(*await contend(url, 1))
    return [
        Row(
            f"11. Claims under contention ({PROCESSES} processes, {QUEUED:,} queued songs)",
            three,
            "no song claimed twice, none left",
            f"one process: {one}",
            f"{PROCESSES} processes x {CLAIMERS} claimers, each process its own Store (pool), "
            f"Store.claim_next_queued until empty; {LOAD_NOTE}",
            met=ok,
        )
    ]


if __name__ == "__main__":
    asyncio.run(claim_all(sys.argv[1]))
