"""Votes on takes and what /song reads: the contract every adapter keeps, including a
toggle that stays one toggle when two connections click at once."""

from __future__ import annotations

import asyncio

from bot.core.models import Task
from bot.core.store import Store
from bot.core.store.votes import VoteMessage
from tests.unit.core.store.conftest import NOW, Adapter, create, make_request


async def test_a_vote_toggles_and_counts_per_take(store: Store) -> None:
    task = await create(store)
    assert await store.vote_counts(task.id) == {}
    assert await store.toggle_vote(task.id, 2, 100) is True
    assert await store.toggle_vote(task.id, 2, 101) is True
    assert await store.toggle_vote(task.id, 1, 100) is True  # both takes, once each
    assert await store.vote_counts(task.id) == {1: 1, 2: 2}
    assert await store.toggle_vote(task.id, 2, 100) is False  # taken back
    assert await store.vote_counts(task.id) == {1: 1, 2: 1}
    other = await create(store)
    assert await store.vote_counts(other.id) == {}


async def test_votes_survive_reopening(adapter: Adapter) -> None:
    async with adapter.open() as first:
        task = await create(first)
        await first.toggle_vote(task.id, 1, 5)
    async with adapter.open() as again:
        assert await again.vote_counts(task.id) == {1: 1}
        assert await again.schema_version() >= 10


async def test_two_connections_toggling_at_once_each_toggle_once(
    adapter: Adapter, store: Store
) -> None:
    task = await create(store)
    async with adapter.open() as other:
        # The same member's clicks racing on two connections: 21 toggles, so counted.
        answers = await asyncio.gather(
            *(s.toggle_vote(task.id, 1, 7) for _ in range(10) for s in (store, other)),
            store.toggle_vote(task.id, 1, 7),
        )
        # Many members at once, on both connections: every vote counted.
        await asyncio.gather(
            *(s.toggle_vote(task.id, 2, user) for user in range(30) for s in (store, other))
        )
        await asyncio.gather(*(other.toggle_vote(task.id, 2, user) for user in range(30, 40)))
    assert answers.count(True) == 11 and answers.count(False) == 10
    assert await store.vote_counts(task.id) == {1: 1, 2: 10}


async def test_a_song_of_this_server_and_its_children(store: Store) -> None:
    parent = await create(store)
    assert await store.task_in_guild(10, parent.id) == parent
    assert await store.task_in_guild(11, parent.id) is None  # another server's number
    assert await store.task_in_guild(10, parent.id + 1000) is None
    kids = []
    for _ in range(2):
        child = await store.create_task(
            make_request(2, parent_task_id=parent.id), now=NOW, daily_quota=5, max_active=5
        )
        assert isinstance(child, Task)
        kids.append(child)
    assert [t.id for t in await store.children_of(parent.id)] == [k.id for k in kids]
    assert await store.children_of(kids[0].id) == []


async def test_a_message_with_counts_to_show_until_an_edit_shows_them(store: Store) -> None:
    task = await create(store)
    message = VoteMessage(channel_id=20, message_id=555, task_id=task.id)
    assert await store.votes_not_shown(0) == []
    await store.vote_changed(message, NOW)
    assert await store.votes_not_shown(NOW - 10) == [message]
    assert await store.votes_not_shown(NOW + 1) == []  # too long ago to redraw
    await store.votes_shown(555, NOW + 0.5)  # counts read after the change: shown
    assert await store.votes_not_shown(0) == []
    await store.vote_changed(message, NOW + 2)  # another click
    await store.votes_shown(555, NOW + 1)  # an edit that read before it: still to show
    assert await store.votes_not_shown(0) == [message]
