"""The smaller repositories (settings.py, copies.py, inputs.py, waveforms.py, threads.py,
usage.py): each one's statements and guards. Runs once per adapter (see conftest)."""

from __future__ import annotations

from bot.core.models import SubmitReceipt, Task, WaveformState
from bot.core.store import Store, utc_day
from tests.unit.core.store.conftest import NOW, create, make_request


async def test_values_and_guild_settings(store: Store) -> None:
    assert await store.get_value("k") is None
    assert await store.get_or_create_value("k", "a") == "a"
    assert await store.get_or_create_value("k", "b") == "a"
    await store.set_value("k", "c")
    assert await store.get_value("k") == "c"
    await store.set_guild_setting(1, "budget", "5")
    await store.set_guild_setting(1, "budget", "6")
    await store.set_guild_setting(2, "budget", "7")
    assert await store.guild_settings(1) == {"budget": "6"}
    await store.set_guild_setting(1, "budget", None)
    assert await store.guild_settings(1) == {}


async def test_a_copy_is_claimed_once_and_settled_once(store: Store) -> None:
    await store.set_dm_copies(1, True, NOW)
    assert await store.dm_copies(1) and not await store.dm_copies(2)
    task = await create(store)
    await store.claim_next_queued(NOW)
    await store.mark_submitted(
        task.id, SubmitReceipt("m", ("c",), None, None), next_poll_at=NOW, now=NOW
    )
    await store.mark_completed(task.id, [], None, NOW)
    await store.claim_delivery(task.id, NOW)
    delivered = await store.mark_delivered(task.id, [5], NOW)
    assert delivered is not None and delivered.dm_state == "pending"
    assert [t.id for t in await store.tasks_awaiting_copy()] == [task.id]
    assert await store.claim_copy(task.id, NOW) is not None
    assert await store.claim_copy(task.id, NOW) is None
    assert await store.release_copy(task.id, NOW) is not None
    assert await store.claim_copy(task.id, NOW) is not None
    sent = await store.record_copy(task.id, "sent", 9, NOW)
    assert sent is not None and (sent.dm_state, sent.dm_message_id, sent.dm_attempts) == (
        "sent",
        9,
        2,
    )
    assert await store.give_up_copy(task.id, NOW) is None
    assert await store.tasks_awaiting_copy() == []


async def test_kept_inputs_and_the_tasks_that_need_them(store: Store) -> None:
    await store.put_input("aa", "mp3", 10, NOW)
    await store.put_input("bb", "wav", 20, NOW - 5)
    assert await store.touch_input("aa", NOW - 100)  # never back in time
    assert (await store.get_input("aa")).last_used_at == NOW  # type: ignore[union-attr]
    assert not await store.touch_input("zz", NOW)
    task = await create(store)
    await store.set_task_input(task.id, "bb")
    kept = await store.kept_inputs()
    assert [(k.sha256, k.needed) for k in kept] == [("bb", True), ("aa", False)]
    assert not await store.delete_input("bb")  # a queued task needs it
    assert await store.delete_input("aa")
    await store.forget_input("bb")
    assert await store.kept_inputs() == []


async def test_a_waveform_moves_only_from_where_it_stands(store: Store) -> None:
    task = await create(store)
    assert not await store.set_waveform_state(
        task.id, WaveformState.POSTED, was=WaveformState.READY
    )
    assert await store.set_waveform_state(task.id, WaveformState.READY, was=None)
    assert not await store.set_waveform_state(task.id, WaveformState.NONE, was=None)
    assert await store.set_waveform_state(task.id, WaveformState.POSTED, was=WaveformState.READY)
    after = await store.get_task(task.id)
    assert after is not None and after.waveform_state is WaveformState.POSTED


async def test_a_thread_is_decided_once(store: Store) -> None:
    task = await store.create_task(
        make_request(thread_wanted=True), now=NOW, daily_quota=5, max_active=5
    )
    assert isinstance(task, Task)
    await store.set_status_message(task.id, 77)
    assert [t.id for t in await store.tasks_awaiting_thread()] == [task.id]
    assert await store.record_thread(task.id, 88) is not None
    assert await store.record_thread_refusal(task.id, "no") is None
    assert await store.tasks_awaiting_thread() == []


async def test_spend_and_usage_count_charged_unrefunded_credits(store: Store) -> None:
    first, second = await create(store, user_id=1), await create(store, user_id=2)
    for task in (first, second):
        await store.claim_next_queued(NOW)
        receipt = SubmitReceipt(f"m{task.id}", ("c",), None, 10.0)
        await store.mark_submitted(task.id, receipt, next_poll_at=NOW, now=NOW)
    await store.mark_completed(second.id, [], 30.0, NOW)
    third = await create(store, user_id=1)
    await store.mark_failed(third.id, "no", NOW)
    day = utc_day(NOW)
    assert await store.guild_spend(10, day) == 40.0
    total, top = await store.guild_usage(10, day, f"{day}~", top=5)
    assert (total.requests, total.credits) == (2, 40.0)
    assert [(u.user_id, u.requests, u.credits) for u in top] == [(2, 1, 30.0), (1, 1, 10.0)]
