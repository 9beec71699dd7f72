"""The tracker with fakes of its seams (MusicGPT client, result poster), a real store and a
fake clock: time only moves when a test drives it, so nothing here sleeps on the wall clock."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import pytest

from bot.core.config import Settings
from bot.core.errors import (
    MusicGPTConfigurationError,
    MusicGPTRateLimited,
    MusicGPTSubmitConflict,
    MusicGPTSubmitUncertain,
    MusicGPTUnavailable,
    MusicGPTValidationError,
    PermanentDeliveryError,
    StorageError,
)
from bot.core.models import (
    AudioSource,
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
from bot.core.musicgpt.client import KeyCheck
from bot.core.store import Store
from bot.core.tracker import PollBudget, Tracker
from bot.core.tracker.context import MusicGPTHealth
from bot.core.tracker.dispatch import send_task
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
        self.key_checks = 0
        self.key_verdict = KeyCheck(True, 404, "HTTP 404")

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

    async def submit_extend(self, **fields: Any) -> SubmitReceipt:
        return await self._submit(kind="extend", **fields)

    async def check_key(self) -> KeyCheck:
        self.key_checks += 1
        return self.key_verdict

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
    assert "within 1 minute of" in (failed.error or "") and failed.quota_refunded
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
            raise StorageError("database or disk is full", reason="full")
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


# --- MusicGPT's limits: 429s, 409s and the key --------------------------------------------


class BusyMusicGPT(FakeMusicGPT):
    """MusicGPT with a plan's parallel limit: a submit while `capacity` tasks run is a 429.

    Accepted tasks run until `finish(mg_id)`; polls answer IN_PROGRESS until then."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.running: set[str] = set()
        self.attempts: list[tuple[str, int, str]] = []  # (prompt, in flight on arrival, outcome)
        self.receiving = 0
        self.refusals = 0
        self.error: Exception | None = None  # raised by every submit when set

    async def _submit(self, **fields: Any) -> SubmitReceipt:
        self.receiving += 1
        in_flight = len(self.running) + self.receiving
        try:
            await asyncio.sleep(0)  # a round trip: other submits may be on their way meanwhile
            if self.error is not None:
                self.attempts.append((fields["prompt"], in_flight, type(self.error).__name__))
                raise self.error
            if len(self.running) >= self.capacity:
                self.refusals += 1
                self.attempts.append((fields["prompt"], in_flight, "429"))
                raise MusicGPTRateLimited("too many at once")
            self.submits.append(fields)
            mg_id = f"mg-{len(self.submits)}"
            self.running.add(mg_id)
            self.attempts.append((fields["prompt"], in_flight, mg_id))
            return SubmitReceipt(mg_id, ("c1",), 0, 1.0)
        finally:
            self.receiving -= 1

    def finish(self, *mg_ids: str) -> None:
        self.running.difference_update(mg_ids)

    async def get_conversion(
        self, kind: TaskKind, *, task_id: str | None = None, **_: Any
    ) -> ConversionResult:
        self.polls.append(task_id or "")
        if task_id in self.running:
            return ConversionResult(ConversionStatus.IN_PROGRESS, task_id=task_id)
        return ConversionResult(ConversionStatus.COMPLETED, task_id, (), None, DONE.outputs, 1.0)


def named(prompt: str, user_id: int) -> Request:
    return dataclasses.replace(sing(user_id), prompt=prompt)


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


async def test_the_parallelism_learned_goes_down_at_once_and_back_up_slowly(
    store: Store, poster: FakePoster, clock: FakeClock
) -> None:
    busy = BusyMusicGPT(capacity=2)
    tracker = Tracker(
        store, busy, dataclasses.replace(SETTINGS, musicgpt_max_parallel=4), clock=clock
    )
    tracker.attach(poster)
    h = Harness(tracker, store, clock)
    parallel = tracker.dispatcher.parallelism
    interval = tracker._ctx.timing.parallel_raise_interval
    try:
        await tracker.start()
        tasks = [await h.submit(named(f"song {n}", n)) for n in range(1, 6)]

        async def two_running_and_learned() -> bool:
            return len(busy.running) == 2 and busy.refusals >= 1 and parallel.limit == 2

        await drive(clock, two_running_and_learned, step=0.1)
        first_refusal = [a[2] for a in busy.attempts].index("429")

        async def all_delivered() -> bool:
            busy.finish(*list(busy.running))  # MusicGPT finishes whatever it runs
            found = [await store.get_task(task.id) for task in tasks]
            return all(t is not None and t.status is TaskStatus.DELIVERED for t in found)

        await drive(clock, all_delivered)
        # Once the 429 was in, every submit found MusicGPT with room for it: at most 2.
        assert max(in_flight for _, in_flight, _ in busy.attempts[first_refusal + 1 :]) <= 2
        assert parallel.limit == 2 and len(busy.submits) == 5

        # The owner upgrades the plan. Successes raise the figure by one, once an interval.
        busy.capacity = 4
        clock.advance(interval)

        # The dispatcher learns from a submit just after recording it: the test may see the
        # task submitted a moment before that, so it waits (in real time) for the figure.
        async def limit_becomes(expected: int) -> int:
            for _ in range(200):
                if parallel.limit == expected:
                    break
                await asyncio.sleep(0.01)
            return parallel.limit

        extra = await h.submit(named("song 6", 6))
        await h.until(extra.id, TaskStatus.SUBMITTED)
        assert await limit_becomes(3) == 3
        another = await h.submit(named("song 7", 7))
        await h.until(another.id, TaskStatus.SUBMITTED)
        await asyncio.sleep(0.1)  # its lesson learned, whatever it was
        assert parallel.limit == 3  # not again before the interval is over
        clock.advance(interval)
        last = await h.submit(named("song 8", 8))
        await h.until(last.id, TaskStatus.SUBMITTED)
        assert await limit_becomes(4) == 4
        assert parallel.describe() == (
            "MusicGPT took only 2 at once earlier; using all 4 of MUSICGPT_MAX_PARALLEL=4 again"
        )
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


