"""What the message context menus decide without Discord (bot/core/songs/message_audio.py), and the
forms and menus they build (bot/discord/ui/modals.py, cogs/context.py)."""

from __future__ import annotations

import dataclasses
from typing import Any
from unittest.mock import MagicMock

import discord
import pytest
from discord.ext import commands

from bot.core.errors import AudioRejected
from bot.core.models import TaskKind
from bot.core.songs import message_audio
from bot.core.songs.forms import AttachmentRef, PendingAudio
from bot.core.songs.message_audio import (
    rewrite_layout,
    sing_layout,
    song_of,
    take_of,
)
from bot.core.songs.progress import lineage_line
from bot.discord.songs.poster import delivery_marker
from bot.discord.ui import modals
from bot.discord.ui.modals import FileOption, RewritePartForm, SingOverForm
from cogs import context
from tests.unit.core.songs.test_progress import BASE


def ref(name: str, content_type: str | None = None, size: int = 1000) -> AttachmentRef:
    return AttachmentRef(
        url=f"https://cdn/{name}", filename=name, size=size, content_type=content_type
    )


# --- which files are audio -----------------------------------------------------------------


def test_audio_files_keeps_what_may_be_audio_in_order() -> None:
    files = [
        ref("cover.png", "image/png"),
        ref("beat.wav", "audio/x-wav"),
        ref("clip.mp4", "video/mp4"),  # a video's sound track is used, as by /sing
        ref("noname", None),  # nothing says it isn't audio: FFmpeg decides
        ref("notes.pdf", "application/pdf"),
    ]
    kept = message_audio.audio_files(files)
    assert [f.filename for f in kept] == ["beat.wav", "clip.mp4", "noname"]


def test_no_attachment_at_all_is_refused_in_words() -> None:
    with pytest.raises(AudioRejected) as caught:
        message_audio.audio_files([])
    assert caught.value.user_message == "That message has no audio file for me to use."


def test_a_lone_non_audio_file_is_refused_as_sing_refuses_it() -> None:
    with pytest.raises(AudioRejected) as caught:
        message_audio.audio_files([ref("lyrics.pdf", "application/pdf")])
    assert caught.value.user_message.startswith("That file is a PDF document, not audio.")


def test_several_non_audio_files_are_counted() -> None:
    with pytest.raises(AudioRejected) as caught:
        message_audio.audio_files([ref("a.png", "image/png"), ref("b.zip", "application/zip")])
    assert "None of the 2 files" in caught.value.user_message


# --- what the form holds -------------------------------------------------------------------


@pytest.mark.parametrize("files", [1, 2, 10])
def test_layouts_fit_a_modal(files: int) -> None:
    for layout in (sing_layout(files), rewrite_layout(files)):
        assert layout.components <= message_audio.MODAL_COMPONENTS
        assert layout.file_choice is (files > 1)


def test_rewrite_gives_up_the_whole_song_lyrics_only_for_a_file_choice() -> None:
    assert rewrite_layout(1).whole_song_lyrics and not rewrite_layout(2).whole_song_lyrics
    assert sing_layout(1).components == 3 and sing_layout(3).components == 4


def _labels(form: discord.ui.Modal) -> list[str]:
    return [str(item.text) for item in form.children if isinstance(item, discord.ui.Label)]


def _components(form: discord.ui.Modal) -> list[dict[str, Any]]:
    return [item.to_component_dict() for item in form.children]


async def _noop(*_: Any) -> None:
    return None


