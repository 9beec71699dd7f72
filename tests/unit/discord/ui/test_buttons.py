"""bot.discord.ui.buttons: custom_ids that carry the click, rebuilt from the id alone, and errors
that
reach the one error boundary (discord.py would only log them)."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import discord
import pytest

from bot.core.errors import UserFacingError
from bot.core.models import Output, TaskStatus
from bot.core.songs.votes import Tally
from bot.discord.tree import UNEXPECTED
from bot.discord.ui.buttons import (
    DYNAMIC_ITEMS,
    SONG_ROW,
    TAKE_ROW,
    VOTE_ROW,
    AgainButton,
    AgainWithChangesButton,
    CancelButton,
    DeleteButton,
    EditAndRetryButton,
    ExtendButton,
    LyricsButton,
    RewriteButton,
    TryAgainButton,
    VoteButton,
    result_buttons,
    retry_buttons,
    status_buttons,
)
from tests.unit.core.songs.test_progress import BASE

TWO_TAKES = dataclasses.replace(
    BASE, id=12, status=TaskStatus.DELIVERED, outputs=(Output("u1"), Output("u2"))
)


def ids_and_labels(view: discord.ui.View) -> list[tuple[str, str]]:
    return [
        (str(c.to_component_dict()["custom_id"]), str(c.to_component_dict()["label"]))
        for c in view.children
    ]


async def test_result_buttons_carry_the_task_and_take() -> None:
    assert ids_and_labels(result_buttons(TWO_TAKES)) == [
        ("song:rewrite:12:1", "Rewrite 1"),
        ("song:rewrite:12:2", "Rewrite 2"),
        ("song:extend:12:1", "Extend 1"),
        ("song:extend:12:2", "Extend 2"),
        ("song:vote:12:1", "Take 1 · 👍 0"),
        ("song:vote:12:2", "Take 2 · 👍 0"),
        ("song:again:12", "Again"),
        ("song:changes:12", "Again with changes"),
        ("song:lyrics:12", "Lyrics"),
        ("song:delete:12", "Delete"),
    ]
    rows = [c.row for c in result_buttons(TWO_TAKES).children]
    assert rows == [TAKE_ROW] * 4 + [VOTE_ROW] * 2 + [SONG_ROW] * 4
    assert TAKE_ROW < VOTE_ROW < SONG_ROW <= 2  # three rows at most; votes in the middle
    one = dataclasses.replace(TWO_TAKES, outputs=(Output("u1"),))
    assert ids_and_labels(result_buttons(one))[:2] == [
        ("song:rewrite:12:1", "Rewrite"),
        ("song:extend:12:1", "Extend"),
    ]
    assert ids_and_labels(result_buttons(one))[-5] == ("song:vote:12:1", "👍 0")


async def test_vote_buttons_are_on_the_second_row_with_counts_and_the_leader_green() -> None:
    view = result_buttons(TWO_TAKES, Tally((1, 3)))
    votes = [c for c in view.children if isinstance(c, VoteButton)]
    assert [(v.take, v.item.label, v.item.row) for v in votes] == [
        (1, "Take 1 · 👍 1", 1),
        (2, "Take 2 · 👍 3", 1),
    ]
    assert [v.item.style for v in votes] == [
        discord.ButtonStyle.secondary,
        discord.ButtonStyle.success,
    ]
    rows = {c.row for c in view.children if not isinstance(c, VoteButton)}
    assert 1 not in rows  # row 2 holds the votes only
    tied = result_buttons(TWO_TAKES, Tally((2, 2)))
    assert all(
        c.item.style is discord.ButtonStyle.secondary
        for c in tied.children
        if isinstance(c, VoteButton)
    )


async def test_cancel_only_while_queued_and_try_again_once_failed() -> None:
    queued = status_buttons(dataclasses.replace(BASE, id=5, status=TaskStatus.QUEUED))
    assert queued is not None
    assert ids_and_labels(queued) == [("song:cancel:5", "Cancel")]
    failed = status_buttons(dataclasses.replace(BASE, id=5, status=TaskStatus.FAILED))
    assert failed is not None
    assert ids_and_labels(failed) == [("song:tryagain:5", "Try again")]
    assert ids_and_labels(retry_buttons("0a1b2c3d")) == [("song:retry:0a1b2c3d", "Edit and retry")]
    for status in TaskStatus:
        if status not in (TaskStatus.QUEUED, TaskStatus.FAILED):
            assert status_buttons(dataclasses.replace(BASE, status=status)) is None


@pytest.mark.parametrize(
    ("custom_id", "cls", "fields"),
    [
        ("song:rewrite:12:2", RewriteButton, {"task_id": 12, "take": 2}),
        ("song:extend:12:2", ExtendButton, {"task_id": 12, "take": 2}),
        ("song:again:12", AgainButton, {"task_id": 12}),
        ("song:delete:987654321012345678", DeleteButton, {"task_id": 987654321012345678}),
        ("song:cancel:3", CancelButton, {"task_id": 3}),
        ("song:tryagain:3", TryAgainButton, {"task_id": 3}),
        ("song:changes:3", AgainWithChangesButton, {"task_id": 3}),
        ("song:lyrics:3", LyricsButton, {"task_id": 3}),
        ("song:retry:0a1b2c3d", EditAndRetryButton, {"key": "0a1b2c3d"}),
        ("song:vote:12:2", VoteButton, {"task_id": 12, "take": 2}),
    ],
)
async def test_a_button_is_rebuilt_from_its_custom_id_alone(
    custom_id: str, cls: Any, fields: dict[str, int]
) -> None:
    matches = [
        item for item in DYNAMIC_ITEMS if item.__discord_ui_compiled_template__.fullmatch(custom_id)
    ]
    assert matches == [cls]
    match = cls.__discord_ui_compiled_template__.fullmatch(custom_id)
    assert isinstance(match, re.Match)
    base: discord.ui.Button[Any] = discord.ui.Button(label="Rewrite 2", custom_id=custom_id)
    item = await cls.from_custom_id(MagicMock(), base, match)
    assert item.custom_id == custom_id
    for name, value in fields.items():
        assert getattr(item, name) == value
    assert len(custom_id) <= 100


@pytest.mark.parametrize(
    "bad",
    [
        "song:rewrite:12:0",
        "song:extend:12:0",
        "song:extend:12",
        "song:again:x",
        "song:again:1:2",
        "song:vote:12:0",
    ],
)
def test_other_ids_are_not_ours(bad: str) -> None:
    assert not any(item.__discord_ui_compiled_template__.fullmatch(bad) for item in DYNAMIC_ITEMS)


def fake_interaction(actions: Any, *, stopping: bool = False) -> MagicMock:
    interaction = MagicMock()
    interaction.command = None
    interaction.response.is_done.return_value = False
    interaction.response.send_message = AsyncMock()
    event = asyncio.Event()
    if stopping:
        event.set()
    interaction.client = SimpleNamespace(button_actions=actions, stopping=event)
    return interaction


def said(interaction: MagicMock) -> str:
    interaction.response.send_message.assert_awaited_once()
    args, kwargs = interaction.response.send_message.call_args
    assert kwargs["ephemeral"] is True
    return str(args[0])


async def test_a_refusal_in_a_callback_is_answered_privately() -> None:
    actions = SimpleNamespace(again=AsyncMock(side_effect=UserFacingError("Not now.")))
    interaction = fake_interaction(actions)
    await AgainButton(12).callback(interaction)
    actions.again.assert_awaited_once_with(interaction, 12)
    assert said(interaction) == "Not now."


async def test_a_bug_in_a_callback_is_logged_and_answered(caplog: pytest.LogCaptureFixture) -> None:
    actions = SimpleNamespace(rewrite=AsyncMock(side_effect=KeyError("boom")))
    interaction = fake_interaction(actions)
    interaction.data = {"custom_id": "song:rewrite:12:2", "component_type": 2}
    await RewriteButton(12, 2).callback(interaction)
    actions.rewrite.assert_awaited_once_with(interaction, 12, 2)
    assert said(interaction) == UNEXPECTED
    logged = [record for record in caplog.records if record.exc_info]
    # The log names the button clicked, not "?".
    assert logged and "component song:rewrite:12:2" in logged[0].getMessage()


async def test_an_extend_click_names_its_task_and_take() -> None:
    actions = SimpleNamespace(extend=AsyncMock())
    interaction = fake_interaction(actions)
    await ExtendButton(12, 2, label="Extend 2").callback(interaction)
    actions.extend.assert_awaited_once_with(interaction, 12, 2)


async def test_no_click_starts_work_while_stopping() -> None:
    actions = SimpleNamespace(cancel=AsyncMock())
    interaction = fake_interaction(actions, stopping=True)
    await CancelButton(3).callback(interaction)
    actions.cancel.assert_not_awaited()
    assert "restarting" in said(interaction)
