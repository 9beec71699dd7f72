"""The tracker with fakes of its seams (MusicGPT client, result poster), a real store and a
fake clock: time only moves when a test drives it, so nothing here sleeps on the wall clock."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import Sequence
from typing import Any

import pytest

from bot.config import Settings
from bot.errors import MusicGPTValidationError, PermanentDeliveryError
from bot.models import (
    ConversionResult,
    ConversionStatus,
    Output,
    QuotaLimits,
    QuotaRefusal,
    Request,
    SubmitReceipt,
    Task,
    TaskKind,
    TaskStatus,
)
from bot.store import Store
from bot.tracker import PollBudget, Tracker
from tests.unit.conftest import FakeClock, drive

SETTINGS = Settings(
    discord_token="t",
    musicgpt_api_key="k",
    musicgpt_max_parallel=1,
    musicgpt_polls_per_minute=600_000,
)
LIMITS = QuotaLimits(daily=5, active=5)

DONE = ConversionResult(
    ConversionStatus.COMPLETED,
    task_id="mg-1",
    outputs=(Output("http://mg/a.wav", "c1", 3.0, "Song"),),
    cost=1.0,
)


class FakeMusicGPT:
    def __init__(self) -> None:
        self.submits: list[dict[str, Any]] = []
        self.polls: list[str] = []
        self.results: list[ConversionResult] = []  # answered in order; the last repeats
        self.submit_error: Exception | None = None
        self.release_submit = asyncio.Event()
        self.release_submit.set()
        self.in_flight = 0
        self.max_in_flight = 0

    async def _submit(self, **fields: Any) -> SubmitReceipt:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self.release_submit.wait()
            if self.submit_error:
                raise self.submit_error
            self.submits.append(fields)
            return SubmitReceipt(f"mg-{len(self.submits)}", ("c1",), 0, 1.0)
        finally:
            self.in_flight -= 1

    async def submit_sing(self, **fields: Any) -> SubmitReceipt:
        return await self._submit(kind="sing", **fields)

    async def submit_inpaint(self, **fields: Any) -> SubmitReceipt:
        return await self._submit(kind="inpaint", **fields)

    async def get_conversion(
        self, kind: TaskKind, *, task_id: str | None = None, **_: Any
    ) -> ConversionResult:
        self.polls.append(task_id or "")
        if not self.results:
            return ConversionResult(ConversionStatus.IN_PROGRESS, task_id=task_id)
        result = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        return ConversionResult(result.status, task_id, (), result.message, result.outputs, 1.0)


class FakePoster:
    def __init__(self) -> None:
        self.delivered: list[int] = []
        self.existing: dict[int, list[int]] = {}
        self.failures: list[Exception] = []

    async def deliver(self, task: Task) -> Sequence[int]:
        if self.failures:
            raise self.failures.pop(0)
        self.delivered.append(task.id)
        return [1000 + task.id]

    async def find_delivery(self, task: Task) -> Sequence[int] | None:
        return self.existing.get(task.id)


def sing(user_id: int = 1) -> Request:
    return Request(
        TaskKind.SING, user_id, 10, 20, "piano ballad", "la la", audio_url="https://x/a.mp3"
    )


@pytest.fixture
def musicgpt() -> FakeMusicGPT:
    return FakeMusicGPT()


@pytest.fixture
def poster() -> FakePoster:
    return FakePoster()


class Harness:
    def __init__(self, tracker: Tracker, store: Store, clock: FakeClock) -> None:
        self.tracker, self.store, self.clock = tracker, store, clock

    async def submit(self, request: Request) -> Task:
        created = await self.tracker.submit(request, limits=LIMITS, audio_duration=None)
        assert isinstance(created, Task)
        return created

    async def until(self, task_id: int, status: TaskStatus, step: float = 1.0) -> Task:
        """Drive the clock until the task reaches `status`; the task then."""
        seen: list[Task] = []

        async def reached() -> bool:
            task = await self.store.get_task(task_id)
            seen[:] = [task] if task else []
            return task is not None and task.status is status

        await drive(self.clock, reached, step=step)
        return seen[0]


@pytest.fixture
async def make_harness(store: Store, musicgpt: FakeMusicGPT, poster: FakePoster, clock: FakeClock):
    """A factory of harnesses over one store; every tracker is stopped before the store closes."""
    made: list[Tracker] = []

    def make(**settings: Any) -> Harness:
        webhook_base_url = settings.pop("webhook_base_url", None)
        tracker = Tracker(
            store,
            musicgpt,
            dataclasses.replace(SETTINGS, **settings),
            webhook_base_url=webhook_base_url,
            clock=clock,
        )
        tracker.attach(poster)
        made.append(tracker)
        return Harness(tracker, store, clock)

    yield make
    for tracker in made:
        await tracker.stop()


@pytest.fixture
def harness(make_harness) -> Harness:
    return make_harness()


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


async def test_every_change_is_published_without_waiting_for_anyone(harness: Harness, musicgpt):
    musicgpt.results = [DONE]
    events = harness.tracker.events
    await harness.tracker.start()
    task = await harness.submit(sing())
    assert await events.take() == [task.id]  # queued: published by submit itself
    await harness.until(task.id, TaskStatus.DELIVERED)
    # Submitted, completed and delivered, coalesced: nobody was consuming meanwhile.
    assert await events.take() == [task.id]
    assert events.pending() == 0


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


async def test_confirmations_run_concurrently(make_harness, musicgpt, clock) -> None:
    """Ten tasks due at once are confirmed together, not one poll round trip after another."""
    h = make_harness(musicgpt_max_parallel=10)
    gate = asyncio.Event()
    concurrent = [0, 0]  # now, most

    async def slow_poll(kind: TaskKind, *, task_id: str | None = None, **_: Any):
        concurrent[0] += 1
        concurrent[1] = max(concurrent[1], concurrent[0])
        await gate.wait()
        concurrent[0] -= 1
        return ConversionResult(ConversionStatus.COMPLETED, task_id, (), None, DONE.outputs, 1.0)

    musicgpt.get_conversion = slow_poll
    await h.tracker.start()
    tasks = [await h.submit(sing(user)) for user in range(1, 11)]

    async def all_polled() -> bool:
        return concurrent[0] == 10

    await drive(clock, all_polled, step=0.5)
    gate.set()
    for task in tasks:
        await h.until(task.id, TaskStatus.DELIVERED)
    assert concurrent[1] == 10


async def test_musicgpt_refusal_fails_with_its_text_and_refunds(harness: Harness, musicgpt):
    musicgpt.submit_error = MusicGPTValidationError("lyrics contain banned words")
    await harness.tracker.start()
    task = await harness.submit(sing())
    failed = await harness.until(task.id, TaskStatus.FAILED)
    assert "lyrics contain banned words" in (failed.error or "")
    assert failed.quota_refunded
    assert (await harness.store.quota_usage(1, harness.clock.now())).used_today == 0


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


async def test_recovery_fails_and_refunds_a_submit_cut_short(harness: Harness, store, musicgpt):
    created = await store.create_task(sing(), now=1.0, daily_quota=5, max_active=5)
    assert isinstance(created, Task)
    await store.claim_next_queued(1.0)
    await harness.tracker.start()
    failed = await harness.until(created.id, TaskStatus.FAILED)
    assert failed.quota_refunded and "restarted" in (failed.error or "")
    assert musicgpt.submits == []


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


async def test_musicgpt_failure_status_fails_the_task(harness: Harness, musicgpt) -> None:
    musicgpt.results = [ConversionResult(ConversionStatus.FAILED, message="vocal model crashed")]
    await harness.tracker.start()
    task = await harness.submit(sing())
    failed = await harness.until(task.id, TaskStatus.FAILED)
    assert "vocal model crashed" in (failed.error or "") and failed.quota_refunded


async def test_gives_up_after_the_limit_and_refunds(make_harness, store, musicgpt, clock) -> None:
    h = make_harness(poll_give_up_minutes=1)
    await h.tracker.start()
    task = await h.submit(sing())
    failed = await h.until(task.id, TaskStatus.FAILED, step=5.0)
    assert "within 1 minutes" in (failed.error or "") and failed.quota_refunded
    assert len(musicgpt.polls) >= 2
    # Polls backed off: far fewer than one per 5-second step over the minute.
    assert len(musicgpt.polls) <= 12


def test_poll_budget_spaces_calls_evenly() -> None:
    clock = FakeClock(start=100.0)
    budget = PollBudget(per_minute=20, clock=clock)
    assert budget.wait_time() == 0
    budget.spend()
    assert budget.wait_time() == pytest.approx(3.0)
    clock.advance(3.0)
    assert budget.wait_time() == 0
    # A quiet spell earns no burst: after an hour idle, still one call per 3 s.
    clock.advance(3600)
    budget.spend()
    budget.spend()
    assert budget.wait_time() == pytest.approx(6.0)


async def test_a_result_that_cant_be_recorded_waits_without_polling(
    make_harness, store, musicgpt, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk (SQLite's "database or disk is full") while recording a finished task:
    the result already fetched is recorded later, not fetched again and again."""
    h = make_harness(musicgpt_polls_per_minute=20, musicgpt_max_parallel=2)
    musicgpt.results = [DONE]
    real_mark_completed = store.mark_completed
    disk = {"full": True, "refused": 0}

    async def mark_completed(*args: Any, **kwargs: Any) -> Task | None:
        if disk["full"]:
            disk["refused"] += 1
            raise sqlite3.OperationalError("database or disk is full")
        return await real_mark_completed(*args, **kwargs)

    monkeypatch.setattr(store, "mark_completed", mark_completed)
    await h.tracker.start()
    task = await h.submit(sing())
    other = await h.submit(sing(user_id=2))  # due meanwhile: waits too, unpolled

    async def first_refused() -> bool:
        return disk["refused"] >= 1

    await drive(clock, first_refused)
    polls_when_full = len(musicgpt.polls)
    start = clock.now()

    async def two_minutes_later() -> bool:
        return clock.now() - start >= 120

    await drive(clock, two_minutes_later)
    assert len(musicgpt.polls) == polls_when_full <= 2  # before: one poll per 3 s budget
    assert 2 <= disk["refused"] <= 8  # the recording retried with a backoff
    disk["full"] = False
    await h.until(task.id, TaskStatus.DELIVERED)
    await h.until(other.id, TaskStatus.DELIVERED)
    assert len(musicgpt.polls) <= polls_when_full + 1


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
    for _ in range(5):
        await asyncio.sleep(0)
    clock.advance(20)
    await asyncio.wait_for(stopping, 5)
    assert musicgpt.in_flight == 0  # cancelled
    task = await store.get_task(uploading.id)
    assert task is not None and task.status is TaskStatus.SUBMITTING  # the next start decides
    assert musicgpt.submits == []
