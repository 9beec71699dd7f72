"""The dispatcher (`bot/core/tracker/dispatch.py`): each kind's endpoint, the queue's order and
limit, refusals, 429s and 409s on submit."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from bot.core.errors import MusicGPTSubmitConflict, MusicGPTValidationError
from bot.core.models import AudioSource, Request, Task, TaskKind, TaskStatus
from bot.core.store import Store
from bot.core.tracker import Tracker
from bot.core.tracker.dispatch import send_task
from tests.unit.conftest import FakeClock, drive
from tests.unit.core.tracker.conftest import (
    DONE,
    SETTINGS,
    BusyMusicGPT,
    FakeMusicGPT,
    FakePoster,
    Harness,
    named,
    sing,
)


async def test_each_kind_is_submitted_by_its_own_endpoint(musicgpt: FakeMusicGPT) -> None:
    # A Task as the store hands it back (the store's `kind` check learns "extend" apart).
    base = _a_task(TaskKind.SING, lyrics="la la")
    extend = dataclasses.replace(
        base, kind=TaskKind.EXTEND, lyrics="the next verse", replace_start=75.5, prompt="folk"
    )
    inpaint = dataclasses.replace(base, kind=TaskKind.INPAINT, replace_start=1.0, replace_end=2.0)

    for task in (base, inpaint, extend):
        await send_task(musicgpt, task, "https://bot.example/hooks/7")

    assert [s["kind"] for s in musicgpt.submits] == ["sing", "inpaint", "extend"]
    assert musicgpt.submits[2] == {
        "kind": "extend",
        "prompt": "folk",
        "extend_after": 75.5,
        "lyrics": "the next verse",
        "gender": None,
        "audio": AudioSource(url="https://x/a.mp3"),
        "webhook_url": "https://bot.example/hooks/7",
    }


def _a_task(kind: TaskKind, **fields: Any) -> Task:
    """A queued task as the store makes it, without a store."""
    request = dataclasses.replace(sing(), kind=kind, **fields)
    values = {f.name: getattr(request, f.name) for f in dataclasses.fields(Request)}
    return Task(
        id=7,
        status=TaskStatus.QUEUED,
        audio_path=None,
        audio_duration=None,
        status_message_id=None,
        musicgpt_task_id=None,
        conversion_ids=(),
        eta_seconds=None,
        credit_estimate=None,
        cost=None,
        outputs=(),
        error=None,
        quota_day="2026-12-06",
        quota_refunded=False,
        delivered_message_ids=(),
        delivery_attempts=0,
        webhook_seen=False,
        poll_count=0,
        created_at=0.0,
        submitted_at=None,
        completed_at=None,
        finished_at=None,
        next_poll_at=None,
        updated_at=0.0,
        **values,
    )


async def test_queue_respects_max_parallel_and_order(harness: Harness, musicgpt, poster):
    musicgpt.results = [DONE]
    musicgpt.release_submit.clear()
    await harness.tracker.start()
    tasks = [await harness.submit(sing(user)) for user in (1, 2, 3)]

    async def first_is_sending() -> bool:
        return musicgpt.in_flight == 1

    await drive(harness.clock, first_is_sending)
    assert [await harness.store.queue_position(t.id) for t in tasks] == [0, 1, 2]
    musicgpt.release_submit.set()
    for task in tasks:
        await harness.until(task.id, TaskStatus.DELIVERED)
    assert musicgpt.max_in_flight == 1
    assert poster.delivered == [t.id for t in tasks]


async def test_a_queued_task_the_claim_passed_over_is_claimed_on_the_next_look(
    harness: Harness, musicgpt, poster, monkeypatch
):
    # PostgreSQL's claim skips a row another writer holds for a moment (SKIP LOCKED): the
    # first claim finds nothing though the task is queued. The dispatcher must not take the
    # queue for empty and wait for a wake-up that never comes.
    musicgpt.results = [DONE]
    claim = harness.store.claim_next_queued
    passed_over: list[float] = []

    async def locked_once(now: float, **claim_with: Any) -> Task | None:
        if not passed_over:
            passed_over.append(now)
            return None
        return await claim(now, **claim_with)

    monkeypatch.setattr(harness.store, "claim_next_queued", locked_once)
    await harness.tracker.start()
    task = await harness.submit(sing())
    await harness.until(task.id, TaskStatus.DELIVERED, step=0.1)
    assert passed_over
    assert poster.delivered == [task.id]


async def test_musicgpt_refusal_fails_with_its_text_and_refunds(harness: Harness, musicgpt):
    musicgpt.submit_error = MusicGPTValidationError("lyrics contain banned words")
    await harness.tracker.start()
    task = await harness.submit(sing())
    failed = await harness.until(task.id, TaskStatus.FAILED)
    assert "lyrics contain banned words" in (failed.error or "")
    assert failed.quota_refunded
    assert (await harness.store.quota_usage(1, harness.clock.now())).used_today == 0


async def test_a_submit_answered_429_waits_at_the_head_of_the_queue_charged_once(
    store: Store, poster: FakePoster, clock: FakeClock
) -> None:
    busy = BusyMusicGPT(capacity=1)
    tracker = Tracker(
        store, busy, dataclasses.replace(SETTINGS, musicgpt_max_parallel=3), clock=clock
    )
    tracker.attach(poster)
    h = Harness(tracker, store, clock)
    try:
        await tracker.start()
        first = await h.submit(named("first", 1))
        await h.until(first.id, TaskStatus.SUBMITTED)
        second = await h.submit(named("second", 2))

        async def refused() -> bool:
            task = await store.get_task(second.id)
            return busy.refusals == 1 and task is not None and task.status is TaskStatus.QUEUED

        await drive(clock, refused, step=0.1)
        third = await h.submit(named("third", 3))
        requeued = await store.get_task(second.id)
        assert requeued is not None and not requeued.quota_refunded
        assert [await store.queue_position(t.id) for t in (second, third)] == [1, 2]
        assert tracker.dispatcher.parallelism.limit == 1
        assert tracker.dispatcher.parallelism.describe() == (
            "MusicGPT took only 1 at once; using 1 of MUSICGPT_MAX_PARALLEL=3"
        )

        busy.finish("mg-1")
        await h.until(second.id, TaskStatus.SUBMITTED)
        busy.finish("mg-2")
        await h.until(third.id, TaskStatus.SUBMITTED)
        busy.finish("mg-3")
        for task in (first, second, third):
            await h.until(task.id, TaskStatus.DELIVERED)
        # Each went to MusicGPT once, in the order asked; nobody's song failed or was refunded.
        assert [s["prompt"] for s in busy.submits] == ["first", "second", "third"]
        for user in (1, 2, 3):
            assert (await store.quota_usage(user, clock.now())).used_today == 1
        # After the 429 nothing was sent while MusicGPT was still full.
        after = busy.attempts[[a[2] for a in busy.attempts].index("429") + 1 :]
        assert after and all(outcome.startswith("mg-") for _, _, outcome in after)
    finally:
        await tracker.stop()


async def test_a_409_is_never_submitted_again(
    store: Store, poster: FakePoster, clock: FakeClock
) -> None:
    busy = BusyMusicGPT(capacity=5)
    busy.error = MusicGPTSubmitConflict("MusicGPT answered HTTP 409: duplicate")
    tracker = Tracker(store, busy, SETTINGS, clock=clock)
    tracker.attach(poster)
    h = Harness(tracker, store, clock)
    try:
        await tracker.start()
        task = await h.submit(sing())
        failed = await h.until(task.id, TaskStatus.FAILED)
        assert failed.quota_refunded and "twice" in (failed.error or "")
        clock.advance(3600)
        await asyncio.sleep(0.01)
        assert len(busy.attempts) == 1
    finally:
        await tracker.stop()
