"""The song door (`SongDoor`): a form's song is asked from where the form was sent, goes
through the intake's one entry with the member's roles, and is confirmed once, whatever
the thread opener does."""

from __future__ import annotations

import asyncio
import dataclasses
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import pytest

from bot.core.errors import UserFacingError
from bot.core.models import Request, TaskKind, TaskStatus
from bot.core.servers.guild_settings import GuildSettings, ThreadsMode
from bot.core.songs.forms import PendingAudio, SongRequest
from bot.discord.songs.door import SongDoor, answer_settled, answer_text
from tests.unit.core.songs.test_progress import BASE

QUEUED = dataclasses.replace(BASE, id=12, status=TaskStatus.QUEUED, status_message_id=None)


class FakeIntake:
    def __init__(self) -> None:
        self.asked: list[tuple[Request, PendingAudio, Any, Any]] = []

    async def submit(self, request: Request, pending: PendingAudio, *, role_ids: Any, fetch: Any):
        self.asked.append((request, pending, role_ids, fetch))
        return QUEUED


def fake_bot(*, threads_fail: bool = False) -> SimpleNamespace:
    async def settings(guild_id: int | None) -> GuildSettings:
        return GuildSettings(threads_mode=ThreadsMode.OPTIONAL)

    opener = AsyncMock(side_effect=RuntimeError("no threads today") if threads_fail else None)
    return SimpleNamespace(
        intake=FakeIntake(),
        guild_settings=SimpleNamespace(get=settings),
        status_renderer=SimpleNamespace(render_now=AsyncMock()),
        thread_opener=SimpleNamespace(settle=opener),
        tracker=SimpleNamespace(events=SimpleNamespace(publish=MagicMock())),
        store=SimpleNamespace(
            queue_position=AsyncMock(return_value=3), get_task=AsyncMock(return_value=QUEUED)
        ),
    )


def member_interaction() -> MagicMock:
    made = MagicMock()
    made.user = SimpleNamespace(id=7, roles=[SimpleNamespace(id=5), SimpleNamespace(id=6)])
    made.guild_id, made.channel_id, made.filesize_limit = 2, 3, 10
    made.channel = SimpleNamespace(type=None)
    made.followup.send = AsyncMock()
    made.edit_original_response = AsyncMock()
    return made


@pytest.mark.parametrize("threads_fail", [False, True])
async def test_a_form_song_is_asked_from_its_channel_and_confirmed_once(
    threads_fail: bool,
) -> None:
    bot = fake_bot(threads_fail=threads_fail)
    door = SongDoor(bot)  # type: ignore[arg-type]
    pending = PendingAudio(url="https://e.com/a.mp3")
    sent = member_interaction()
    song = SongRequest(TaskKind.SING, "pop", lyrics="la")
    await door.send(sent, song, pending, thread=True)
    [(request, used, role_ids, fetch)] = bot.intake.asked
    assert (request.user_id, request.guild_id, request.channel_id) == (7, 2, 3)
    assert request.thread_wanted and request.audio_url == "https://e.com/a.mp3"
    assert (used, role_ids, fetch) == (pending, (5, 6), None)
    bot.status_renderer.render_now.assert_awaited_once_with(12)  # before the answer links it
    [answer] = sent.followup.send.await_args_list
    assert answer.args[0].startswith("Got it! Song #12 is #3 in line for MusicGPT.")
    assert answer.kwargs["ephemeral"] is True
    assert [item.custom_id for item in answer.kwargs["view"].children] == ["song:cancel:12"]


async def test_a_request_that_says_where_it_goes_is_sent_as_it_is() -> None:
    bot = fake_bot()
    door = SongDoor(bot)  # type: ignore[arg-type]
    request = Request(TaskKind.INPAINT, 7, 2, 99, "pop", replace_start=1, replace_end=2)
    await door.send(member_interaction(), request, PendingAudio())
    assert bot.intake.asked[0][0] is request  # a Rewrite's or an Again's own channel


def test_the_answer_says_what_happened() -> None:
    def text(status: TaskStatus, position: int = 0) -> tuple[str, bool]:
        task = dataclasses.replace(QUEUED, status=status, error="MusicGPT said no.")
        return answer_text(task, position)

    assert text(TaskStatus.QUEUED, 2)[0].startswith("Got it! Song #12 is #2 in line")
    assert text(TaskStatus.QUEUED, 2)[1] is True  # with Cancel
    assert text(TaskStatus.SUBMITTED)[0].startswith("Got it! Song #12 is with MusicGPT.")
    assert text(TaskStatus.CANCELLED) == (
        "🚫 Song #12 was cancelled before it went to MusicGPT; nothing was charged.",
        False,
    )
    assert text(TaskStatus.FAILED)[0] == "❌ MusicGPT said no."
    assert not answer_settled(QUEUED)
    assert not answer_settled(dataclasses.replace(QUEUED, status=TaskStatus.SUBMITTING))
    assert answer_settled(dataclasses.replace(QUEUED, status=TaskStatus.SUBMITTED))


async def test_the_answer_is_edited_as_the_song_changes_then_left() -> None:
    bot = fake_bot()
    door = SongDoor(bot)  # type: ignore[arg-type]
    sent = member_interaction()
    await door.send(sent, SongRequest(TaskKind.SING, "pop", lyrics="la"), PendingAudio())
    door.changed(dataclasses.replace(QUEUED, status=TaskStatus.CANCELLED), 0)
    await asyncio.sleep(0)
    [edit] = sent.edit_original_response.await_args_list
    assert edit.kwargs["content"].startswith("🚫 Song #12 was cancelled")
    assert edit.kwargs["view"].children == []  # no Cancel any more
    door.changed(dataclasses.replace(QUEUED, status=TaskStatus.SUBMITTED), 0)
    await asyncio.sleep(0)
    assert len(sent.edit_original_response.await_args_list) == 1  # no longer followed


async def test_a_refused_form_waits_under_one_key_for_its_member() -> None:
    door = SongDoor(fake_bot())  # type: ignore[arg-type]
    pending = PendingAudio(url="https://e.com/a.mp3", retryable=True)
    form = SimpleNamespace(
        pending=pending, custom_id="lyrics-form:x", for_retry=MagicMock(), abandon=MagicMock()
    )
    refused = member_interaction()
    refused.response.is_done = MagicMock(return_value=True)
    error = UserFacingError("Too long.")
    await door.refused(refused, form, {"lyrics": "la"}, error)  # type: ignore[arg-type]
    await door.refused(refused, form, {"lyrics": "la la"}, error)  # type: ignore[arg-type]
    [(key, held)] = list(door._refused.items())  # refused again: only the newest key
    [_, last] = refused.followup.send.await_args_list
    assert last.args[0] == "Too long."
    assert [item.custom_id for item in last.kwargs["view"].children] == [f"song:retry:{key}"]

    other = member_interaction()
    other.user = SimpleNamespace(id=8, roles=[])
    with pytest.raises(UserFacingError, match="Only the member who filled in"):
        await door.retry(other, key)
    with pytest.raises(UserFacingError, match="That form has expired"):
        await door.retry(refused, "deadbeef")
    clicked = member_interaction()
    clicked.response.send_modal = AsyncMock()
    await door.retry(clicked, key)
    form.for_retry.assert_called_once_with({"lyrics": "la la"})
    clicked.response.send_modal.assert_awaited_once_with(form)
    assert held.expiry is not None
    held.expiry.cancel()
