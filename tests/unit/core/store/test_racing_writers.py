"""Two stores on one database (two connections, as two processes would have) writing the same
row at the same moment: every guarded step of a song's life, its refund, its DM copy, its
thread, and the values the processes share. Exactly one writer wins each step, and what the
loser would have written (a second refund, a second copy, a second secret) never lands.

These steps were once kept apart by a lock inside one process; now only the database keeps
them apart, so each is raced here on both adapters (test_two_writers.py has the claim, the
cancel and the quota charge)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

import pytest

from bot.core.models import Output, SubmitReceipt, Task, TaskStatus
from bot.core.store import Store
from tests.unit.core.store.conftest import NOW, Adapter, create, make_request

T = TypeVar("T")
U = TypeVar("U")
ROUNDS = 8  # each race run this many times, on fresh songs: one lucky ordering proves little
OUTPUTS = [Output("http://x/a.mp3", "c1", 1.0)]


def receipt(task: Task) -> SubmitReceipt:
    return SubmitReceipt(f"mg-{task.id}", ("c1",), eta_seconds=1, credit_estimate=1.0)


@pytest.fixture
async def other(adapter: Adapter) -> AsyncIterator[Store]:
    """A second store on the test's database: a pool (or file connection) of its own."""
    async with adapter.open() as opened:
        yield opened


async def submitted(store: Store, user_id: int) -> Task:
    task = await create(store, user_id=user_id, active=100, quota=100)
    assert await store.claim_next_queued(NOW) is not None
    assert await store.mark_submitted(task.id, receipt(task), next_poll_at=NOW, now=NOW)
    return task


async def delivering(store: Store, user_id: int) -> Task:
    task = await submitted(store, user_id)
    assert await store.mark_completed(task.id, OUTPUTS, 1.0, NOW)
    assert await store.claim_delivery(task.id, NOW)
    return task


async def race(first: Awaitable[T], second: Awaitable[U]) -> tuple[T, U]:
    """Both writes sent at once, each on its own connection."""
    return await asyncio.gather(first, second)


async def test_two_processes_failing_one_song_refund_it_once(store: Store, other: Store) -> None:
    # A lease sweeper and the submitter's own error path, say.
    for user in range(ROUNDS):
        task = await submitted(store, user)
        a, b = await race(
            store.mark_failed(task.id, "first", NOW),
            other.mark_failed(task.id, "second", NOW),
        )
        assert (a is None) != (b is None)
        final = await store.get_task(task.id)
        assert final is not None and final.status is TaskStatus.FAILED and final.quota_refunded
        assert (await store.quota_usage(user, NOW)).used_today == 0


async def test_a_submit_recorded_while_another_fails_the_song_never_both_land(
    store: Store, other: Store
) -> None:
    for user in range(ROUNDS):
        task = await create(store, user_id=user, active=100, quota=100)
        assert await store.claim_next_queued(NOW) is not None
        recorded, failed = await race(
            store.mark_submitted(task.id, receipt(task), next_poll_at=NOW, now=NOW),
            other.mark_failed(task.id, "taken over", NOW),
        )
        final = await store.get_task(task.id)
        assert final is not None
        if failed is not None:
            # The failure may come after the submit was recorded (both are legal in turn),
            # but then the song ends failed and refunded, never submitted and refunded.
            assert final.status is TaskStatus.FAILED and final.quota_refunded
        else:
            assert recorded is not None and final.status is TaskStatus.SUBMITTED
            assert not final.quota_refunded
        used = (await store.quota_usage(user, NOW)).used_today
        assert used == (0 if final.quota_refunded else 1)


async def test_a_429_requeue_racing_a_failure_ends_one_way(store: Store, other: Store) -> None:
    for user in range(ROUNDS):
        task = await create(store, user_id=user, active=100, quota=100)
        assert await store.claim_next_queued(NOW) is not None
        requeued, failed = await race(
            store.requeue(task.id, NOW),
            other.mark_failed(task.id, "gone", NOW),
        )
        final = await store.get_task(task.id)
        assert final is not None
        if failed is None:
            assert requeued is not None and final.status is TaskStatus.QUEUED
            assert not final.quota_refunded
        else:
            assert final.status is TaskStatus.FAILED and final.quota_refunded


async def test_two_posters_recording_one_delivery_record_it_once(
    store: Store, other: Store
) -> None:
    for user in range(ROUNDS):
        task = await delivering(store, user)
        a, b = await race(
            store.mark_delivered(task.id, [1], NOW),
            other.mark_delivered(task.id, [2], NOW),
        )
        assert (a is None) != (b is None)
        final = await store.get_task(task.id)
        assert final is not None and final.status is TaskStatus.DELIVERED
        assert list(final.delivered_message_ids) == ([1] if a is not None else [2])


async def test_a_delivery_released_while_another_records_it_ends_one_way(
    store: Store, other: Store
) -> None:
    for user in range(ROUNDS):
        task = await delivering(store, user)
        delivered, released = await race(
            store.mark_delivered(task.id, [7], NOW),
            other.release_delivery(task.id, NOW),
        )
        assert (delivered is None) != (released is None)
        final = await store.get_task(task.id)
        assert final is not None
        expected = TaskStatus.DELIVERED if delivered is not None else TaskStatus.COMPLETED
        assert final.status is expected


async def test_two_processes_claiming_one_dm_copy_send_it_once(store: Store, other: Store) -> None:
    for user in range(ROUNDS):
        await store.set_dm_copies(user, True, NOW)
        task = await delivering(store, user)
        assert await store.mark_delivered(task.id, [1], NOW)
        a, b = await race(store.claim_copy(task.id, NOW), other.claim_copy(task.id, NOW))
        assert (a is None) != (b is None)
        winner = store if a is not None else other
        assert await winner.record_copy(task.id, "sent", 99, NOW)
        assert await store.claim_copy(task.id, NOW) is None


async def test_two_processes_opening_a_thread_for_one_song_record_one(
    store: Store, other: Store
) -> None:
    for user in range(ROUNDS):
        task = await store.create_task(
            make_request(user, thread_wanted=True), now=NOW, daily_quota=100, max_active=100
        )
        assert isinstance(task, Task)
        a, b = await race(
            store.record_thread(task.id, 1000 + user),
            other.record_thread_refusal(task.id, "no permission"),
        )
        assert (a is None) != (b is None)
        final = await store.get_task(task.id)
        assert final is not None
        if a is not None:
            assert (final.thread_id, final.thread_refusal) == (1000 + user, None)
        else:
            assert (final.thread_id, final.thread_refusal) == (None, "no permission")


async def test_two_processes_starting_at_once_agree_on_one_secret(
    store: Store, other: Store
) -> None:
    for n in range(ROUNDS):
        key = f"webhook_secret_{n}"
        a, b = await race(
            store.get_or_create_value(key, "made by the first"),
            other.get_or_create_value(key, "made by the second"),
        )
        assert a == b == await store.get_value(key)


async def test_two_owners_changing_settings_at_once_lose_neither(
    store: Store, other: Store
) -> None:
    for guild in range(ROUNDS):
        await race(
            store.set_guild_setting(guild, "language", '"de"'),
            other.set_guild_setting(guild, "threads", "true"),
        )
        assert await store.guild_settings(guild) == {"language": '"de"', "threads": "true"}
