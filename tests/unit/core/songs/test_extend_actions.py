"""What the Extend button decides without Discord: where the new part starts, and the request
made from a parent's take."""

from __future__ import annotations

import dataclasses

import pytest

from bot.core.errors import UserFacingError
from bot.core.models import Gender, Output, TaskKind, TaskStatus
from bot.core.songs import actions
from bot.core.songs.actions import Clicker
from bot.core.timecodes import BadTime, extend_point
from tests.unit.core.songs.test_progress import BASE

PARENT = dataclasses.replace(
    BASE,
    id=12,
    status=TaskStatus.DELIVERED,
    gender=Gender.FEMALE,
    thread_id=None,
    outputs=(
        Output("https://mg.example/one.mp3", duration=60.0),
        Output("https://mg/two?sig=a%2B"),
    ),
)


def test_after_as_typed_blank_or_past_the_take() -> None:
    assert actions.extend_after(PARENT, 1, "0:59.5") == 59.5
    assert actions.extend_after(PARENT, 1, "  ") is None  # the take's end
    with pytest.raises(BadTime, match=r"After \(1:01\) is past the end of take 1, which is 1:00"):
        actions.extend_after(PARENT, 1, "61")
    with pytest.raises(BadTime, match="`After` must be a time"):
        actions.extend_after(PARENT, 1, "soon")
    assert actions.extend_after(PARENT, 2, "600") == 600  # MusicGPT never said: not checked
    with pytest.raises(UserFacingError, match="has no take 3"):
        actions.extend_after(PARENT, 3, "")


def test_the_request_is_the_takes_link_the_parents_voice_charged_to_the_clicker() -> None:
    request = actions.extend_request(
        PARENT, 2, Clicker(77, 8_000_000, 555), after=30.5, prompt="folk", lyrics=" verse "
    )
    assert request.kind is TaskKind.EXTEND
    assert request.audio_url == "https://mg/two?sig=a%2B"  # exactly as MusicGPT gave it
    assert (request.extend_after, request.replace_end) == (30.5, None)
    assert (request.gender, request.user_id, request.channel_id) == (Gender.FEMALE, 77, 555)
    assert (request.parent_task_id, request.parent_output, request.num_outputs) == (12, 2, 2)
    assert (request.prompt, request.lyrics, request.upload_limit) == ("folk", "verse", 8_000_000)
    blank = actions.extend_request(PARENT, 1, Clicker(77), after=None, prompt="x", lyrics="")
    assert blank.extend_after is None and blank.lyrics is None  # the intake fills the end


def test_extend_point() -> None:
    assert extend_point(None, 42.0) == 42.0
    assert extend_point(10, None) == 10
    assert extend_point(42.04, 42.0) == 42.04
    with pytest.raises(BadTime, match="Nothing was charged"):
        extend_point(43, 42.0)
    with pytest.raises(BadTime, match="`after`"):
        extend_point(None, None)
