"""Claims under leases (`bot/core/tracker/leases.py`) and the dispatcher's limit over several
processes: what a process holds it keeps while it works, what a gone one held is taken over
once its lease runs out, and a start-up on a shared database leaves live claims alone.

"Another process" here is a claim written under another holder's name, or a second tracker
(its own identity) on the same store; the store marks itself shared as PostgreSQL does."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import pytest

from bot.core.errors import StorageError
from bot.core.models import SubmitReceipt, Task, TaskStatus
from bot.core.store import Lease, Store
from bot.core.tracker import RESTARTED_MID_SUBMIT, Timing, Tracker
from tests.unit.conftest import FakeClock, drive
from tests.unit.core.tracker.conftest import (
    DONE,
    LIMITS,
    SETTINGS,
    FakeMusicGPT,
    FakePoster,
    Harness,
    sing,
)

LEASE = Timing().lease


@pytest.fixture
def shared(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    """The store as PostgreSQL's: other processes may use it at once."""
    monkeypatch.setattr(store._db, "shared", True)
    return store


async def claimed_elsewhere(store: Store, clock: FakeClock) -> Task:
    """A task another (live, for now) process claimed and is sending to MusicGPT."""
    created = await store.create_task(sing(), now=clock.now(), daily_quota=5, max_active=5)
    assert isinstance(created, Task)
    lease = Lease("elsewhere:1:abc", clock.now() + LEASE)
    claimed = await store.claim_next_queued(clock.now(), lease=lease)
    assert claimed is not None
    return claimed


async def mark_submitted(store: Store, task: Task, clock: FakeClock) -> None:
    """The claimer's submit recorded: MusicGPT holds it as "mg-1", due for a poll now."""
    receipt = SubmitReceipt("mg-1", ("c1",), 0, 1.0)
    assert await store.mark_submitted(task.id, receipt, next_poll_at=clock.now(), now=clock.now())


async def status_of(store: Store, task_id: int) -> TaskStatus:
    task = await store.get_task(task_id)
    assert task is not None
    return task.status


async def test_a_start_on_a_shared_database_leaves_a_live_claim_then_takes_it_when_expired(
    shared: Store, harness: Harness, musicgpt: FakeMusicGPT, clock: FakeClock
) -> None:
    task = await claimed_elsewhere(shared, clock)
    await harness.tracker.start()

    async def almost_expired() -> bool:
        return clock.now() >= task.updated_at + LEASE - 1

    await drive(clock, almost_expired, step=0.5)
    assert await status_of(shared, task.id) is TaskStatus.SUBMITTING  # its holder's still

    failed = await harness.until(task.id, TaskStatus.FAILED, step=0.5)
    assert failed.error == RESTARTED_MID_SUBMIT and failed.quota_refunded
    assert clock.now() <= task.updated_at + LEASE + 2 * Timing().lease_tick
    assert musicgpt.submits == []  # never sent a second time


async def test_a_start_on_its_own_database_takes_every_claim_at_once(
    store: Store, harness: Harness, clock: FakeClock
) -> None:
    task = await claimed_elsewhere(store, clock)  # SQLite: its holder can only be a past run
    await harness.tracker.start()
    failed = await store.get_task(task.id)
    assert failed is not None and failed.status is TaskStatus.FAILED
    assert failed.error == RESTARTED_MID_SUBMIT and failed.quota_refunded


async def test_a_delivery_left_by_a_gone_process_is_found_not_posted_again(
    shared: Store, harness: Harness, poster: FakePoster, clock: FakeClock
) -> None:
    task = await claimed_elsewhere(shared, clock)
    await mark_submitted(shared, task, clock)
    gone = Lease("elsewhere:1:abc", clock.now() + LEASE)
    await shared.mark_completed(task.id, DONE.outputs, 1.0, clock.now(), lease=gone)
    await shared.claim_delivery(task.id, clock.now(), lease=gone)  # posted, then died
    poster.existing[task.id] = [4242]

    await harness.tracker.start()
    delivered = await harness.until(task.id, TaskStatus.DELIVERED, step=0.5)
    assert delivered.delivered_message_ids == (4242,) and delivered.delivery_attempts == 2
    assert poster.delivered == []


