"""The schema on each adapter: every migration applied once, Discord-sized ids, the three
kinds of song, and floats kept to the last bit. Runs once per adapter (see conftest)."""

from __future__ import annotations

import asyncio

from bot.core.models import Output, SubmitReceipt, Task, TaskKind
from bot.core.store import Store
from bot.core.store.migrate import migrations
from tests.unit.core.store.conftest import NOW, Adapter, make_request

BIG = 1_094_379_364_185_505_822  # a real Discord id: past 32 bits (and past 2**53)


async def test_every_migration_is_applied_once(adapter: Adapter, store: Store) -> None:
    assert await store.schema_version() == len(migrations(store.dialect))

    async def reopen() -> int:
        async with adapter.open() as again:
            return await again.schema_version()

    assert await asyncio.gather(reopen(), reopen()) == [len(migrations())] * 2


async def test_discord_ids_past_32_bits_round_trip(store: Store) -> None:
    request = make_request(BIG, guild_id=BIG + 1, channel_id=BIG + 2, thread_wanted=True)
    task = await store.create_task(request, now=NOW, daily_quota=5, max_active=5)
    assert isinstance(task, Task)
    assert (task.user_id, task.guild_id, task.channel_id) == (BIG, BIG + 1, BIG + 2)
    assert task.thread_wanted is True
    await store.set_status_message(task.id, BIG + 3)
    decided = await store.record_thread(task.id, BIG + 4)
    assert decided is not None and (decided.status_message_id, decided.thread_id) == (
        BIG + 3,
        BIG + 4,
    )
    await store.set_guild_setting(BIG, "budget", "5")
    assert await store.guild_settings(BIG) == {"budget": "5"}
    await store.set_dm_copies(BIG, True, NOW)
    assert await store.dm_copies(BIG)
    assert (await store.quota_usage(BIG, NOW)).used_today == 1
    assert [t.id for t in await store.recent_tasks(BIG, 5)] == [task.id]


async def test_extend_songs_and_exact_floats(store: Store) -> None:
    request = make_request(2, kind=TaskKind.EXTEND, replace_start=75.123456789, lyrics=None)
    task = await store.create_task(request, now=NOW + 0.123456, daily_quota=5, max_active=5)
    assert isinstance(task, Task) and task.kind is TaskKind.EXTEND
    assert task.extend_after == 75.123456789
    assert task.created_at == NOW + 0.123456  # a float64, not PostgreSQL's 32-bit REAL
    await store.claim_next_queued(NOW)
    receipt = SubmitReceipt("mg", ("c",), eta_seconds=3, credit_estimate=0.1234567)
    submitted = await store.mark_submitted(task.id, receipt, next_poll_at=NOW, now=NOW)
    assert submitted is not None and submitted.credit_estimate == 0.1234567
    done = await store.mark_completed(task.id, [Output("u", "c", 1.5)], 2.25, NOW)
    assert done is not None and done.cost == 2.25 and done.outputs[0].audio_url == "u"
