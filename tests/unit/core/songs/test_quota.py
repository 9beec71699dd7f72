"""Quota decisions and wording, over a real store and a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.errors import QuotaExceeded
from bot.core.models import QuotaLimits, QuotaRefusal, Request, TaskKind
from bot.core.songs.quota import QuotaService, describe_wait, next_reset
from bot.core.store import Store
from tests.unit.conftest import FakeClock

NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC).timestamp()


def request(user_id: int = 1) -> Request:
    return Request(TaskKind.SING, user_id, 10, 20, "ballad", "la", audio_url="https://x/a.mp3")


async def test_check_refuses_the_daily_limit_naming_the_reset(store: Store) -> None:
    clock = FakeClock(start=NOON)
    quota = QuotaService(store, QuotaLimits(daily=1, active=5), clock=clock)
    assert (await quota.check(1)).used_today == 0
    await store.create_task(request(), now=NOON, daily_quota=1, max_active=5)
    with pytest.raises(
        QuotaExceeded, match=r"You've made today's song\. .* resets at 00:00 UTC \(in 12 h\)"
    ):
        await quota.check(1)
    await quota.check(2)  # someone else is unaffected
    clock.advance(12 * 3600)  # a new UTC day
    assert (await quota.check(1)).used_today == 0


async def test_check_refuses_too_many_in_progress(store: Store) -> None:
    quota = QuotaService(store, QuotaLimits(daily=5, active=1), clock=FakeClock(start=NOON))
    await store.create_task(request(), now=NOON, daily_quota=5, max_active=1)
    with pytest.raises(QuotaExceeded, match="already have 1 of 1 song in progress"):
        await quota.check(1)


async def test_a_refusal_from_the_store_is_worded_the_same_way(store: Store) -> None:
    quota = QuotaService(store, QuotaLimits(daily=1, active=5), clock=FakeClock(start=NOON))
    await store.create_task(request(), now=NOON, daily_quota=1, max_active=5)
    refusal = await store.create_task(request(), now=NOON, daily_quota=1, max_active=5)
    assert isinstance(refusal, QuotaRefusal)
    assert "resets at 00:00 UTC" in quota.refused(refusal).user_message


def test_reset_arithmetic() -> None:
    assert next_reset(NOON) == NOON + 12 * 3600
    assert describe_wait(59) == "1 min"
    assert describe_wait(3 * 3600 + 25 * 60) == "3 h 25 min"
    assert describe_wait(2 * 3600) == "2 h"