async def test_a_result_completed_by_a_gone_process_is_delivered_by_another(
    shared: Store, harness: Harness, poster: FakePoster, clock: FakeClock
) -> None:
    task = await claimed_elsewhere(shared, clock)
    await mark_submitted(shared, task, clock)
    gone = Lease("elsewhere:1:abc", clock.now() + LEASE)
    await shared.mark_completed(task.id, DONE.outputs, 1.0, clock.now(), lease=gone)

    await harness.tracker.start()
    delivered = await harness.until(task.id, TaskStatus.DELIVERED, step=0.5)
    assert delivered.delivery_attempts == 1 and poster.delivered == [task.id]


async def test_a_submit_longer_than_many_leases_keeps_its_claim(
    shared: Store, harness: Harness, musicgpt: FakeMusicGPT, clock: FakeClock
) -> None:
    musicgpt.results = [DONE]
    musicgpt.release_submit.clear()  # a 25 MB upload on a slow link
    await harness.tracker.start()
    task = await harness.submit(sing())

    async def ten_leases_later() -> bool:
        return clock.now() >= task.created_at + 10 * LEASE

    await drive(clock, ten_leases_later, step=0.5)
    assert await status_of(shared, task.id) is TaskStatus.SUBMITTING
    assert musicgpt.in_flight == 1
    musicgpt.release_submit.set()
    await harness.until(task.id, TaskStatus.DELIVERED, step=0.5)
    assert len(musicgpt.submits) == 1


async def test_two_processes_hold_max_parallel_together(
    shared: Store, musicgpt: FakeMusicGPT, poster: FakePoster, clock: FakeClock
) -> None:
    """Two trackers (two identities) on one database, MUSICGPT_MAX_PARALLEL=2 each: at most
    two songs at MusicGPT in all, each sent once, songs queued by either sent by either."""
    musicgpt.results = [DONE]
    musicgpt.release_submit.clear()
    settings = dataclasses.replace(SETTINGS, musicgpt_max_parallel=2)
    trackers = [Tracker(shared, musicgpt, settings, clock=clock) for _ in range(2)]
    try:
        for tracker in trackers:
            tracker.attach(poster)
            await tracker.start()
        tasks = []
        for n in range(6):
            created = await trackers[n % 2].submit(sing(n), limits=LIMITS, audio_duration=None)
            assert isinstance(created, Task)
            tasks.append(created)

        async def two_sending() -> bool:
            return musicgpt.in_flight == 2

        await drive(clock, two_sending, step=0.5)
        for _ in range(10):  # ticks of both sweeps (each looks at the queue): no third
            clock.advance(Timing().lease_tick)
            await asyncio.sleep(0.01)  # both processes' loops run
            assert musicgpt.in_flight == 2
        musicgpt.release_submit.set()
        for task in tasks:
            await Harness(trackers[0], shared, clock).until(task.id, TaskStatus.DELIVERED)
    finally:
        for tracker in trackers:
            await tracker.stop()
    assert musicgpt.max_in_flight == 2
    assert len(musicgpt.submits) == 6
    assert sorted(poster.delivered) == [t.id for t in tasks]


async def test_a_stopping_process_hands_its_claims_over_at_once(
    shared: Store, musicgpt: FakeMusicGPT, poster: FakePoster, clock: FakeClock
) -> None:
    musicgpt.release_submit.clear()  # the upload is still under way at the stop
    first, second = (Tracker(shared, musicgpt, SETTINGS, clock=clock) for _ in range(2))
    for tracker in (first, second):
        tracker.attach(poster)
    try:
        await first.start()
        task = await Harness(first, shared, clock).submit(sing())

        async def sending() -> bool:
            return musicgpt.in_flight == 1

        await drive(clock, sending, step=0.1)
        await first.stop(grace=0)
        assert await status_of(shared, task.id) is TaskStatus.SUBMITTING
        clock.advance(0.1)  # a moment later, far less than a lease
        await second.start()  # its start-up takes only expired claims: this one is
        failed = await shared.get_task(task.id)
        assert failed is not None and failed.error == RESTARTED_MID_SUBMIT
    finally:
        await second.stop()


