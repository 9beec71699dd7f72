"""A server's credit spend (the store's query) and the daily budget's refusal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.models import Request, SubmitReceipt, Task, TaskKind
from bot.core.servers.guild_settings import GuildSettingsService
from bot.core.songs.budget import Budget, BudgetReached, Spend, credits
from bot.core.store import Store, utc_day
from tests.unit.conftest import FakeClock

# 2026-12-01 23:00 UTC: an hour before the day (and month) changes.
LATE = datetime(2026, 12, 1, 23, 0, tzinfo=UTC).timestamp()
GUILD, OTHER_GUILD = 10, 11
NEXT_MONTH = datetime(2027, 1, 1, 0, 30, tzinfo=UTC).timestamp()
LAST_MONTH = datetime(2026, 11, 30, 23, 59, tzinfo=UTC).timestamp()


def request(user_id: int = 1, guild_id: int | None = GUILD) -> Request:
    return Request(
        kind=TaskKind.SING,
        user_id=user_id,
        guild_id=guild_id,
        channel_id=20,
        prompt="soft piano",
        lyrics="la",
    )


async def spend(
    store: Store,
    *,
    now: float = LATE,
    estimate: float | None = None,
    cost: float | None = None,
    user_id: int = 1,
    guild_id: int | None = GUILD,
) -> Task:
    """A charged task; submitted with `estimate` and completed with `cost` when given."""
    task = await store.create_task(
        request(user_id, guild_id), now=now, daily_quota=100, max_active=100
    )
    assert isinstance(task, Task)
    if estimate is None and cost is None:
        return task
    claimed = await store.claim_next_queued(now)
    assert claimed is not None and claimed.id == task.id
    receipt = SubmitReceipt("mg-" + str(task.id), ("c1",), 30, estimate)
    assert await store.mark_submitted(task.id, receipt, next_poll_at=now, now=now)
    if cost is not None:
        assert await store.mark_completed(task.id, [], cost, now)
    return task


async def test_estimate_counts_until_the_cost_replaces_it(store: Store) -> None:
    await spend(store, estimate=50)
    assert await store.guild_spend(GUILD, utc_day(LATE)) == 50
    await spend(store, estimate=50, cost=1.25)
    assert await store.guild_spend(GUILD, utc_day(LATE)) == 51.25


async def test_queued_tasks_have_no_credits_yet(store: Store) -> None:
    await spend(store)  # charged, never submitted: MusicGPT hasn't priced it
    assert await store.guild_spend(GUILD, utc_day(LATE)) == 0


async def test_refunded_tasks_count_nothing(store: Store) -> None:
    failed = await spend(store, estimate=50)
    await spend(store, estimate=7)
    assert await store.mark_failed(failed.id, "MusicGPT said no", LATE)
    assert await store.guild_spend(GUILD, utc_day(LATE)) == 7
    cancelled = await spend(store)
    assert await store.cancel_queued(cancelled.id, 1, LATE)
    assert await store.guild_spend(GUILD, utc_day(LATE)) == 7


async def test_a_task_counts_on_the_day_it_was_charged(store: Store) -> None:
    await spend(store, now=LATE, estimate=50)
    tomorrow = LATE + 3600  # 00:00 UTC the next day
    await spend(store, now=tomorrow, estimate=3)
    assert await store.guild_spend(GUILD, utc_day(LATE)) == 50
    assert await store.guild_spend(GUILD, utc_day(tomorrow)) == 3
    assert utc_day(tomorrow) == "2026-12-02"


async def test_each_server_has_its_own_spend(store: Store) -> None:
    await spend(store, estimate=50)
    await spend(store, estimate=4, guild_id=OTHER_GUILD)
    await spend(store, estimate=9, guild_id=None)  # a DM: nobody's budget
    assert await store.guild_spend(GUILD, utc_day(LATE)) == 50
    assert await store.guild_spend(OTHER_GUILD, utc_day(LATE)) == 4


async def test_the_spend_query_uses_the_day_index(store: Store) -> None:
    from bot.core.store import usage

    plan = await store._db.fetch(
        f"EXPLAIN QUERY PLAN SELECT SUM({usage._CREDITS}) FROM {usage._CHARGED}",  # noqa: S608
        (GUILD, "2026-12-01", "2026-12-02"),
    )
    assert any("quota_by_day" in row[3] for row in plan), [tuple(r) for r in plan]


async def test_usage_per_member_and_total(store: Store) -> None:
    await spend(store, user_id=1, estimate=50, cost=2)
    await spend(store, user_id=1, estimate=50)
    await spend(store, user_id=2, estimate=50, cost=60)
    refunded = await spend(store, user_id=4, estimate=50)
    assert await store.mark_failed(refunded.id, "no", LATE)
    await spend(store, user_id=5, estimate=50, guild_id=OTHER_GUILD)
    await spend(store, user_id=6, estimate=50, now=NEXT_MONTH)
    await spend(store, user_id=7, estimate=50, now=LAST_MONTH)
    await spend(store, user_id=3)  # charged, not priced yet: a request, no credits
    total, top = await store.guild_usage(GUILD, "2026-12-01", "2027-01-01", top=10)
    assert (total.requests, total.credits) == (4, 112)
    assert [(u.user_id, u.requests, u.credits) for u in top] == [(2, 1, 60), (1, 2, 52), (3, 1, 0)]
    total, top = await store.guild_usage(GUILD, "2026-12-01", "2027-01-01", top=2)
    assert [u.user_id for u in top] == [2, 1] and total.requests == 4  # total counts everyone


@pytest.fixture
def budget(store: Store) -> tuple[Budget, GuildSettingsService, FakeClock]:
    settings = GuildSettingsService(store)
    clock = FakeClock(start=LATE)
    return Budget(store, settings, clock=clock), settings, clock


async def test_refused_once_the_spend_reaches_the_budget(store: Store, budget) -> None:
    check, settings, clock = budget
    await settings.set_budget(GUILD, 100)
    await spend(store, estimate=60)
    await check.check(GUILD)  # 60 of 100: allowed
    await spend(store, estimate=40)
    with pytest.raises(BudgetReached) as refused:
        await check.check(GUILD)
    message = refused.value.user_message
    assert "100 of 100 credits" in message and "resets at 00:00 UTC (in 1 h)" in message
    await check.check(OTHER_GUILD)  # another server, no budget
    await check.check(None)
    clock.advance(3600)  # a new UTC day
    await check.check(GUILD)


async def test_no_budget_never_refuses(store: Store, budget) -> None:
    check, settings, _ = budget
    await spend(store, estimate=10_000)
    await check.check(GUILD)
    assert await check.today(GUILD) == Spend(10_000, None)
    await settings.set_budget(GUILD, 50)
    assert (await check.today(GUILD)).reached
    await settings.set_budget(GUILD, 0)  # 0 removes it
    await check.check(GUILD)


def test_credits_read_plainly() -> None:
    assert [credits(x) for x in (50, 1.25, 0, 1234.5)] == ["50", "1.25", "0", "1,234.5"]