async def test_a_by_id_429_holds_the_polls_for_its_retry_after(
    make_harness, musicgpt: FakeMusicGPT, clock: FakeClock
) -> None:
    h = make_harness()
    polled_at: list[float] = []

    async def limited_once(kind: TaskKind, *, task_id: str | None = None, **_: Any):
        polled_at.append(clock.now())
        if len(polled_at) == 1:
            raise MusicGPTRateLimited("slow down", retry_after=30)
        return ConversionResult(ConversionStatus.COMPLETED, task_id, (), None, DONE.outputs, 1.0)

    musicgpt.get_conversion = limited_once  # type: ignore[method-assign]
    await h.tracker.start()
    task = await h.submit(sing())
    await h.until(task.id, TaskStatus.DELIVERED)
    assert len(polled_at) == 2 and polled_at[1] - polled_at[0] >= 30
    budget = h.tracker.poller.budget
    assert budget.per_minute == SETTINGS.musicgpt_polls_per_minute / 2
    assert h.tracker.health.reachable  # a 429 is MusicGPT answering


def test_poll_budget_halves_on_429_and_creeps_back_after_a_quiet_spell() -> None:
    clock = FakeClock(start=100.0)
    budget = PollBudget(per_minute=20, clock=clock, raise_interval=60.0)
    budget.limited(retry_after=None)
    assert budget.per_minute == 10
    assert budget.wait_time() == pytest.approx(6.0)  # the new spacing
    budget.limited(retry_after=None)  # answered together with the first: no second halving
    assert budget.per_minute == 10
    clock.advance(13)
    budget.limited(retry_after=45)
    assert budget.per_minute == 5 and budget.wait_time() == pytest.approx(45)
    assert budget.describe() == (
        "MusicGPT limited status checks; polling at 5 a minute of MUSICGPT_POLLS_PER_MINUTE=20"
    )
    budget.succeeded()
    assert budget.per_minute == 5  # too soon after the 429
    clock.advance(60)
    for _ in range(30):
        budget.succeeded()
    assert budget.per_minute == 20  # one a minute more per success, up to the setting


def test_musicgpt_is_failing_after_three_failures_in_a_row_or_five_minutes_of_them() -> None:
    clock = FakeClock()
    health = MusicGPTHealth(clock)
    assert health.reachable and health.key_accepted is None
    health.note(MusicGPTUnavailable("x"))
    health.note(MusicGPTSubmitUncertain("x"))
    assert health.reachable and health.consecutive_failures == 2
    health.note(MusicGPTUnavailable("x"))
    assert not health.reachable
    health.note(None)
    assert health.reachable and health.consecutive_failures == 0
    health.note(MusicGPTUnavailable("x"))
    clock.advance(MusicGPTHealth.FAILING_WINDOW - 1)
    health.note(MusicGPTUnavailable("x"))
    assert health.reachable  # two failures, not yet five minutes apart
    clock.advance(1)
    health.note(MusicGPTUnavailable("x"))
    assert not health.reachable
    # 429s and 401s are answers: MusicGPT is there.
    health.note(MusicGPTRateLimited("busy"))
    assert health.reachable
    health.note(MusicGPTConfigurationError("bad key"))
    assert health.reachable and health.key_accepted is False


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
    for _ in range(5):
        await asyncio.sleep(0)
    clock.advance(20)
    await asyncio.wait_for(stopping, 5)
    assert musicgpt.in_flight == 0  # cancelled
    task = await store.get_task(uploading.id)
    assert task is not None and task.status is TaskStatus.SUBMITTING  # the next start decides
    assert musicgpt.submits == []
