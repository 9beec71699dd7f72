"""The tracker's facade (`bot/core/tracker/__init__.py`): a request's whole way, submit and its
quota, webhooks, recovery at start, the key check, stop."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.core.models import (
    ConversionResult,
    ConversionStatus,
    QuotaLimits,
    QuotaRefusal,
    Task,
    TaskStatus,
)
from bot.core.musicgpt.client import KeyCheck
from bot.core.store import Store
from tests.unit.conftest import FakeClock, drive
from tests.unit.core.tracker.conftest import DONE, FakeMusicGPT, Harness, sing


async def test_request_travels_to_delivery_exactly_once(harness: Harness, musicgpt, poster):
    musicgpt.results = [ConversionResult(ConversionStatus.IN_PROGRESS), DONE]
    await harness.tracker.start()
    task = await harness.submit(sing())
    delivered = await harness.until(task.id, TaskStatus.DELIVERED)
    assert delivered.delivered_message_ids == (1000 + task.id,)
    assert poster.delivered == [task.id]
    assert musicgpt.submits[0]["prompt"] == "piano ballad"
    assert musicgpt.submits[0]["webhook_url"] is None
    assert len(musicgpt.polls) == 2
    # A late duplicate (a second webhook, a slow poll) changes nothing and starts nothing.
    assert await harness.tracker.apply_update(task.id, DONE) is None
    assert harness.tracker.delivery.active == set()
    assert poster.delivered == [task.id]


async def test_a_request_past_the_quota_is_refused_and_not_queued(
    make_harness, store, musicgpt
) -> None:
    musicgpt.release_submit.clear()
    h = make_harness()
    await h.tracker.start()
    limits = QuotaLimits(daily=1, active=5)
    first = await h.tracker.submit(sing(), limits=limits, audio_duration=None)
    second = await h.tracker.submit(sing(), limits=limits, audio_duration=None)
    assert isinstance(first, Task)
    assert second == QuotaRefusal("daily", second.usage) and second.usage.used_today == 1
    assert [t.id for t in await store.unfinished_tasks()] == [first.id]


async def test_webhook_before_submit_answer_triggers_immediate_poll(
    make_harness, store, musicgpt, clock
) -> None:
    musicgpt.results = [DONE]
    musicgpt.release_submit.clear()
    # With webhooks on, the first poll would wait for the grace period: only the webhook
    # can make it happen now.
    h = make_harness(webhook_base_url="https://bot/hook/s")
    await h.tracker.start()
    task = await h.submit(sing())

    async def sending() -> bool:
        return musicgpt.in_flight == 1

    await drive(clock, sending)
    assert (await store.get_task(task.id)).status is TaskStatus.SUBMITTING
    await h.tracker.handle_webhook(task.id, {"task_id": "mg-1", "status": "COMPLETED"})
    musicgpt.release_submit.set()
    await h.until(task.id, TaskStatus.DELIVERED, step=0.1)
    assert musicgpt.submits[0]["webhook_url"] == f"https://bot/hook/s/{task.id}"
    assert len(musicgpt.polls) == 1
    assert clock.now() - task.created_at < 30  # well before the grace period ran out


async def test_webhook_naming_another_task_is_ignored(make_harness, store, musicgpt, clock) -> None:
    h = make_harness(webhook_base_url="https://bot/hook/s")
    await h.tracker.start()
    task = await h.submit(sing())
    await h.until(task.id, TaskStatus.SUBMITTED)
    await h.tracker.handle_webhook(task.id, {"task_id": "someone-else", "status": "COMPLETED"})
    await h.tracker.handle_webhook(task.id, {"subtype": "lyrics_timestamped"})
    stored = await store.get_task(task.id)
    assert stored is not None and not stored.webhook_seen
    assert musicgpt.polls == []


async def test_recovery_fails_and_refunds_a_submit_cut_short(harness: Harness, store, musicgpt):
    created = await store.create_task(sing(), now=1.0, daily_quota=5, max_active=5)
    assert isinstance(created, Task)
    await store.claim_next_queued(1.0)
    await harness.tracker.start()
    failed = await harness.until(created.id, TaskStatus.FAILED)
    assert failed.quota_refunded and "restarted" in (failed.error or "")
    assert musicgpt.submits == []


@pytest.mark.parametrize(
    ("verdict", "accepted", "line"),
    [
        (
            KeyCheck(False, 401, "HTTP 401"),
            False,
            "MUSICGPT_API_KEY was refused by MusicGPT (HTTP 401): check the key",
        ),
        (
            KeyCheck(None, None, "could not connect (ClientConnectorError)"),
            None,
            "MusicGPT isn't answering (could not connect (ClientConnectorError)): until it does",
        ),
        (
            KeyCheck(None, 503, "HTTP 503"),
            None,
            "MusicGPT isn't answering (HTTP 503): until it does, songs asked for fail with",
        ),
        (
            KeyCheck(None, 429, "HTTP 429"),
            None,
            "couldn't check MUSICGPT_API_KEY: MusicGPT is busy (HTTP 429); songs wait in the queue",
        ),
        (KeyCheck(True, 404, "HTTP 404"), True, None),
    ],
)
async def test_the_key_is_checked_once_at_start(
    make_harness, musicgpt: FakeMusicGPT, caplog, verdict, accepted, line
) -> None:
    musicgpt.key_verdict = verdict
    h = make_harness()
    with caplog.at_level(logging.INFO, logger="bot"):
        await h.tracker.start()
    assert musicgpt.key_checks == 1 and h.tracker.health.key_accepted is accepted
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    if line is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warnings[0].startswith(line)
    # What the "ready" line adds: only for a MusicGPT that gave no useful answer.
    silent = verdict.accepted is None and verdict.status != 429
    assert (
        (h.tracker.musicgpt_silent == verdict.reason)
        if silent
        else h.tracker.musicgpt_silent is None
    )


async def _submitting(harness: Harness, musicgpt: FakeMusicGPT) -> Task:
    """A request whose upload to MusicGPT has started and is held there."""
    musicgpt.release_submit.clear()
    await harness.tracker.start()
    task = await harness.submit(sing())
    await harness.until(task.id, TaskStatus.SUBMITTING)
    for _ in range(100):  # the submit job reaches the (held) upload
        if musicgpt.in_flight:
            break
        await asyncio.sleep(0)
    assert musicgpt.in_flight == 1
    return task


async def test_stop_lets_an_upload_under_way_finish_and_sends_nothing_new(
    harness: Harness, store: Store, musicgpt: FakeMusicGPT, clock: FakeClock
) -> None:
    uploading = await _submitting(harness, musicgpt)
    waiting = await harness.submit(sing(user_id=2))  # queued behind it (max_parallel 1)
    stopping = asyncio.create_task(harness.tracker.stop(grace=20))
    clock.advance(19)
    for _ in range(20):
        await asyncio.sleep(0)
    assert not stopping.done()  # still within the grace: waiting for the upload
    musicgpt.release_submit.set()
    await asyncio.wait_for(stopping, 5)
    sent = await store.get_task(uploading.id)
    assert sent is not None and sent.status is TaskStatus.SUBMITTED
    assert sent.musicgpt_task_id == "mg-1"
    # The slot it freed was not used: the next start sends the queued one.
    still = await store.get_task(waiting.id)
    assert still is not None and still.status is TaskStatus.QUEUED
    assert len(musicgpt.submits) == 1


async def test_stop_gives_up_on_an_upload_after_the_grace(
    harness: Harness, store: Store, musicgpt: FakeMusicGPT, clock: FakeClock
) -> None:
    uploading = await _submitting(harness, musicgpt)
    stopping = asyncio.create_task(harness.tracker.stop(grace=20))

    async def stopped() -> bool:
        return stopping.done()

    # The grace passes once the stop waits on it (its loops, cancelled first, may take a few
    # turns of aiosqlite's thread to end): the clock moves a grace at a time until then.
    await drive(clock, stopped, step=20.0, turns=200)
    await stopping
    assert musicgpt.in_flight == 0  # cancelled
    task = await store.get_task(uploading.id)
    assert task is not None and task.status is TaskStatus.SUBMITTING  # the next start decides
    assert musicgpt.submits == []


async def test_readyz_and_metrics_show_what_another_process_learned(make_harness) -> None:
    """Two trackers on one database, as two processes: /readyz and /metrics of the second
    report the figures the first learned from MusicGPT's 429s, the ones both now use."""
    learner = make_harness(musicgpt_max_parallel=4, musicgpt_polls_per_minute=20).tracker
    reporter = make_harness(musicgpt_max_parallel=4, musicgpt_polls_per_minute=20).tracker
    await learner.dispatcher.parallelism.refused(running=2)
    await learner.poller.budget.limited(retry_after=None)
    limits = await reporter.musicgpt_limits()
    assert limits["musicgpt_parallel"] == {
        "using": 2,
        "configured": 4,
        "learned": "MusicGPT took only 2 at once; using 2 of MUSICGPT_MAX_PARALLEL=4",
    }
    assert limits["musicgpt_polls_per_minute"] == {
        "using": 10,
        "configured": 20,
        "learned": (
            "MusicGPT limited status checks; polling at 10 a minute of MUSICGPT_POLLS_PER_MINUTE=20"
        ),
    }
    readings = await reporter.readings()
    assert (readings.parallel, readings.polls_per_minute) == (2, 10)
