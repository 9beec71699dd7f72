"""Claims under leases, and MUSICGPT_MAX_PARALLEL held by the claim, with two stores on one
database (two connections, or two pools on PostgreSQL, as two processes would have)."""

from __future__ import annotations

import asyncio
import math

from bot.core.models import Output, SubmitReceipt, Task, TaskStatus
from bot.core.store import Lease, Store
from tests.unit.core.store.conftest import NOW, Adapter, create

LEASE = 15.0


def held_by(holder: str, at: float = NOW) -> Lease:
    return Lease(holder, at + LEASE)


async def queue(store: Store, count: int) -> list[int]:
    return [(await create(store, user_id=u, active=100)).id for u in range(count)]


async def claim_many(store: Store, holder: str, limit: int, tries: int) -> list[int]:
    """`tries` claims at once from one store (on PostgreSQL, each on its own connection)."""
    claims = await asyncio.gather(
        *(store.claim_next_queued(NOW, lease=held_by(holder), limit=limit) for _ in range(tries))
    )
    return [task.id for task in claims if task is not None]


async def test_two_processes_claiming_at_once_never_exceed_the_limit_together(
    adapter: Adapter, store: Store
) -> None:
    queued = await queue(store, 30)
    async with adapter.open() as other:
        claimed: list[int] = []
        for _ in range(10):
            mine, theirs = await asyncio.gather(
                claim_many(store, "a", limit=2, tries=8),
                claim_many(other, "b", limit=2, tries=8),
            )
            claimed += mine + theirs
            assert await store.count_in_flight() <= 2
            assert len(claimed) == len(set(claimed))  # never one task twice
            # MusicGPT finishes one of them: one slot frees, and the race starts again.
            in_flight = [
                t for t in await store.unfinished_tasks() if t.status.value == "submitting"
            ]
            await store.mark_failed(in_flight[0].id, "done", NOW)
    assert len(claimed) == 2 + 9  # the first round fills both slots, each later one refills one
    assert sorted(claimed) == queued[: len(claimed)]  # in the queue's order


async def test_submitted_tasks_count_against_the_limit(store: Store) -> None:
    first, second = await queue(store, 2)
    await store.claim_next_queued(NOW, lease=held_by("a"), limit=1)
    receipt = SubmitReceipt("mg-1", ("c1",), eta_seconds=1, credit_estimate=1.0)
    await store.mark_submitted(first, receipt, next_poll_at=NOW, now=NOW)
    assert await store.claim_next_queued(NOW, lease=held_by("a"), limit=1) is None
    claimed = await store.claim_next_queued(NOW, lease=held_by("a"), limit=2)
    assert claimed is not None and claimed.id == second


async def test_a_live_lease_is_not_taken_and_an_expired_one_is_taken_once(
    adapter: Adapter, store: Store
) -> None:
    [task_id] = await queue(store, 1)
    await store.claim_next_queued(NOW, lease=held_by("a"), limit=5)
    async with adapter.open() as b, adapter.open() as c:
        soon = NOW + LEASE - 1
        assert await b.take_expired_claims(held_by("b", soon), soon, expired_before=soon) == []

        later = NOW + LEASE + 1
        takes = await asyncio.gather(
            b.take_expired_claims(held_by("b", later), later, expired_before=later),
            c.take_expired_claims(held_by("c", later), later, expired_before=later),
        )
        assert sorted(len(t) for t in takes) == [0, 1]
        [taken] = takes[0] or takes[1]
        assert taken.id == task_id and taken.status is TaskStatus.SUBMITTING
        taker = "b" if takes[0] else "c"
        # The claim is the taker's now: the dead holder's renewal no longer reaches it.
        assert await store.renew_leases(held_by("a", later), [task_id]) == 0
        assert await b.renew_leases(held_by(taker, later), [task_id]) == 1


async def test_a_takeover_never_fails_a_submit_its_slow_holder_recorded(
    adapter: Adapter, store: Store
) -> None:
    recorded, failed = await queue(store, 2)
    for _ in range(2):
        await store.claim_next_queued(NOW, lease=held_by("slow"))
    later = NOW + LEASE + 1
    async with adapter.open() as taker:
        taken = await taker.take_expired_claims(held_by("b", later), later, expired_before=later)
        assert [t.id for t in taken] == [recorded, failed]
        # The holder was slow, not gone: MusicGPT's answer comes in before the taker acts.
        receipt = SubmitReceipt("mg-slow", ("c1",), eta_seconds=1, credit_estimate=1.0)
        assert await store.mark_submitted(recorded, receipt, next_poll_at=later, now=later)
        assert await taker.mark_failed(recorded, "gone?", later, mid_submit_of="b") is None
        # And the other order: the taker first; the late answer changes nothing.
        assert await taker.mark_failed(failed, "gone?", later, mid_submit_of="b") is not None
        late = SubmitReceipt("mg-late", ("c2",), eta_seconds=1, credit_estimate=1.0)
        assert await store.mark_submitted(failed, late, next_poll_at=later, now=later) is None
    kept, refunded = await store.get_task(recorded), await store.get_task(failed)
    assert kept is not None and (kept.status, kept.quota_refunded) == (TaskStatus.SUBMITTED, False)
    assert refunded is not None and (refunded.status, refunded.quota_refunded) == (
        TaskStatus.FAILED,
        True,
    )


