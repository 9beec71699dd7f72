"""bot.core.songs.actions: what Rewrite, Again, Delete and Cancel decide and derive, without
Discord."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bot.core.errors import SENTENCE_ENDS, UserFacingError
from bot.core.models import Gender, Output, Task, TaskKind, TaskStatus
from bot.core.songs import actions
from bot.core.songs.actions import Clicker
from bot.core.songs.forms import InpaintRange, span_of
from bot.core.songs.progress import lineage_line, status_view
from bot.core.timecodes import BadTime
from bot.discord.ui import modals
from tests.unit.core.songs.test_progress import BASE
from tests.unit.test_voice import voice_problems

TAKE_1 = Output("https://mg.example/files/a%20b.wav?sig=1&x=2", "c1", 30.0, "One")
TAKE_2 = Output("https://mg.example/files/c.wav", "c2", None, "Two")
PARENT = dataclasses.replace(
    BASE,
    id=12,
    kind=TaskKind.SING,
    status=TaskStatus.DELIVERED,
    lyrics="all the words",
    gender=Gender.MALE,
    audio_url=None,
    audio_filename="beat.mp3",
    audio_duration=42.0,
    replace_start=None,
    replace_end=None,
    outputs=(TAKE_1, TAKE_2),
    channel_id=333,
    guild_id=222,
)
BOB = Clicker(user_id=99, upload_limit=8_000_000)


# --- Rewrite -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [("5", "10.5", (5.0, 10.5)), ("0:05", "0:29.5", (5.0, 29.5)), ("0", "30", (0.0, 30.0))],
)
def test_rewrite_range_is_read_like_inpaint(
    start: str, end: str, expected: tuple[float, float]
) -> None:
    assert actions.rewrite_span(PARENT, 1, start, end) == InpaintRange(*expected)


def test_rewrite_range_refusals() -> None:
    with pytest.raises(BadTime, match="must come before"):
        actions.rewrite_span(PARENT, 1, "20", "10")
    with pytest.raises(BadTime, match=r"past the end of take 1, which is 0:30 long"):
        actions.rewrite_span(PARENT, 1, "10", "0:31")
    with pytest.raises(BadTime, match="`Start` must be a time"):
        actions.rewrite_span(PARENT, 1, "soon", "10")
    with pytest.raises(UserFacingError, match="has no take 3"):
        actions.rewrite_span(PARENT, 3, "1", "2")
    # MusicGPT didn't say how long take 2 is: nothing to hold End against.
    assert actions.rewrite_span(PARENT, 2, "1", "500") == InpaintRange(1.0, 500.0)


def test_rewrite_request_is_an_inpaint_of_the_take_as_musicgpt_gave_it() -> None:
    request = actions.rewrite_request(
        PARENT,
        1,
        BOB,
        span=InpaintRange(1.5, 4.0),
        prompt="gospel",
        lyrics="  ",
        new_lyrics=" hallelujah ",
    )
    assert request.kind is TaskKind.INPAINT
    assert request.audio_url == TAKE_1.audio_url  # exactly, not re-encoded
    assert (request.replace_start, request.replace_end) == (1.5, 4.0)
    assert (request.user_id, request.upload_limit) == (99, 8_000_000)  # charged to the clicker
    assert (request.guild_id, request.channel_id) == (222, 333)  # the parent's channel
    assert request.gender is Gender.MALE and request.num_outputs == 2
    assert (request.parent_task_id, request.parent_output) == (12, 1)
    assert request.lyrics is None and request.lyrics_section_to_replace == "hallelujah"
    as_file = actions.from_file(request, "song-12-1.wav")
    assert (as_file.audio_url, as_file.audio_filename) == (None, "song-12-1.wav")
    assert dataclasses.replace(as_file, audio_url=request.audio_url, audio_filename=None) == (
        request
    )


# --- Again ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parent",
    [
        PARENT,
        dataclasses.replace(
            PARENT,
            kind=TaskKind.INPAINT,
            audio_url="https://example.com/song.mp3",
            audio_filename=None,
            replace_start=75.0,
            replace_end=90.5,
            lyrics_section_to_replace="new bit",
            num_outputs=1,
            gender=None,
        ),
    ],
)
def test_again_repeats_every_field_for_the_clicker(parent: Task) -> None:
    request = actions.again_request(parent, BOB)
    for name in (
        "kind",
        "prompt",
        "lyrics",
        "gender",
        "audio_url",
        "audio_filename",
        "replace_start",
        "replace_end",
        "lyrics_section_to_replace",
        "num_outputs",
        "guild_id",
        "channel_id",
    ):
        assert getattr(request, name) == getattr(parent, name), name
    assert request.user_id == 99
    assert (request.parent_task_id, request.parent_output) == (parent.id, None)
    span = span_of(request)  # what the intake checks against the audio's length
    if parent.kind is TaskKind.INPAINT:
        assert span == InpaintRange(75.0, 90.5)
        assert not actions.needs_kept_input(parent)
    else:
        assert span is None
        assert actions.needs_kept_input(parent)  # an upload: the input store must have it


def test_lineage_names_the_parent() -> None:
    rewrite = actions.rewrite_request(
        PARENT, 2, BOB, span=InpaintRange(30, 45), prompt="x", lyrics=None, new_lyrics=None
    )
    rewritten = dataclasses.replace(
        BASE,
        parent_task_id=rewrite.parent_task_id,
        parent_output=rewrite.parent_output,
        replace_start=30.0,
        replace_end=45.0,
    )
    assert lineage_line(rewritten) == "Rewrite of #12 take 2, 0:30–0:45"
    assert status_view(rewritten, 1, 0).lineage == "Rewrite of #12 take 2, 0:30–0:45"
    again = dataclasses.replace(BASE, parent_task_id=12)
    assert lineage_line(again) == "Again of #12"
    assert lineage_line(BASE) is None and status_view(BASE, 1, 0).lineage is None


# --- Delete and Cancel ---------------------------------------------------------------------


def test_who_may_delete() -> None:
    assert actions.may_delete(PARENT, PARENT.user_id, manage_messages=False)
    assert actions.may_delete(PARENT, 99, manage_messages=True)
    assert not actions.may_delete(PARENT, 99, manage_messages=False)
    assert not actions.may_delete(None, PARENT.user_id, manage_messages=False)
    assert actions.may_delete(None, 99, manage_messages=True)


@pytest.mark.parametrize(
    ("status", "user_id", "says"),
    [
        (TaskStatus.QUEUED, 1, None),
        (TaskStatus.QUEUED, 99, "Only the member who asked for song #7, or someone who"),
        (TaskStatus.SUBMITTING, 1, "already with MusicGPT"),
        (TaskStatus.SUBMITTED, 1, "already with MusicGPT"),
        (TaskStatus.COMPLETED, 1, "already finished"),
        (TaskStatus.DELIVERED, 1, "already finished"),
        (TaskStatus.FAILED, 1, "already finished"),
        (TaskStatus.CANCELLED, 1, "already cancelled"),
    ],
)
def test_who_may_cancel_and_when(status: TaskStatus, user_id: int, says: str | None) -> None:
    refusal = actions.cancel_refusal(dataclasses.replace(BASE, status=status), 7, user_id)
    if says is None:
        assert refusal is None
    else:
        assert refusal is not None and says in str(refusal)
    assert str(actions.cancel_refusal(None, 7, 1)) == "I can't find song #7 any more."


def test_a_member_who_manages_messages_may_cancel_anyones_queued_song() -> None:
    queued = dataclasses.replace(BASE, status=TaskStatus.QUEUED)
    assert actions.cancel_refusal(queued, 7, 99, manage_messages=True) is None
    late = dataclasses.replace(BASE, status=TaskStatus.SUBMITTED)
    refusal = actions.cancel_refusal(late, 7, 99, manage_messages=True)
    assert refusal is not None and "already with MusicGPT" in str(refusal)
    assert actions.cancelled_for_others(queued, 99) and not actions.cancelled_for_others(queued, 1)
    told = actions.requester_told_text(queued, by=99)
    assert told.startswith(f"<@{queued.user_id}>, <@99> cancelled your song #")
    assert f"asked by <@{queued.user_id}>" in actions.cancelled_for_text(queued)


def test_every_button_message_is_a_sentence_in_the_one_voice() -> None:
    texts = [
        actions.not_kept(PARENT).user_message,
        actions.no_copy(PARENT, 2).user_message,
        str(actions.delete_refusal(12)),
        actions.cancelled_text(12),
        str(actions.too_late(12)),
        *(
            str(actions.cancel_refusal(dataclasses.replace(BASE, status=s), 7, 1) or "")
            for s in TaskStatus
            if s is not TaskStatus.QUEUED
        ),
        str(actions.cancel_refusal(BASE, 7, 99) or ""),
        actions.cancelled_for_text(BASE),
        modals.LYRICS_EXPIRED,
        modals.REWRITE_EXPIRED,
    ]
    for text in texts:
        assert text and text[0].isupper(), text
        assert text.endswith(SENTENCE_ENDS), text
        assert not voice_problems(text), text
    assert "INPUT_RETENTION_DAYS" in actions.not_kept(PARENT).user_message
    assert "Nothing was charged" in actions.no_copy(PARENT, 2).user_message


# --- Is MusicGPT's link still there? -------------------------------------------------------


@pytest.fixture
async def link_server() -> AsyncIterator[str]:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(body=b"RIFF" + b"\0" * 1000, content_type="audio/wav")

    app = web.Application()
    app.router.add_get("/ok.wav", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_link_works_only_while_the_server_serves_it(link_server: str) -> None:
    async with aiohttp.ClientSession() as session:
        assert await actions.link_works(session, f"{link_server}/ok.wav")
        assert not await actions.link_works(session, f"{link_server}/gone.wav")  # 404
        assert not await actions.link_works(session, "http://127.0.0.1:1/nothing.wav")
        assert not await actions.link_works(session, "not a link")


def test_a_rewrite_status_names_its_take_not_musicgpt_s_link() -> None:
    rewritten = dataclasses.replace(
        BASE, parent_task_id=12, parent_output=1, audio_url=TAKE_1.audio_url, audio_filename=None
    )
    view = status_view(rewritten, 1, 0)
    assert "Audio" not in dict(view.details)
    assert view.lineage == "Rewrite of #12 take 1, 1:15–1:30.5"
    again = dataclasses.replace(BASE, parent_task_id=12, audio_url="https://e.com/a.mp3")
    assert dict(status_view(again, 1, 0).details)["Audio"] == "song.mp3"


# --- Try again, Again with changes, Lyrics, Delete ------------------------------------


def test_try_again_only_for_a_failed_song() -> None:
    failed = dataclasses.replace(PARENT, status=TaskStatus.FAILED)
    assert actions.try_again_refusal(failed) is None
    refusal = actions.try_again_refusal(dataclasses.replace(PARENT, status=TaskStatus.DELIVERED))
    assert refusal is not None and str(refusal).startswith(f"Song #{PARENT.id} didn't fail")


def test_again_with_changes_is_again_with_the_edited_fields() -> None:
    request = actions.again_with_changes_request(
        PARENT, BOB, prompt="dark synthwave", lyrics="  new words \n", gender="female"
    )
    again = actions.again_request(PARENT, BOB)
    assert request == dataclasses.replace(
        again, prompt="dark synthwave", lyrics="new words", gender=Gender.FEMALE
    )
    assert request.user_id == BOB.user_id and request.parent_task_id == PARENT.id
    anyone = actions.again_with_changes_request(PARENT, BOB, prompt="x", lyrics="", gender="")
    assert anyone.gender is None and anyone.lyrics is None


def test_lyrics_are_shown_safely_in_a_code_block() -> None:
    sung = dataclasses.replace(PARENT, lyrics="la ```@everyone``` la\u200b\nsecond line")
    answer = actions.lyrics_answer(sung)
    assert answer.file_text is None
    assert answer.text.startswith(f"What was sung in song #{PARENT.id}:\n```\n")
    body = answer.text.split("```\n", 1)[1].rsplit("\n```", 1)[0]
    assert "`" not in body and "\u200b" not in body and "second line" in body


def test_long_lyrics_come_as_a_file_and_none_are_said_so() -> None:
    long = actions.lyrics_answer(dataclasses.replace(PARENT, lyrics="la " * 800))
    assert long.file_text is not None and long.filename == f"song-{PARENT.id}-lyrics.txt"
    assert len(long.text) <= actions.MESSAGE_MAX
    none = actions.lyrics_answer(
        dataclasses.replace(PARENT, lyrics=None, lyrics_section_to_replace=None)
    )
    assert none.file_text is None and "without lyrics" in none.text


def test_delete_says_whose_takes_went() -> None:
    assert actions.deleted_text(12) == "Deleted song #12's takes."
    assert actions.deleted_key(12) == "takes_deleted:12"


def test_the_buttons_words_are_said_in_the_readers_language() -> None:
    late = dataclasses.replace(BASE, status=TaskStatus.SUBMITTED)
    refusal = actions.cancel_refusal(late, 7, 1)
    assert refusal is not None
    error = UserFacingError(refusal)  # as the click raises it; the boundary says it
    assert error.user_message == "Song #7 is already with MusicGPT, so it can't be cancelled."
    spanish = "Canción #7 ya está con MusicGPT, así que no se puede cancelar."
    assert error.message_in("es-ES") == spanish
    assert error.message_in("ko") == error.user_message
    assert actions.deleted_text(12, "fr") == "J'ai supprimé les prises de la chanson #12."
    told = actions.requester_told_text(late, by=99, locale="pt-BR")
    assert told.startswith(f"<@{late.user_id}>, <@99> cancelou sua música #7")
    assert actions.lyrics_answer(PARENT, "ja").text.startswith("曲 #12 で歌った歌詞:")
