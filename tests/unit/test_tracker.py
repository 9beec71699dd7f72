"""The tracker with fakes of its two seams (MusicGPT client, presenter) and a real store."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.errors import MusicGPTValidationError, PermanentDeliveryError, QuotaExceeded
from bot.models import (
    ConversionResult,
    ConversionStatus,
    Output,
    Request,
    SubmitReceipt,
    Task,
    TaskKind,
    TaskStatus,
)
from bot.store import Store
from bot.tracker import PollBudget, Tracker, TrackerConfig

FAST = TrackerConfig(
    daily_quota=5,
    max_active=5,
    max_parallel=1,
    polls_per_minute=6000,
    min_poll_interval=0.01,
    max_poll_interval=0.05,
    first_poll_margin=0.0,
    delivery_backoff=0.01,
    webhook_grace=60.0,
)

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

    async def get_conversion(self, kind: TaskKind, *, task_id: str | None = None, **_: Any):
        self.polls.append(task_id or "")
        if not self.results:
            return ConversionResult(ConversionStatus.IN_PROGRESS, task_id=task_id)
        result = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        return ConversionResult(result.status, task_id, (), result.message, result.outputs, 1.0)


class FakePresenter:
    def __init__(self) -> None:
        self.shown: list[Task] = []
        self.delivered: list[int] = []
        self.existing: dict[int, list[int]] = {}
        self.failures: list[Exception] = []
        self.changed = asyncio.Condition()

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def show_status(self, task: Task) -> None:
        self.shown.append(task)
        await self._notify()

    async def deliver(self, task: Task) -> Sequence[int]:
        if self.failures:
            raise self.failures.pop(0)
        self.delivered.append(task.id)
        return [1000 + task.id]

    async def find_delivery(self, task: Task) -> Sequence[int] | None:
        return self.existing.get(task.id)

    async def wait_for(self, task_id: int, status: TaskStatus, timeout: float = 5) -> Task:
        async def seen() -> Task:
            async with self.changed:
                while True:
                    for task in reversed(self.shown):
                        if task.id == task_id and task.status is status:
                            return task
                    await self.changed.wait()

        return await asyncio.wait_for(seen(), timeout)


def sing(user_id: int = 1) -> Request:
    return Request(
        TaskKind.SING, user_id, 10, 20, "piano ballad", "la la", audio_url="https://x/a.mp3"
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with Store.open(tmp_path / "db.sqlite3") as opened:
        yield opened


@pytest.fixture
def musicgpt() -> FakeMusicGPT:
    return FakeMusicGPT()


@pytest.fixture
def presenter() -> FakePresenter:
    return FakePresenter()


async def running(store: Store, musicgpt: FakeMusicGPT, presenter: FakePresenter, **overrides):
    config = dataclasses.replace(FAST, **overrides)
    tracker = Tracker(store, musicgpt, config)
    tracker.attach(presenter)
    await tracker.start()
    return tracker


async def test_request_travels_to_delivery_exactly_once(store, musicgpt, presenter) -> None:
    musicgpt.results = [ConversionResult(ConversionStatus.IN_PROGRESS), DONE]
    tracker = await running(store, musicgpt, presenter)
    try:
        task = await tracker.submit(sing(), audio_duration=None)
        delivered = await presenter.wait_for(task.id, TaskStatus.DELIVERED)
        assert delivered.delivered_message_ids == (1000 + task.id,)
        assert presenter.delivered == [task.id]
        assert musicgpt.submits[0]["prompt"] == "piano ballad"
        assert musicgpt.submits[0]["webhook_url"] is None
        assert len(musicgpt.polls) == 2
        # A late duplicate (a second webhook, a slow poll) changes nothing.
        assert await tracker.apply_update(task.id, DONE) is None
        await asyncio.sleep(0.05)
        assert presenter.delivered == [task.id]
    finally:
        await tracker.stop()


async def test_queue_respects_max_parallel_and_order(store, musicgpt, presenter) -> None:
    musicgpt.results = [DONE]
    musicgpt.release_submit.clear()
    tracker = await running(store, musicgpt, presenter)
    try:
        tasks = [await tracker.submit(sing(user), audio_duration=None) for user in (1, 2, 3)]
        await asyncio.sleep(0.05)
        assert [await tracker.queue_position(t.id) for t in tasks] == [0, 1, 2]
        musicgpt.release_submit.set()
        for task in tasks:
            await presenter.wait_for(task.id, TaskStatus.DELIVERED)
        assert musicgpt.max_in_flight == 1
        assert presenter.delivered == [t.id for t in tasks]
    finally:
        await tracker.stop()


async def test_musicgpt_refusal_fails_with_its_text_and_refunds(store, musicgpt, presenter):
    musicgpt.submit_error = MusicGPTValidationError("lyrics contain banned words")
    tracker = await running(store, musicgpt, presenter)
    try:
        task = await tracker.submit(sing(), audio_duration=None)
        failed = await presenter.wait_for(task.id, TaskStatus.FAILED)
        assert "lyrics contain banned words" in (failed.error or "")
        assert failed.quota_refunded
        assert (await tracker.quota_usage(1)).used_today == 0
    finally:
        await tracker.stop()


async def test_quota_refusal_names_the_reset(store, musicgpt, presenter) -> None:
    musicgpt.release_submit.clear()
    tracker = await running(store, musicgpt, presenter, daily_quota=1)
    try:
        await tracker.submit(sing(), audio_duration=None)
        with pytest.raises(QuotaExceeded, match="resets at 00:00 UTC"):
            await tracker.submit(sing(), audio_duration=None)
        with pytest.raises(QuotaExceeded):
            await tracker.check_quota(1)
    finally:
        await tracker.stop()


async def test_webhook_before_submit_answer_triggers_immediate_poll(
    store, musicgpt, presenter
) -> None:
    musicgpt.results = [DONE]
    musicgpt.release_submit.clear()
    # With webhooks on, the first poll would wait for the grace period: only the webhook
    # can make it happen now.
    tracker = await running(store, musicgpt, presenter, webhook_base_url="https://bot/hook/s")
    try:
        task = await tracker.submit(sing(), audio_duration=None)
        await asyncio.sleep(0.05)
        assert (await store.get_task(task.id)).status is TaskStatus.SUBMITTING
        await tracker.handle_webhook(task.id, {"task_id": "mg-1", "status": "COMPLETED"})
        musicgpt.release_submit.set()
        await presenter.wait_for(task.id, TaskStatus.DELIVERED)
        assert musicgpt.submits[0]["webhook_url"] == f"https://bot/hook/s/{task.id}"
        assert len(musicgpt.polls) == 1
    finally:
        await tracker.stop()


async def test_webhook_naming_another_task_is_ignored(store, musicgpt, presenter) -> None:
    tracker = await running(store, musicgpt, presenter, webhook_base_url="https://bot/hook/s")
    try:
        task = await tracker.submit(sing(), audio_duration=None)
        await presenter.wait_for(task.id, TaskStatus.SUBMITTED)
        await tracker.handle_webhook(task.id, {"task_id": "someone-else", "status": "COMPLETED"})
        await tracker.handle_webhook(task.id, {"subtype": "lyrics_timestamped"})
        stored = await store.get_task(task.id)
        assert stored is not None and not stored.webhook_seen
        assert musicgpt.polls == []
    finally:
        await tracker.stop()


async def test_recovery_finds_an_earlier_post_instead_of_posting_again(
    store, musicgpt, presenter
) -> None:
    created = await store.create_task(sing(), now=1.0, daily_quota=5, max_active=5)
    assert isinstance(created, Task)
    await store.claim_next_queued(1.0)
    await store.mark_submitted(
        created.id, SubmitReceipt("mg-1", ("c1",), 0, 1.0), next_poll_at=1, now=1
    )
    await store.mark_completed(created.id, DONE.outputs, 1.0, 2.0)
    await store.claim_delivery(created.id, 3.0)  # then the process "died"
    presenter.existing[created.id] = [4242]

    tracker = await running(store, musicgpt, presenter)
    try:
        delivered = await presenter.wait_for(created.id, TaskStatus.DELIVERED)
        assert delivered.delivered_message_ids == (4242,)
        assert presenter.delivered == []
    finally:
        await tracker.stop()


async def test_recovery_fails_and_refunds_a_submit_cut_short(store, musicgpt, presenter):
    created = await store.create_task(sing(), now=1.0, daily_quota=5, max_active=5)
    assert isinstance(created, Task)
    await store.claim_next_queued(1.0)
    tracker = await running(store, musicgpt, presenter)
    try:
        failed = await presenter.wait_for(created.id, TaskStatus.FAILED)
        assert failed.quota_refunded and "restarted" in (failed.error or "")
        assert musicgpt.submits == []
    finally:
        await tracker.stop()


async def test_delivery_retries_transient_errors(store, musicgpt, presenter) -> None:
    musicgpt.results = [DONE]
    presenter.failures = [RuntimeError("discord 503"), RuntimeError("discord 503")]
    tracker = await running(store, musicgpt, presenter)
    try:
        task = await tracker.submit(sing(), audio_duration=None)
        delivered = await presenter.wait_for(task.id, TaskStatus.DELIVERED)
        assert delivered.delivery_attempts == 3
        assert presenter.delivered == [task.id]
    finally:
        await tracker.stop()


async def test_permanent_delivery_error_fails_and_refunds(store, musicgpt, presenter) -> None:
    musicgpt.results = [DONE]
    presenter.failures = [PermanentDeliveryError("I can't post in this channel.")]
    tracker = await running(store, musicgpt, presenter)
    try:
        task = await tracker.submit(sing(), audio_duration=None)
        failed = await presenter.wait_for(task.id, TaskStatus.FAILED)
        assert failed.error == "I can't post in this channel." and failed.quota_refunded
    finally:
        await tracker.stop()


async def test_musicgpt_failure_status_fails_the_task(store, musicgpt, presenter) -> None:
    musicgpt.results = [ConversionResult(ConversionStatus.FAILED, message="vocal model crashed")]
    tracker = await running(store, musicgpt, presenter)
    try:
        task = await tracker.submit(sing(), audio_duration=None)
        failed = await presenter.wait_for(task.id, TaskStatus.FAILED)
        assert "vocal model crashed" in (failed.error or "") and failed.quota_refunded
    finally:
        await tracker.stop()


async def test_gives_up_after_the_limit_and_refunds(store, musicgpt, presenter) -> None:
    tracker = await running(store, musicgpt, presenter, give_up_after=0.2)
    try:
        task = await tracker.submit(sing(), audio_duration=None)
        failed = await presenter.wait_for(task.id, TaskStatus.FAILED)
        assert "gave up" in (failed.error or "") and failed.quota_refunded
        assert len(musicgpt.polls) >= 2
    finally:
        await tracker.stop()


def test_poll_budget_spaces_calls_evenly() -> None:
    now = [100.0]
    budget = PollBudget(per_minute=20, clock=lambda: now[0])
    assert budget.wait_time() == 0
    budget.spend()
    assert budget.wait_time() == pytest.approx(3.0)
    now[0] += 3.0
    assert budget.wait_time() == 0
    # A quiet spell earns no burst: after an hour idle, still one call per 3 s.
    now[0] += 3600
    budget.spend()
    budget.spend()
    assert budget.wait_time() == pytest.approx(6.0)
