"""The song door (`SongDoor`): a form's song is asked from where the form was sent, goes
through the intake's one entry with the member's roles, and is confirmed once, whatever
the thread opener does."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import pytest

from bot.core.models import Request, TaskKind, TaskStatus
from bot.core.servers.guild_settings import GuildSettings, ThreadsMode
from bot.core.songs.forms import PendingAudio, SongRequest
from bot.discord.songs.door import SongDoor
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
        tracker=SimpleNamespace(wait_until_sent=AsyncMock(return_value=None)),
        store=SimpleNamespace(queue_position=AsyncMock(return_value=3)),
    )


def member_interaction() -> MagicMock:
    made = MagicMock()
    made.user = SimpleNamespace(id=7, roles=[SimpleNamespace(id=5), SimpleNamespace(id=6)])
    made.guild_id, made.channel_id, made.filesize_limit = 2, 3, 10
    made.channel = SimpleNamespace(type=None)
    made.followup.send = AsyncMock()
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


async def test_a_request_that_says_where_it_goes_is_sent_as_it_is() -> None:
    bot = fake_bot()
    door = SongDoor(bot)  # type: ignore[arg-type]
    request = Request(TaskKind.INPAINT, 7, 2, 99, "pop", replace_start=1, replace_end=2)
    await door.send(member_interaction(), request, PendingAudio())
    assert bot.intake.asked[0][0] is request  # a Rewrite's or an Again's own channel
