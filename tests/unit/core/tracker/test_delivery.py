"""Delivery (`bot/core/tracker/delivery.py`): claims, retries, giving up, an earlier post found."""

from __future__ import annotations

from bot.core.errors import PermanentDeliveryError
from bot.core.models import SubmitReceipt, Task, TaskStatus
from tests.unit.core.tracker.conftest import DONE, Harness, sing


async def test_recovery_finds_an_earlier_post_instead_of_posting_again(
    harness: Harness, store, poster
) -> None:
    created = await store.create_task(sing(), now=1.0, daily_quota=5, max_active=5)
    assert isinstance(created, Task)
    await store.claim_next_queued(1.0)
    await store.mark_submitted(
        created.id, SubmitReceipt("mg-1", ("c1",), 0, 1.0), next_poll_at=1, now=1
    )
    await store.mark_completed(created.id, DONE.outputs, 1.0, 2.0)
    await store.claim_delivery(created.id, 3.0)  # then the process "died"
    poster.existing[created.id] = [4242]

    await harness.tracker.start()
    delivered = await harness.until(created.id, TaskStatus.DELIVERED)
    assert delivered.delivered_message_ids == (4242,)
    assert poster.delivered == []


async def test_delivery_retries_transient_errors(harness: Harness, musicgpt, poster) -> None:
    musicgpt.results = [DONE]
    poster.failures = [RuntimeError("discord 503"), RuntimeError("discord 503")]
    await harness.tracker.start()
    task = await harness.submit(sing())
    delivered = await harness.until(task.id, TaskStatus.DELIVERED)
    assert delivered.delivery_attempts == 3
    assert poster.delivered == [task.id]


async def test_delivery_gives_up_after_its_attempts_and_refunds(
    harness: Harness, musicgpt, poster
) -> None:
    musicgpt.results = [DONE]
    poster.failures = [RuntimeError("discord 503")] * 5
    await harness.tracker.start()
    task = await harness.submit(sing())
    failed = await harness.until(task.id, TaskStatus.FAILED, step=5.0)
    assert "couldn't post it" in (failed.error or "") and failed.quota_refunded
    assert failed.delivery_attempts == 5 and poster.delivered == []


async def test_permanent_delivery_error_fails_and_refunds(harness: Harness, musicgpt, poster):
    musicgpt.results = [DONE]
    poster.failures = [PermanentDeliveryError("I can't post in this channel.")]
    await harness.tracker.start()
    task = await harness.submit(sing())
    failed = await harness.until(task.id, TaskStatus.FAILED)
    assert failed.error == "I can't post in this channel." and failed.quota_refunded
