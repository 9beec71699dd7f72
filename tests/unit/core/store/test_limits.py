"""MusicGPT's limits in the database (`bot/core/store/limits.py`), shared by two stores on one
database as two processes would share them: the poll budget's spacing holds over both, a
poll's task is claimed by one of them, and what one learns the other reads."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools

from bot.core.models import SubmitReceipt
from bot.core.store import Store
from bot.core.store.limits import PARALLEL, POLLS, SharedLimit, Spend
from tests.unit.core.store.conftest import NOW, Adapter, create

SPACING = 3.0  # 20 a minute


async def due(store: Store, n: int) -> list[int]:
    """`n` tasks at MusicGPT, due for a poll at NOW."""
    ids = []
    for user in range(n):
        task = await create(store, user_id=user)
        assert await store.claim_next_queued(NOW) is not None
        receipt = SubmitReceipt(f"mg-{task.id}", ("c",), 60, 1.0)
        await store.mark_submitted(task.id, receipt, next_poll_at=NOW, now=NOW)
        ids.append(task.id)
    return ids


def spend_at(now: float) -> Spend:
    def spend(limit: SharedLimit) -> SharedLimit | None:
        if limit.next_allowed > now:
            return None
        return dataclasses.replace(limit, next_allowed=max(limit.next_allowed, now) + SPACING)

    return spend


async def test_two_stores_spending_the_poll_budget_at_once_keep_its_spacing(
    adapter: Adapter, store: Store
) -> None:
    tasks = await due(store, 40)
    granted: list[tuple[float, int]] = []

    async def poller(on: Store, now: float) -> None:
        # Every due task tried at once, as a poller woken with a full page of due tasks.
        results = await asyncio.gather(
            *(on.claim_poll(t, now=now, until=now + 1000, spend=spend_at(now)) for t in tasks)
        )
        granted.extend((now, task.id) for task, _ in results if task is not None)

    async with adapter.open() as other:
        for second in range(60):  # a minute, both "processes" trying every second
            now = NOW + second
            await asyncio.gather(poller(store, now), poller(other, now))
    times = sorted(t for t, _ in granted)
    assert len(times) == 20  # 60 s at one per 3 s, over both together
    assert all(later - earlier >= SPACING for earlier, later in itertools.pairwise(times))
    assert len({task for _, task in granted}) == 20  # no task claimed twice
    assert (await store.shared_limit(POLLS)).next_allowed == NOW + 60


async def test_a_claim_that_loses_the_task_spends_nothing(adapter: Adapter, store: Store) -> None:
    [task] = await due(store, 1)
    async with adapter.open() as other:
        won, _ = await store.claim_poll(task, now=NOW, until=NOW + 120, spend=spend_at(NOW))
        later = NOW + SPACING
        lost, budget = await other.claim_poll(task, now=later, until=later, spend=spend_at(later))
    assert won is not None and won.next_poll_at == NOW + 120
    assert lost is None and budget.next_allowed == NOW + SPACING  # not pushed on


async def test_concurrent_changes_over_two_stores_lose_none(adapter: Adapter, store: Store) -> None:
    def one_more(limit: SharedLimit) -> SharedLimit:
        return dataclasses.replace(limit, learned=(limit.learned or 0) + 1)

    async with adapter.open() as other:
        await asyncio.gather(
            *(s.change_limit(PARALLEL, one_more) for _ in range(15) for s in (store, other))
        )
        assert (await other.shared_limit(PARALLEL)).learned == 30


async def test_what_one_store_learns_the_other_reads(adapter: Adapter, store: Store) -> None:
    assert await store.shared_limit(POLLS) == SharedLimit(POLLS)  # nothing learned yet
    async with adapter.open() as other:
        await store.change_limit(
            POLLS, lambda limit: dataclasses.replace(limit, learned=10.0, changed_at=NOW)
        )
        seen = await other.shared_limit(POLLS)
    assert (seen.learned, seen.changed_at) == (10.0, NOW)
