"""The status renderer's one drawing path: a song's confirmation asks for its first status
through the same coalescing renders as every change (`render_now`), never beside them."""

from __future__ import annotations

import asyncio

from bot.core.models import SubmitReceipt
from bot.core.store import Store
from tests.unit.test_status_renderer import FakeChannel, make_renderer, queued_task, until


async def test_render_now_draws_at_once_and_returns_once_drawn(store: Store) -> None:
    channel = FakeChannel()
    renderer, _ = make_renderer(store, channel)
    task = await queued_task(store)
    await renderer.render_now(task.id)
    assert len(channel.shown) == 1 and not renderer._rendering
    fresh = await store.get_task(task.id)
    assert fresh is not None and fresh.status_message_id == 500  # there to be linked
    await renderer.render_now(task.id)  # nothing changed: no edit
    assert len(channel.shown) == 1


async def test_render_now_during_a_render_joins_it_and_draws_the_latest_state(
    store: Store,
) -> None:
    channel = FakeChannel()
    renderer, events = make_renderer(store, channel)
    consumer = asyncio.create_task(renderer._consume())
    try:
        task = await queued_task(store)
        await renderer.render_now(task.id)
        channel.gate.clear()  # the next edit hangs, as a slow Discord would
        await store.claim_next_queued(2.0)
        events.publish(task.id)
        await until(lambda: channel.waiting == 1, "the edit to hang")
        receipt = SubmitReceipt("mg-1", ("c1",), 60, 1.0)
        await store.mark_submitted(task.id, receipt, next_poll_at=99.0, now=3.0)
        asked = asyncio.create_task(renderer.render_now(task.id))
        await asyncio.sleep(0.01)
        assert not asked.done()  # waits for the render under way, then one more
        channel.gate.set()
        await asked
        assert "MusicGPT is working on it" in channel.shown[-1][1]
        assert len(channel.shown) == 3 and not renderer._rendering
    finally:
        consumer.cancel()
