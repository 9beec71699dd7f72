"""Two stores on one database (two connections, as two processes would have): the claim,
a cancel against a claim, and the quota charge at its limit stay correct with no lock in
the process to help them."""

from __future__ import annotations

import asyncio

from bot.core.models import Output, QuotaRefusal, SubmitReceipt, Task, TaskStatus
from bot.core.store import Store
from tests.unit.core.store.conftest import NOW, Adapter, create, make_request


async def claim_all(store: Store) -> list[int]:
    claimed = []
    while (task := await store.claim_next_queued(NOW)) is not None:
        claimed.append(task.id)
        await asyncio.sleep(0)
    return claimed


async def test_two_claimers_never_take_one_task_twice(adapter: Adapter, store: Store) -> None:
    queued = [(await create(store, user_id=u, active=100)).id for u in range(40)]
    async with adapter.open() as other:
        mine, theirs = await asyncio.gather(claim_all(store), claim_all(other))
    assert not set(mine) & set(theirs)
    assert sorted(mine + theirs) == queued
    assert await store.count_in_flight() == 40


async def test_a_cancel_and_a_claim_on_two_connections_never_both_win(
    adapter: Adapter, store: Store
) -> None:
    tasks = [await create(store, user_id=3, active=100, quota=100) for _ in range(20)]
    async with adapter.open() as other:

        async def cancel(task: Task) -> Task | None:
            return await other.cancel_queued(task.id, 3, NOW)

        claims, *cancels = await asyncio.gather(
            claim_all(store), asyncio.gather(*(cancel(t) for t in tasks))
        )
    claimed, cancelled = set(claims), {t.id for t in cancels[0] if t is not None}
    assert not claimed & cancelled
    assert claimed | cancelled == {t.id for t in tasks}
    for task in tasks:
        final = await store.get_task(task.id)
        assert final is not None
        if task.id in cancelled:
            assert (final.status, final.quota_refunded) == (TaskStatus.CANCELLED, True)
        else:
            assert (final.status, final.quota_refunded) == (TaskStatus.SUBMITTING, False)
    assert (await store.quota_usage(3, NOW)).used_today == len(claimed)


async def test_two_writers_at_the_quota_limit_never_over_charge(
    adapter: Adapter, store: Store
) -> None:
    async with adapter.open() as other:

        async def charge(on: Store) -> Task | QuotaRefusal:
            return await on.create_task(make_request(7), now=NOW, daily_quota=5, max_active=100)

        results = await asyncio.gather(*(charge(s) for _ in range(10) for s in (store, other)))
    created = [r for r in results if isinstance(r, Task)]
    assert len(created) == 5
    assert all(r.limit == "daily" for r in results if isinstance(r, QuotaRefusal))
    assert (await store.quota_usage(7, NOW)).used_today == 5
    assert {t.quota_day for t in created} == {created[0].quota_day}


async def test_two_writers_at_the_active_limit_never_over_admit(
    adapter: Adapter, store: Store
) -> None:
    async with adapter.open() as other:
        results = await asyncio.gather(
            *(
                s.create_task(make_request(8), now=NOW, daily_quota=100, max_active=2)
                for _ in range(6)
                for s in (store, other)
            )
        )
    assert sum(isinstance(r, Task) for r in results) == 2
    assert (await store.quota_usage(8, NOW)).active == 2


async def test_two_deliverers_claim_a_result_once(adapter: Adapter, store: Store) -> None:
    task = await create(store)
    async with adapter.open() as other:
        await store.claim_next_queued(NOW)
        receipt = SubmitReceipt("mg-1", ("c1",), eta_seconds=1, credit_estimate=1.0)
        await store.mark_submitted(task.id, receipt, next_poll_at=NOW, now=NOW)
        outputs = [Output("http://x/a.mp3", "c1", 1.0)]
        completions = await asyncio.gather(
            store.mark_completed(task.id, outputs, 1.0, NOW),
            other.mark_completed(task.id, outputs, 1.0, NOW),
        )
        claims = await asyncio.gather(
            store.claim_delivery(task.id, NOW), other.claim_delivery(task.id, NOW)
        )
    assert sum(c is not None for c in completions) == 1
    assert sum(c is not None for c in claims) == 1
