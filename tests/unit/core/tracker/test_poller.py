"""The poller (`bot/core/tracker/poller.py`): confirmations, failures, giving up, its budget."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from bot.core.errors import MusicGPTRateLimited, StorageError
from bot.core.models import (
    ConversionResult,
    ConversionStatus,
    SubmitReceipt,
    Task,
    TaskKind,
    TaskStatus,
)
from bot.core.store import Store
from bot.core.tracker import PollBudget
from tests.unit.conftest import FakeClock, drive
from tests.unit.core.tracker.conftest import DONE, SETTINGS, FakeMusicGPT, Harness, sing


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


async def test_musicgpt_failure_status_fails_the_task(harness: Harness, musicgpt) -> None:
    musicgpt.results = [ConversionResult(ConversionStatus.FAILED, message="vocal model crashed")]
    await harness.tracker.start()
    task = await harness.submit(sing())
    failed = await harness.until(task.id, TaskStatus.FAILED)
    assert "vocal model crashed" in (failed.error or "") and failed.quota_refunded


async def test_gives_up_after_the_limit_and_refunds(
    make_harness, store, musicgpt, clock, monkeypatch
) -> None:
    h = make_harness(poll_give_up_minutes=1)
    asked_at: list[float] = []
    ask = musicgpt.get_conversion

    async def timed(*args: Any, **kwargs: Any) -> ConversionResult:
        asked_at.append(clock.now())
        return await ask(*args, **kwargs)

    monkeypatch.setattr(musicgpt, "get_conversion", timed)
    await h.tracker.start()
    task = await h.submit(sing())
    failed = await h.until(task.id, TaskStatus.FAILED, step=1.0)
    assert "within 1 minute of" in (failed.error or "") and failed.quota_refunded
    # The fake gives no ETA, so every poll waits the shortest interval; none came sooner
    # (the last may be cut short by the deadline), and none came after the give-up.
    deadline = (failed.submitted_at or 0.0) + 60.0
    gaps = [b - a for a, b in itertools.pairwise(asked_at)]
    assert len(asked_at) >= 2
    assert all(gap >= 5.0 for gap in gaps[:-1]) and gaps[-1] > 0
    assert asked_at[-1] <= deadline + 1.0


async def due_tasks(store: Store, clock: FakeClock, n: int) -> list[int]:
    """`n` tasks at MusicGPT, each due for a poll now."""
    ids = []
    for user in range(1, n + 1):
        created = await store.create_task(sing(user), now=clock.now(), daily_quota=5, max_active=5)
        assert isinstance(created, Task) and await store.claim_next_queued(clock.now())
        receipt = SubmitReceipt(f"mg-{created.id}", ("c1",), 60, 1.0)
        await store.mark_submitted(created.id, receipt, next_poll_at=clock.now(), now=clock.now())
        ids.append(created.id)
    return ids


async def test_poll_budget_spaces_calls_evenly(store: Store) -> None:
    clock = FakeClock(start=100.0)
    budget = PollBudget(store, per_minute=20, clock=clock)
    first, second, third, fourth = await due_tasks(store, clock, 4)
    assert (await budget.claim(first))[0] is not None
    assert await budget.claim(second) == (None, pytest.approx(3.0))
    clock.advance(3.0)
    assert (await budget.claim(second))[0] is not None
    # A quiet spell earns no burst: after an hour idle, still one call per 3 s.
    clock.advance(3600)
    assert (await budget.claim(third))[0] is not None
    assert await budget.claim(fourth) == (None, pytest.approx(3.0))


async def test_a_spent_budget_is_known_without_asking_the_database(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other processes' wake-ups come often; while this process knows the budget is spent
    (its next call can only be later than it saw), it waits without a transaction."""
    clock = FakeClock(start=100.0)
    budget = PollBudget(store, per_minute=20, clock=clock)
    first, second = await due_tasks(store, clock, 2)
    assert (await budget.claim(first))[0] is not None
    real, claims = store.claim_poll, [0]

    async def counting(*args: Any, **kwargs: Any) -> Any:
        claims[0] += 1
        return await real(*args, **kwargs)

    monkeypatch.setattr(store, "claim_poll", counting)
    clock.advance(1.0)
    assert await budget.claim(second) == (None, pytest.approx(2.0))
    assert claims == [0]
    clock.advance(2.0)
    assert (await budget.claim(second))[0] is not None and claims == [1]