async def test_a_renewed_lease_outlives_its_first_term(adapter: Adapter, store: Store) -> None:
    [task_id] = await queue(store, 1)
    await store.claim_next_queued(NOW, lease=held_by("a"), limit=5)
    renewed_at = NOW + LEASE - 5
    assert await store.renew_leases(held_by("a", renewed_at), [task_id]) == 1
    async with adapter.open() as other:
        past_first_term = NOW + LEASE + 1
        assert (
            await other.take_expired_claims(
                held_by("b", past_first_term), past_first_term, expired_before=past_first_term
            )
            == []
        )
        past_renewal = renewed_at + LEASE + 1
        taken = await other.take_expired_claims(
            held_by("b", past_renewal), past_renewal, expired_before=past_renewal
        )
    assert [t.id for t in taken] == [task_id]


async def test_two_sweepers_split_many_expired_claims_without_overlap(
    adapter: Adapter, store: Store
) -> None:
    queued = await queue(store, 20)
    for _ in queued:
        await store.claim_next_queued(NOW, lease=held_by("dead"))
    later = NOW + LEASE + 1
    async with adapter.open() as other:
        mine, theirs = await asyncio.gather(
            store.take_expired_claims(held_by("a", later), later, expired_before=later),
            other.take_expired_claims(held_by("b", later), later, expired_before=later),
        )
    ids = [t.id for t in mine + theirs]
    assert sorted(ids) == queued


async def test_an_expired_delivery_comes_back_completed_for_the_taker_to_claim(
    store: Store,
) -> None:
    task = await delivering(store, lease=held_by("dead"))
    later = NOW + LEASE + 1
    [taken] = await store.take_expired_claims(held_by("b", later), later, expired_before=later)
    assert taken.status is TaskStatus.COMPLETED and taken.delivery_attempts == 1
    again = await store.claim_delivery(task.id, later, lease=held_by("b", later))
    # A second attempt: the poster looks for what the dead run may have posted first.
    assert again is not None and again.delivery_attempts == 2


async def test_a_claim_without_a_lease_is_taken_at_once_and_every_claim_at_start_up(
    store: Store,
) -> None:
    unheld, live = await queue(store, 2)
    await store.claim_next_queued(NOW)  # no lease: as written before migration 0011
    await store.claim_next_queued(NOW, lease=held_by("alive"))
    taken = await store.take_expired_claims(held_by("b"), NOW, expired_before=NOW)
    assert [t.id for t in taken] == [unheld]
    # A start-up on a database no other process uses takes every claim.
    taken = await store.take_expired_claims(held_by("b"), NOW, expired_before=math.inf)
    assert [t.id for t in taken] == [unheld, live]


async def test_steps_out_of_a_claim_leave_nothing_to_take_over(store: Store) -> None:
    delivered = await delivering(store, lease=held_by("a"))
    await store.mark_delivered(delivered.id, [1], NOW)
    requeued, submitted = await queue(store, 2)
    for _ in range(2):
        await store.claim_next_queued(NOW, lease=held_by("a"))
    await store.requeue(requeued, NOW)
    receipt = SubmitReceipt("mg-submitted", ("c1",), eta_seconds=1, credit_estimate=1.0)
    await store.mark_submitted(submitted, receipt, next_poll_at=NOW, now=NOW)
    assert await store.take_expired_claims(held_by("b"), NOW, expired_before=math.inf) == []


async def test_a_dm_copy_claim_is_held_and_taken_over_like_a_delivery(
    adapter: Adapter, store: Store
) -> None:
    await store.set_dm_copies(99, True, NOW)
    task = await delivering(store, lease=held_by("a"))
    recorded = await store.mark_delivered(task.id, [1], NOW)
    assert recorded is not None and recorded.dm_state == "pending"
    assert await store.claim_copy(task.id, NOW, lease=held_by("a"))
    async with adapter.open() as other:
        soon = NOW + LEASE - 1
        assert await other.take_expired_claims(held_by("b", soon), soon, expired_before=soon) == []
        later = NOW + LEASE + 1
        [taken] = await other.take_expired_claims(held_by("b", later), later, expired_before=later)
        assert (taken.status, taken.dm_state) == (TaskStatus.DELIVERED, "pending")
        again = await other.claim_copy(task.id, later, lease=held_by("b", later))
    # A second attempt: the sender looks for the DM the dead run may have sent first.
    assert again is not None and again.dm_attempts == 2
    await store.record_copy(task.id, "sent", 7, later)
    assert await store.take_expired_claims(held_by("c"), NOW, expired_before=math.inf) == []


async def test_one_process_at_a_time_has_a_turn(adapter: Adapter, store: Store) -> None:
    async with adapter.open() as other:
        async with (
            store.exclusively("evict") as first,
            other.exclusively("evict") as second,
            other.exclusively("another job") as unrelated,
        ):
            assert (first, unrelated) == (True, True)
            # SQLite is one process: its turn is always its own.
            assert second is (adapter.name == "sqlite")
        async with other.exclusively("evict") as after:
            assert after


async def delivering(store: Store, *, lease: Lease) -> Task:
    """A task MusicGPT finished, claimed for delivery under `lease`."""
    task = await create(store, user_id=99, active=100)
    await store.claim_next_queued(NOW, lease=lease)
    receipt = SubmitReceipt(f"mg-{task.id}", ("c1",), eta_seconds=1, credit_estimate=1.0)
    await store.mark_submitted(task.id, receipt, next_poll_at=NOW, now=NOW)
    await store.mark_completed(task.id, [Output("http://x/a.mp3", "c1", 1.0)], 1.0, NOW)
    claimed = await store.claim_delivery(task.id, NOW, lease=lease)
    assert claimed is not None
    return claimed
