"""The 👍 buttons' Discord side (`VoteBoard`): a click is recorded before it is answered,
answered privately, and its message redrawn later with only the buttons; a message that is
gone is given up on, and counted as shown."""

from __future__ import annotations

import asyncio
import dataclasses
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import discord
import pytest

from bot.core.errors import UserFacingError
from bot.core.models import Output, TaskStatus
from bot.core.songs.vote_edits import EditGone
from bot.core.store.votes import VoteMessage
from bot.discord.songs.votes import VoteBoard
from tests.unit.core.songs.test_progress import BASE

SONG = dataclasses.replace(
    BASE, id=12, status=TaskStatus.DELIVERED, outputs=(Output("u1"), Output("u2"))
)


class FakeStore:
    def __init__(self) -> None:
        self.votes: set[tuple[int, int]] = set()
        self.calls: list[str] = []
        self.shown: list[int] = []
        self.tasks = {SONG.id: SONG}

    async def get_task(self, task_id: int) -> Any:
        return self.tasks.get(task_id)

    async def toggle_vote(self, task_id: int, take: int, user_id: int) -> bool:
        self.calls.append("toggle")
        if (take, user_id) in self.votes:
            self.votes.remove((take, user_id))
            return False
        self.votes.add((take, user_id))
        return True

    async def vote_counts(self, task_id: int) -> dict[int, int]:
        counts: dict[int, int] = {}
        for take, _ in self.votes:
            counts[take] = counts.get(take, 0) + 1
        return counts

    async def vote_changed(self, message: VoteMessage, now: float) -> None:
        self.calls.append(f"changed {message.message_id}")

    async def votes_shown(self, message_id: int, read_at: float) -> None:
        self.shown.append(message_id)


def board(
    store: FakeStore,
    edit: AsyncMock,
    *,
    held: tuple[int | None, ...] = (),
    server_locale: str | None = None,
) -> VoteBoard:
    partial = SimpleNamespace(get_partial_message=lambda _id: SimpleNamespace(edit=edit))
    bot = SimpleNamespace(
        store=store,
        get_partial_messageable=lambda *_a, **_k: partial,
        holds=lambda guild_id: guild_id in held,
        wait_until_ready=AsyncMock(),
        public_locale=AsyncMock(return_value=server_locale),  # the server's (None: English)
    )
    return VoteBoard(bot)  # type: ignore[arg-type]


def click(user_id: int, store: FakeStore) -> MagicMock:
    interaction = MagicMock()
    interaction.user = SimpleNamespace(id=user_id)
    interaction.channel_id = 3
    interaction.message = SimpleNamespace(id=99)
    interaction.response.is_done.return_value = False

    async def answered(*args: Any, **kwargs: Any) -> None:
        store.calls.append("answered")

    interaction.response.send_message = AsyncMock(side_effect=answered)
    return interaction


async def test_a_click_is_recorded_then_answered_then_the_buttons_redrawn() -> None:
    store, edit = FakeStore(), AsyncMock()
    votes = board(store, edit)
    first = click(7, store)
    await votes.click(first, 12, 2, SONG)
    assert store.calls == ["toggle", "changed 99", "answered"]
    args, kwargs = first.response.send_message.call_args
    assert args == ("I counted your 👍 for take 2.",) and kwargs["ephemeral"] is True
    await asyncio.sleep(0.05)
    [(_, kwargs)] = [(c.args, c.kwargs) for c in edit.await_args_list]
    assert set(kwargs) == {"view"}  # the buttons only: the takes' text and files stay
    labels = [item.item.label for item in kwargs["view"].children if "👍" in item.item.label]
    assert labels == ["Take 1 · 👍 0", "Take 2 · 👍 1"]
    assert store.shown == [99]
    again = click(7, store)
    await votes.click(again, 12, 2, SONG)
    assert again.response.send_message.call_args.args == ("I took back your 👍 for take 2.",)
    await votes.close()


async def test_the_redraw_is_in_the_servers_language_and_the_answer_in_the_clickers() -> None:
    store, edit = FakeStore(), AsyncMock()
    votes = board(store, edit, server_locale="fr")
    clicked = click(7, store)
    clicked.locale = "es-ES"
    await votes.click(clicked, 12, 1, SONG)
    assert clicked.response.send_message.call_args.args == ("Conté tu 👍 para la toma 1.",)
    await asyncio.sleep(0.05)
    [call] = edit.await_args_list
    view = call.kwargs["view"]
    assert [item.item.label for item in view.children] == [
        "Réécrire 1",
        "Réécrire 2",
        "Prolonger 1",
        "Prolonger 2",
        "Prise 1 · 👍 1",
        "Prise 2 · 👍 0",
        "Encore",
        "Encore, avec des changements",
        "Paroles",
        "Supprimer",
    ]
    assert [item.custom_id for item in view.children][:2] == [
        "song:rewrite:12:1",
        "song:rewrite:12:2",
    ]
    await votes.close()


async def test_a_take_the_song_lacks_and_a_song_without_takes_are_refused() -> None:
    store = FakeStore()
    votes = board(store, AsyncMock())
    with pytest.raises(UserFacingError):
        await votes.click(click(7, store), 12, 3, SONG)
    with pytest.raises(UserFacingError):
        await votes.click(click(7, store), 13, 1, None)
    assert "toggle" not in store.calls
    await votes.close()


async def test_a_message_that_is_gone_stops_its_edits() -> None:
    store = FakeStore()
    gone = discord.NotFound(MagicMock(status=404, reason="Not Found"), "Unknown Message")
    votes = board(store, AsyncMock(side_effect=gone))
    with pytest.raises(EditGone):
        await votes._redraw(VoteMessage(3, 99, 12))
    assert store.shown == [99]
    await votes.close()


async def test_only_the_servers_this_process_holds_are_redrawn_after_a_restart() -> None:
    store, edit = FakeStore(), AsyncMock()
    store.tasks[13] = dataclasses.replace(SONG, id=13, guild_id=3)  # another process's server
    # 14 is gone from the store: anyone's to mark shown (no edit)
    left = [VoteMessage(3, 99, 12), VoteMessage(4, 98, 13), VoteMessage(5, 97, 14)]
    store.votes_not_shown = AsyncMock(return_value=left)  # type: ignore[attr-defined]
    votes = board(store, edit, held=(SONG.guild_id,))
    await votes._redraw_left_behind()
    await asyncio.sleep(0.05)
    assert edit.await_count == 1  # song 12's message; another process redraws 13's
    assert sorted(store.shown) == [97, 99]
    await votes.close()