async def test_the_forms_follow_the_layouts() -> None:
    files = [FileOption("a.wav", "1.0 MB"), FileOption("b.wav")]
    one = RewritePartForm(_noop, PendingAudio(), title="t", style=None, lyrics="la")
    two = RewritePartForm(_noop, PendingAudio(), title="t", style=None, lyrics="la", files=files)
    assert _labels(one) == [
        "Start",
        "End",
        "Style",
        "Lyrics of the whole song",
        "New lyrics for the replaced part",
    ]
    assert _labels(two) == ["Start", "End", "Style", "New lyrics for the replaced part", "File"]
    assert len(two.children) == rewrite_layout(2).components
    # Without its input the song's known lyrics are still what the form says.
    assert two.values["lyrics"] == "la" and two.values["file"] == ""
    [select] = [c["component"] for c in _components(two) if c.get("label") == "File"]
    assert [(o["label"], o["value"]) for o in select["options"]] == [("a.wav", "0"), ("b.wav", "1")]
    assert select["options"][0]["description"] == "1.0 MB" and select["required"]

    sing = SingOverForm(_noop, PendingAudio())
    sing_two = SingOverForm(_noop, PendingAudio(), files=files)
    assert _labels(sing) == ["Style", "Lyrics", "Voice"]
    assert _labels(sing_two) == ["Style", "Lyrics", "Voice", "File"]
    [voice] = [c["component"] for c in _components(sing) if c.get("label") == "Voice"]
    assert [o["value"] for o in voice["options"]] == ["male", "female", "neutral"]
    assert voice["required"] is False
    for form in (one, two, sing, sing_two):
        assert str(form.custom_id).startswith(modals.MENU_PREFIX)
        modals.OPEN_MODALS.discard(str(form.custom_id))


def test_an_expired_menu_form_says_how_to_start_again() -> None:
    stale = MagicMock(type=discord.InteractionType.modal_submit)
    stale.data = {"custom_id": f"{modals.MENU_PREFIX}gone"}
    assert modals.stale_modal_message(stale) == modals.MENU_EXPIRED


# --- which song and take a result is -------------------------------------------------------


def test_the_marker_delivery_writes_is_read_back() -> None:
    task = dataclasses.replace(BASE, id=4321)
    content = f"<@1> your song is ready! {delivery_marker(task)}\n**1. Title**"
    assert song_of(content) == task.id
    assert song_of("your song is ready! (request #77)") == 77
    assert song_of("my take (song #)") is None and song_of("no marker") is None


def test_takes_are_read_from_the_posted_names() -> None:
    assert take_of("song-12-2.mp3", 12) == 2
    assert take_of("song-12-1.wav", 12) == 1
    assert take_of("song-13-2.mp3", 12) is None  # another song's take
    assert take_of("my_song.mp3", 12) is None


def test_a_sing_over_a_take_says_so() -> None:
    sung = dataclasses.replace(BASE, kind=TaskKind.SING, parent_task_id=12, parent_output=2)
    assert lineage_line(sung) == "Sung over #12 take 2"
    rewrite = dataclasses.replace(
        BASE,
        kind=TaskKind.INPAINT,
        parent_task_id=12,
        parent_output=2,
        replace_start=30.0,
        replace_end=45.0,
    )
    assert lineage_line(rewrite) == "Rewrite of #12 take 2, 0:30–0:45"


# --- the menus as registered ---------------------------------------------------------------


async def test_the_menus_are_message_commands_for_servers() -> None:
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.none(), help_command=None)
    try:
        await bot.add_cog(context.ContextMenus(bot))  # type: ignore[arg-type]
        menus = [
            c.to_dict(bot.tree) for c in bot.tree.get_commands(type=discord.AppCommandType.message)
        ]
        assert sorted(m["name"] for m in menus) == ["Rewrite part of this", "Sing over this"]
        assert all(m["type"] == 3 and m["contexts"] == [0] for m in menus)
        await bot.remove_cog(context.ContextMenus.__cog_name__)
        assert bot.tree.get_commands(type=discord.AppCommandType.message) == []
    finally:
        await bot.close()


def test_the_docs_show_both_menus() -> None:
    from tests.unit.test_readme_commands import (
        code,
        commands_section,
        readme_commands_section,
        table_rows,
    )

    rows = table_rows(commands_section(), "| message menu |")
    assert sorted(code(name) for name, _ in rows) == sorted(
        [context.SING_OVER, context.REWRITE_PART]
    )
    assert "Apps" in commands_section() and "right-click" in commands_section()
    readme = readme_commands_section()
    assert f"**{context.SING_OVER}**" in readme and f"**{context.REWRITE_PART}**" in readme
