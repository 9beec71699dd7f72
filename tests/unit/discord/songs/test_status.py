"""The status renderer with a fake channel: coalescing per task, latest state wins, a
failing edit that doesn't stop the others, and its one drawing path (a song's confirmation
asks for its first status through the same renders, `render_now`). The tracker's events and
the store are real."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import discord

from bot.core.models import Output, Request, SubmitReceipt, Task, TaskKind
from bot.core.store import Store
from bot.core.tracker.events import TaskEvents
from bot.discord.songs.status import StatusRenderer


class FakeMessage:
    def __init__(self, channel: FakeChannel, message_id: int) -> None:
        self.channel, self.id = channel, message_id

    async def edit(
        self,
        *,
        embed: discord.Embed,
        view: discord.ui.View | None,
        allowed_mentions: discord.AllowedMentions,
    ) -> None:
        self.channel.mentions.append(allowed_mentions)
        self.channel.views.append(_custom_ids(view))
        await self.channel.record(self.id, embed)


def _custom_ids(view: discord.ui.View | None) -> list[str]:
    if view is None:
        return []
    return [str(item.to_component_dict()["custom_id"]) for item in view.children]


class FakeChannel:
    def __init__(self) -> None:
        self.shown: list[tuple[int, str]] = []  # (message id, embed description)
        self.mentions: list[discord.AllowedMentions] = []  # what each send and edit allowed
        self.views: list[list[str]] = []  # the buttons' custom_ids each send and edit carried
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = False
        self.waiting = 0  # edits held at the gate
        self._ids = iter(range(500, 600))
        self.nonces: list[str | None] = []  # each send's nonce
        self.history_messages: list[Any] = []  # what history() yields, newest first

    async def history(self, **_: Any) -> Any:
        for message in self.history_messages:
            yield message

    async def record(self, message_id: int, embed: discord.Embed) -> None:
        self.waiting += 1
        await self.gate.wait()
        self.waiting -= 1
        if self.fail_next:
            self.fail_next = False
            raise discord.HTTPException(SimpleNamespace(status=500, reason="boom"), "boom")
        self.shown.append((message_id, embed.description or ""))

    async def send(
        self,
        *,
        embed: discord.Embed,
        view: discord.ui.View | None,
        allowed_mentions: discord.AllowedMentions,
        nonce: str | None = None,
    ) -> FakeMessage:
        self.nonces.append(nonce)
        self.mentions.append(allowed_mentions)
        self.views.append(_custom_ids(view))
        message = FakeMessage(self, next(self._ids))
        await self.record(message.id, embed)
        return message

    def get_partial_message(self, message_id: int) -> FakeMessage:
        return FakeMessage(self, message_id)


BOT_ID = 99


async def ready() -> None:
    return None


async def english(guild_id: int | None) -> str | None:
    return None


def make_renderer(store: Store, channel: FakeChannel) -> tuple[StatusRenderer, TaskEvents]:
    events = TaskEvents()
    idle = asyncio.Event()
    idle.set()
    bot = SimpleNamespace(
        store=store,
        tracker=SimpleNamespace(events=events, delivery=SimpleNamespace(idle=idle)),
        wait_until_ready=ready,
        public_locale=english,
        channel_for=lambda task: channel,
        status_channel_for=lambda task: channel,
        waveforms=None,
        user=SimpleNamespace(id=BOT_ID),
    )
    return StatusRenderer(bot), events  # type: ignore[arg-type]


async def queued_task(store: Store, user_id: int = 1) -> Task:
    request = Request(TaskKind.SING, user_id, 10, 20, "ballad", "la", audio_url="https://x/a")
    task = await store.create_task(request, now=1.0, daily_quota=9, max_active=9)
    assert isinstance(task, Task)
    return task


async def until(condition: Any, what: str) -> None:
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never saw {what}")


async def test_changes_during_an_edit_fold_into_one_more_edit_of_the_latest_state(
    store: Store,
) -> None:
    channel = FakeChannel()
    renderer, events = make_renderer(store, channel)
    consumer = asyncio.create_task(renderer._consume())
    try:
        task = await queued_task(store)
        events.publish(task.id)
        await until(lambda: len(channel.shown) == 1, "the first status message")
        assert "Waiting for a free MusicGPT slot" in channel.shown[0][1]

        channel.gate.clear()  # the next edit hangs, as a slow Discord would
        await store.claim_next_queued(2.0)
        events.publish(task.id)
        await until(lambda: channel.waiting == 1, "the edit to hang")
        receipt = SubmitReceipt("mg-1", ("c1",), 60, 1.0)
        await store.mark_submitted(task.id, receipt, next_poll_at=99.0, now=3.0)
        for _ in range(5):  # more changes while that edit hangs
            events.publish(task.id)
        await until(lambda: events.pending() == 0, "the renderer to take the changes")
        channel.gate.set()
        await until(lambda: not renderer._rendering, "the renders to finish")
        # One edit for the change it was showing, one for everything after: no more.
        assert len(channel.shown) == 3
        assert "Sending your audio" in channel.shown[1][1]
        assert "MusicGPT is working on it" in channel.shown[2][1]
        assert {message_id for message_id, _ in channel.shown} == {500}  # edited in place
        # Cancel while queued, gone once the task went to MusicGPT.
        assert channel.views == [[f"song:cancel:{task.id}"], [], []]
        # The embed names the requester; neither the send nor any edit may ping anyone.
        assert len(channel.mentions) == 3
        assert all(m.to_dict() == {"parse": []} for m in channel.mentions)
    finally:
        consumer.cancel()


async def test_a_failed_edit_is_logged_and_the_next_change_renders(store: Store) -> None:
    channel = FakeChannel()
    renderer, events = make_renderer(store, channel)
    consumer = asyncio.create_task(renderer._consume())
    try:
        first, second = await queued_task(store, 1), await queued_task(store, 2)
        channel.fail_next = True
        events.publish(first.id)
        await until(lambda: not channel.fail_next, "the failing edit")
        events.publish(second.id)
        events.publish(first.id)
        await until(lambda: len(channel.shown) == 2, "both status messages")
        stored = [await store.get_task(t.id) for t in (first, second)]
        assert all(t is not None and t.status_message_id for t in stored)
    finally:
        consumer.cancel()


async def test_a_song_posted_at_once_skips_the_posting_stage(store: Store) -> None:
    channel = FakeChannel()
    renderer, events = make_renderer(store, channel)
    consumer = asyncio.create_task(renderer._consume())
    try:
        task = await queued_task(store)
        events.publish(task.id)
        await until(lambda: len(channel.shown) == 1, "the first status message")
        now = time.time()
        await store.claim_next_queued(now)
        await store.mark_submitted(
            task.id, SubmitReceipt("mg-1", ("c1",), 60, 1.0), next_poll_at=now, now=now
        )
        await store.mark_completed(task.id, [Output("http://mg/a.wav")], 1.0, now)
        events.publish(task.id)
        await until(lambda: events.pending() == 0 and not renderer._rendering, "a render")
        assert len(channel.shown) == 1  # "Done! Posting…" held back for a moment
        await store.claim_delivery(task.id, now)
        await store.mark_delivered(task.id, [900], now)
        events.publish(task.id)
        await until(lambda: len(channel.shown) == 2, "the final status")
        assert "Posted 1 take below" in channel.shown[1][1]
    finally:
        consumer.cancel()


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


async def test_a_status_a_killed_run_sent_but_never_recorded_is_adopted(store: Store) -> None:
    """Its task predates this process: the channel is searched first, its status edited."""
    channel = FakeChannel()
    task = await queued_task(store)
    other = SimpleNamespace(author=SimpleNamespace(id=BOT_ID), embeds=[discord.Embed(title="x")])
    theirs = SimpleNamespace(
        id=777,
        author=SimpleNamespace(id=5),
        embeds=[discord.Embed(title=f"song #{task.id}")],
    )
    ours = SimpleNamespace(
        id=444,
        author=SimpleNamespace(id=BOT_ID),
        embeds=[discord.Embed(title=f"🎤 Singing · song #{task.id}")],
    )
    channel.history_messages = [other, theirs, ours]
    renderer, _ = make_renderer(store, channel)
    await renderer.render_now(task.id)
    assert channel.nonces == []  # nothing sent
    assert [message_id for message_id, _ in channel.shown] == [444]
    stored = await store.get_task(task.id)
    assert stored is not None and stored.status_message_id == 444


async def test_a_first_status_is_sent_with_the_tasks_nonce(store: Store) -> None:
    channel = FakeChannel()
    task = await queued_task(store)
    renderer, _ = make_renderer(store, channel)
    await renderer.render_now(task.id)  # nothing in history: sent, idempotently
    assert channel.nonces == [f"s{task.id}-1000"]  # asked at 1.0 s
