"""Songs and their quota charges (tasks.py, transitions.py): the atomic charge, the guarded
transitions, cancel. Runs once per adapter (see conftest)."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.models import Output, QuotaRefusal, SubmitReceipt, Task, TaskStatus
from bot.core.store import Store, utc_day
from tests.unit.core.store.conftest import NOW, create, make_request


async def test_twenty_concurrent_reservations_against_quota_of_five(store: Store) -> None:
    results = await asyncio.gather(
        *(
            store.create_task(make_request(7), now=NOW, daily_quota=5, max_active=100)
            for _ in range(20)
        )
    )
    created = [r for r in results if isinstance(r, Task)]
    refused = [r for r in results if isinstance(r, QuotaRefusal)]
    assert len(created) == 5
    assert len(refused) == 15
    assert all(r.limit == "daily" for r in refused)
    assert (await store.quota_usage(7, NOW)).used_today == 5


async def test_active_limit_is_separate_from_daily(store: Store) -> None:
    await create(store, active=2)
    await create(store, active=2)
    refusal = await store.create_task(make_request(), now=NOW, daily_quota=5, max_active=2)
    assert isinstance(refusal, QuotaRefusal)
    assert refusal.limit == "active"
    assert refusal.usage.active == 2


async def test_a_refund_is_given_once(store: Store) -> None:
    task = await create(store, quota=1)
    assert await store.mark_failed(task.id, "no", NOW) is not None
    assert await store.mark_failed(task.id, "no", NOW) is None
    assert await store.cancel_queued(task.id, 1, NOW) is None
    assert (await store.quota_usage(1, NOW)).used_today == 0
    refreshed = await store.get_task(task.id)
    assert refreshed is not None and refreshed.quota_refunded


async def test_quota_resets_on_the_next_utc_day(store: Store) -> None:
    await create(store, quota=1)
    tomorrow = NOW + 86_400
    assert utc_day(tomorrow) != utc_day(NOW)
    assert (await store.quota_usage(1, tomorrow)).used_today == 0


async def test_full_lifecycle_and_guarded_transitions(store: Store) -> None:
    task = await create(store)
    assert task.status is TaskStatus.QUEUED
    assert await store.queue_position(task.id) == 1

    claimed = await store.claim_next_queued(NOW)
    assert claimed is not None and claimed.status is TaskStatus.SUBMITTING
    assert await store.claim_next_queued(NOW) is None
    assert await store.count_in_flight() == 1

    receipt = SubmitReceipt("mg-1", ("c1", "c2"), eta_seconds=40, credit_estimate=45.0)
    submitted = await store.mark_submitted(task.id, receipt, next_poll_at=NOW + 40, now=NOW)
    assert submitted is not None
    assert submitted.conversion_ids == ("c1", "c2")
    assert submitted.musicgpt_task_id == "mg-1" and submitted.next_poll_at == NOW + 40
    assert await store.polls_due(NOW + 40, 5) == [submitted]
    assert await store.polls_due(NOW + 39, 5) == []
    assert await store.next_poll_at() == NOW + 40
    assert await store.next_poll_at(skip=[task.id]) is None

    outputs = [Output("http://x/a.mp3", "c1", 10.0, "A"), Output("http://x/b.mp3", "c2", 11.0)]
    completed = await store.mark_completed(task.id, outputs, cost=1.25, now=NOW + 50)
    assert completed is not None and completed.outputs == tuple(outputs)
    # A second completion (the other webhook, a poll) changes nothing.
    assert await store.mark_completed(task.id, outputs, cost=1.25, now=NOW + 51) is None

    assert await store.claim_delivery(task.id, NOW + 52) is not None
    assert await store.claim_delivery(task.id, NOW + 52) is None
    delivered = await store.mark_delivered(task.id, [111, 222], NOW + 53)
    assert delivered is not None and delivered.delivered_message_ids == (111, 222)
    # A finished task can no longer fail or be refunded through failure.
    assert await store.mark_failed(task.id, "late", NOW + 54) is None
    assert (await store.quota_usage(1, NOW)).used_today == 1


async def test_failure_refunds_in_the_same_step(store: Store) -> None:
    task = await create(store)
    failed = await store.mark_failed(task.id, "MusicGPT said no", NOW)
    assert failed is not None
    assert failed.status is TaskStatus.FAILED and failed.quota_refunded
    assert failed.error == "MusicGPT said no"
    assert (await store.quota_usage(1, NOW)).used_today == 0


async def test_queue_positions_follow_creation_order(store: Store) -> None:
    first, second, third = [await create(store, user_id=u) for u in (1, 2, 3)]
    assert [await store.queue_position(t.id) for t in (first, second, third)] == [1, 2, 3]
    await store.claim_next_queued(NOW)
    assert [await store.queue_position(t.id) for t in (first, second, third)] == [0, 1, 2]


# --- Cancel ------------------------------------------------------------------------------


async def test_the_requester_cancels_a_queued_task_and_gets_the_song_back(store: Store) -> None:
    task = await store.create_task(
        make_request(3), now=NOW, daily_quota=1, max_active=5, audio_path="/spool/a.mp3"
    )
    assert isinstance(task, Task)
    assert (await store.quota_usage(3, NOW)).used_today == 1
    before = await store.cancel_queued(task.id, 3, NOW + 1)
    assert before is not None and before.audio_path == "/spool/a.mp3"  # for the caller to remove
    after = await store.get_task(task.id)
    assert after is not None
    assert (after.status, after.audio_path, after.quota_refunded) == (
        TaskStatus.CANCELLED,
        None,
        True,
    )
    usage = await store.quota_usage(3, NOW)
    assert (usage.used_today, usage.active) == (0, 0)
    # Refunded: a daily quota of 1 takes the next one.
    assert isinstance(
        await store.create_task(make_request(3), now=NOW, daily_quota=1, max_active=5), Task
    )
    assert await store.cancel_queued(task.id, 3, NOW + 2) is None  # once


async def test_only_the_requester_cancels_and_only_while_queued(store: Store) -> None:
    task = await create(store, user_id=3)
    assert await store.cancel_queued(task.id, 4, NOW) is None
    assert (await store.get_task(task.id)).status is TaskStatus.QUEUED  # type: ignore[union-attr]
    claimed = await store.claim_next_queued(NOW)
    assert claimed is not None and claimed.id == task.id
    assert await store.cancel_queued(task.id, 3, NOW) is None
    still = await store.get_task(task.id)
    assert still is not None and still.status is TaskStatus.SUBMITTING
    assert not still.quota_refunded


@pytest.mark.parametrize("cancel_first", [True, False])
async def test_a_cancel_and_a_claim_at_the_same_moment_never_both_win(
    store: Store, cancel_first: bool
) -> None:
    task = await create(store, user_id=3)
    cancel = store.cancel_queued(task.id, 3, NOW)
    claim = store.claim_next_queued(NOW)
    if cancel_first:
        cancelled, claimed = await asyncio.gather(cancel, claim)
    else:
        claimed, cancelled = await asyncio.gather(claim, cancel)
    assert (cancelled is None) != (claimed is None)
    final = await store.get_task(task.id)
    assert final is not None
    expected = TaskStatus.CANCELLED if cancelled else TaskStatus.SUBMITTING
    assert final.status is expected
    assert final.quota_refunded is (cancelled is not None)


async def test_a_webhook_is_noted_only_for_its_own_musicgpt_task(store: Store) -> None:
    task = await create(store)
    await store.claim_next_queued(NOW)
    assert await store.note_webhook(task.id, None, NOW)  # the submit hasn't answered yet
    receipt = SubmitReceipt("mg-1", ("c1",), eta_seconds=1, credit_estimate=1.0)
    await store.mark_submitted(task.id, receipt, next_poll_at=NOW + 60, now=NOW)
    assert not await store.note_webhook(task.id, "mg-other", NOW + 1)
    assert await store.note_webhook(task.id, "mg-1", NOW + 2)
    assert await store.note_webhook(task.id, None, NOW + 3)
    noted = await store.get_task(task.id)
    assert noted is not None and noted.webhook_seen and noted.next_poll_at == NOW + 3


async def test_counts_requeue_polls_and_a_released_delivery(store: Store) -> None:
    first, second = await create(store), await create(store, user_id=2)
    assert (await store.count_queued(), await store.count_submitted()) == (2, 0)
    claimed = await store.claim_next_queued(NOW)
    assert claimed is not None and claimed.id == first.id
    assert await store.requeue(first.id, NOW) is not None  # back at the head of the queue
    assert [t.id for t in await store.unfinished_tasks()] == [first.id, second.id]
    again = await store.claim_next_queued(NOW)
    assert again is not None and again.id == first.id
    receipt = SubmitReceipt("mg-1", ("c1",), eta_seconds=1, credit_estimate=1.0)
    await store.mark_submitted(first.id, receipt, next_poll_at=NOW, now=NOW)
    await store.schedule_poll(first.id, at=NOW + 5, polled=True, now=NOW)
    polled = await store.get_task(first.id)
    assert polled is not None and (polled.poll_count, polled.next_poll_at) == (1, NOW + 5)
    assert await store.count_submitted() == 1
    await store.mark_completed(first.id, [], None, NOW)
    assert await store.claim_delivery(first.id, NOW) is not None
    released = await store.release_delivery(first.id, NOW)
    assert released is not None and released.status is TaskStatus.COMPLETED