async def test_a_database_away_is_one_line_when_it_goes_and_one_when_it_is_back(
    store: Store, harness: Harness, clock: FakeClock, monkeypatch, caplog
) -> None:
    take = store.take_expired_claims
    away: list[float] = []

    async def unreachable(*args: Any, **kwargs: Any) -> list[Task]:
        if len(away) < 5:
            away.append(clock.now())
            raise StorageError("connection refused", reason="unreachable")
        return await take(*args, **kwargs)

    await harness.tracker.start()
    monkeypatch.setattr(store, "take_expired_claims", unreachable)
    caplog.set_level(logging.INFO, logger="bot.core.tracker.leases")

    async def back() -> bool:
        return any("works again" in r.message for r in caplog.records)

    await drive(clock, back, step=Timing().lease_tick)
    lines = [r for r in caplog.records if r.name == "bot.core.tracker.leases"]
    assert len(away) == 5
    assert [(r.levelname, not r.exc_info) for r in lines] == [
        ("WARNING", True),
        ("INFO", True),
    ]
    assert "failed (connection refused)" in lines[0].message


async def test_a_song_another_process_submitted_untold_is_polled_on_the_tick(
    shared: Store, harness: Harness, musicgpt: FakeMusicGPT, poster: FakePoster, clock: FakeClock
) -> None:
    # The process that sent it died (or stopped) before its NOTIFY went out: nobody tells
    # this one, whose poller last saw nothing to poll. The claims' tick looks anyway.
    musicgpt.results = [DONE]
    task = await claimed_elsewhere(shared, clock)  # being sent by the other, live
    await harness.tracker.start()
    for _ in range(20):  # its poller looks, finds nothing, and sleeps with no end
        await asyncio.sleep(0)
    await mark_submitted(shared, task, clock)

    delivered = await harness.until(task.id, TaskStatus.DELIVERED, step=0.5)
    assert poster.delivered == [task.id] and delivered.musicgpt_task_id == "mg-1"


async def test_a_song_whose_audio_cant_be_read_back_waits_in_the_queue_unsent(
    harness: Harness, musicgpt: FakeMusicGPT, poster: FakePoster, clock: FakeClock, monkeypatch
) -> None:
    # The database fails for a moment while the audio is read out of it: nothing went to
    # MusicGPT, so the song is not failed (nor refunded): it is sent once reading works.
    musicgpt.results = [DONE]
    audio = harness.tracker._ctx.audio
    sendable = audio.sendable
    failures = [StorageError("connection reset")]

    def flaky(task: Task) -> Any:
        if failures:
            raise failures.pop()
        return sendable(task)

    monkeypatch.setattr(audio, "sendable", flaky)
    await harness.tracker.start()
    task = await harness.submit(sing())
    delivered = await harness.until(task.id, TaskStatus.DELIVERED, step=0.5)
    assert not failures and not delivered.quota_refunded
    assert len(musicgpt.submits) == 1 and poster.delivered == [task.id]


async def test_on_a_database_of_its_own_a_poll_leaves_the_song_due_if_the_process_dies(
    store: Store, harness: Harness, clock: FakeClock
) -> None:
    # The poll's hold is against other processes; with none, a crash mid-poll must not
    # leave the song waiting out a hold after the restart.
    task = await claimed_elsewhere(store, clock)
    await mark_submitted(store, task, clock)
    polled, _ = await harness.tracker.poller.budget.claim(task.id)
    assert polled is not None
    after = await store.get_task(task.id)
    assert after is not None and after.next_poll_at is not None
    assert after.next_poll_at <= clock.now()


async def test_on_a_shared_database_a_poll_holds_the_song_from_the_others(
    shared: Store, make_harness: Any, clock: FakeClock
) -> None:
    harness = make_harness()
    task = await claimed_elsewhere(shared, clock)
    await mark_submitted(shared, task, clock)
    polled, _ = await harness.tracker.poller.budget.claim(task.id)
    assert polled is not None
    after = await shared.get_task(task.id)
    assert after is not None and (after.next_poll_at or 0) > clock.now()