async def test_a_task_claimed_for_a_poll_is_held_and_costs_nothing_to_a_second_claimer(
    store: Store,
) -> None:
    """Two pollers (as in two processes) woken for one due task: one polls it, the other
    passes over it without spending the budget, and it is due again after the lease."""
    clock = FakeClock(start=100.0)
    mine = PollBudget(store, per_minute=20, clock=clock, lease=120.0)
    theirs = PollBudget(store, per_minute=20, clock=clock, lease=120.0)
    [task_id] = await due_tasks(store, clock, 1)
    claimed, _ = await mine.claim(task_id)
    assert claimed is not None and claimed.next_poll_at == 220.0
    clock.advance(3.0)  # the budget has a call to spend again
    assert await theirs.claim(task_id) == (None, 0.0)
    assert await store.polls_due(clock.now(), 10) == []
    assert (await store.shared_limit("polls")).next_allowed == 103.0  # nothing spent
    clock.advance(117.0)  # the process polling it died: the lease runs out
    assert (await theirs.claim(task_id))[0] is not None


async def test_a_429_one_budget_learns_slows_the_other(store: Store) -> None:
    clock = FakeClock(start=100.0)
    mine = PollBudget(store, per_minute=20, clock=clock, raise_interval=60.0)
    theirs = PollBudget(store, per_minute=20, clock=clock, raise_interval=60.0)
    first, second = await due_tasks(store, clock, 2)
    await mine.limited(retry_after=None)
    await theirs.refresh()
    assert theirs.per_minute == 10
    assert theirs.describe() == (
        "MusicGPT limited status checks; polling at 10 a minute of MUSICGPT_POLLS_PER_MINUTE=20"
    )
    clock.advance(6.0)  # the new spacing
    assert (await theirs.claim(first))[0] is not None
    assert await theirs.claim(second) == (None, pytest.approx(6.0))  # at the learned rate
    await theirs.limited(retry_after=None)  # refused with the first: no second halving
    assert theirs.per_minute == 10
    clock.advance(60)
    # After a quiet minute each answered poll, whichever process sent it, adds one a minute.
    await theirs.succeeded()
    await mine.succeeded()
    await theirs.refresh()
    assert mine.per_minute == theirs.per_minute == 12


async def test_poll_budget_halves_on_429_and_creeps_back_after_a_quiet_spell(
    store: Store,
) -> None:
    clock = FakeClock(start=100.0)
    budget = PollBudget(store, per_minute=20, clock=clock, raise_interval=60.0)
    [task_id] = await due_tasks(store, clock, 1)
    await budget.limited(retry_after=None)
    assert budget.per_minute == 10
    assert await budget.claim(task_id) == (None, pytest.approx(6.0))  # the new spacing
    await budget.limited(retry_after=None)  # answered together with the first: no second halving
    assert budget.per_minute == 10
    clock.advance(13)
    await budget.limited(retry_after=45)
    assert budget.per_minute == 5
    assert await budget.claim(task_id) == (None, pytest.approx(45))
    assert budget.describe() == (
        "MusicGPT limited status checks; polling at 5 a minute of MUSICGPT_POLLS_PER_MINUTE=20"
    )
    await budget.succeeded()
    assert budget.per_minute == 5  # too soon after the 429
    clock.advance(60)
    for _ in range(30):
        await budget.succeeded()
    assert budget.per_minute == 20  # one a minute more per success, up to the setting


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
    # Stored for every process: a budget reading the database anew sees it too.
    again = PollBudget(h.store, SETTINGS.musicgpt_polls_per_minute, clock)
    await again.refresh()
    assert again.per_minute == budget.per_minute
    assert h.tracker.health.reachable  # a 429 is MusicGPT answering


async def test_wake_ups_while_the_budget_is_spent_read_nothing(
    make_harness, store: Store, musicgpt: FakeMusicGPT, clock: FakeClock, monkeypatch
) -> None:
    """Every other process's submits and polls wake this poller; while its budget is spent
    (as it last saw it) a wake-up costs no query."""
    h = make_harness(musicgpt_polls_per_minute=1)  # one poll a minute
    await h.tracker.start()
    task = await h.submit(sing())

    async def polled_once() -> bool:
        return len(musicgpt.polls) == 1

    await drive(clock, polled_once)
    real, reads = store.polls_due, [0]

    async def counting(*args: Any, **kwargs: Any) -> list[Task]:
        reads[0] += 1
        return await real(*args, **kwargs)

    monkeypatch.setattr(store, "polls_due", counting)
    for _ in range(20):
        h.tracker.poller.wakeup.set()
        await asyncio.sleep(0.001)
    assert reads == [0] and len(musicgpt.polls) == 1
    musicgpt.results = [DONE]
    await h.until(task.id, TaskStatus.DELIVERED)  # once the minute is over, it polls again
    assert reads[0] >= 1 and len(musicgpt.polls) == 2
