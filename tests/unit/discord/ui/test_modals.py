"""The one form base (`SongForm`): every song's form is read, checked, deferred and sent the
same way, and what it holds reads the same whichever inputs it shows."""

from __future__ import annotations

from typing import Any, cast
from unittest.mock import AsyncMock, MagicMock

import discord
import pytest

from bot.core.errors import UserFacingError
from bot.core.songs.forms import FormState, PendingAudio
from bot.discord.ui import modals
from bot.discord.ui.modals import FileOption, InpaintLyrics, RewriteForm, SingLyrics, Values


def typed(label: discord.ui.Label[Any], value: str) -> None:
    cast(discord.ui.TextInput[Any], label.component)._value = value


def interaction() -> MagicMock:
    made = MagicMock()
    made.response.defer = AsyncMock()
    return made


class Sent:
    def __init__(self) -> None:
        self.values: list[Values] = []

    async def __call__(self, _: discord.Interaction, values: Values) -> None:
        self.values.append(values)


@pytest.fixture(autouse=True)
def forget_forms() -> Any:
    yield
    modals.OPEN_MODALS.clear()


async def test_a_submit_is_read_deferred_then_sent() -> None:
    sent, pending = Sent(), PendingAudio(url="https://e.com/a.mp3")
    form = InpaintLyrics(sent, pending)
    typed(form.lyrics, "la la")
    typed(form.new_lyrics, "new")
    clicked = interaction()
    await form.on_submit(clicked)
    clicked.response.defer.assert_awaited_once_with(ephemeral=True, thinking=True)
    assert sent.values == [
        {"lyrics": "la la", "new_lyrics": "new", "start": "", "end": "", "style": ""}
    ]
    assert pending.state is FormState.OPEN  # the intake decides whether it is sent


async def test_edit_and_retry_reopens_inpaint_with_its_options_prefilled() -> None:
    sent, pending = Sent(), PendingAudio(url="https://e.com/a.mp3")
    form = InpaintLyrics(sent, pending, start="0:01", end="1:10", style="pop")
    typed(form.lyrics, "la la")
    form.for_retry({**form.values, "end": "0:01.5"})
    inputs = [
        item.component
        for item in form.children
        if isinstance(item, discord.ui.Label) and isinstance(item.component, discord.ui.TextInput)
    ]
    shown = {text.custom_id: text.default for text in inputs}
    assert shown == {
        "start": "0:01",
        "end": "0:01.5",
        "style": "pop",
        "lyrics": "la la",
        "new_lyrics": None,
    }
    form.for_retry(form.values)  # twice: still five inputs
    assert len(form.children) == 5


async def test_a_refused_check_closes_the_form_and_drops_its_audio() -> None:
    sent, pending = Sent(), PendingAudio(url="https://e.com/a.mp3")

    def check(values: Values) -> None:
        raise UserFacingError(f"End {values['end']!r} is no time.")

    form = RewriteForm(sent, pending, check=check, title="t", style="pop", lyrics=None)
    typed(form.end, "soon")
    clicked = interaction()
    with pytest.raises(UserFacingError, match="'soon' is no time"):
        await form.on_submit(clicked)
    clicked.response.defer.assert_not_awaited()
    assert sent.values == [] and pending.state is FormState.ABANDONED


async def test_a_timed_out_form_is_forgotten_and_its_audio_goes() -> None:
    pending = PendingAudio(url="https://e.com/a.mp3")
    form = SingLyrics(Sent(), pending)
    assert str(form.custom_id) in modals.OPEN_MODALS
    await form.on_timeout()
    assert str(form.custom_id) not in modals.OPEN_MODALS
    assert pending.state is FormState.ABANDONED


def test_values_fall_back_to_what_a_dropped_input_stands_for() -> None:
    files = [FileOption("a.wav"), FileOption("b.wav")]
    form = RewriteForm(Sent(), PendingAudio(), title="t", style="pop", lyrics="known", files=files)
    typed(form.start, "1:15")
    assert form.values == {
        "start": "1:15",
        "end": "",
        "style": "",
        "lyrics": "known",  # the input made way for the File select
        "new_lyrics": "",
        "file": "",  # nothing chosen
    }


def test_the_extend_forms() -> None:
    command = modals.ExtendLyrics(Sent(), PendingAudio())
    [box] = command.children
    assert isinstance(box, discord.ui.Label) and "lyrics" in box.text.lower()
    lyrics = cast(discord.ui.TextInput[Any], box.component)
    assert (lyrics.required, lyrics.max_length) == (False, 2000)

    button = modals.ExtendForm(
        Sent(), PendingAudio(), title="Extend take 2 of song #12", after="0:02.5", style="soul"
    )
    labels = [c for c in button.children if isinstance(c, discord.ui.Label)]
    assert [label.text for label in labels] == ["After", "Style", "Lyrics"]
    after, style, words = (cast(discord.ui.TextInput[Any], x.component) for x in labels)
    assert (after.default, after.required) == ("0:02.5", False)
    assert (style.default, style.required) == ("soul", True)
    assert words.required is False
    assert str(button.custom_id).startswith(modals.EXTEND_PREFIX)


def test_a_stale_extend_form_says_click_extend_again() -> None:
    stale = MagicMock(type=discord.InteractionType.modal_submit)
    stale.data = {"custom_id": f"{modals.EXTEND_PREFIX}gone"}
    assert modals.stale_modal_message(stale) == modals.EXTEND_EXPIRED


def _words(form: modals.SongForm) -> list[tuple[str, str | None, str | None]]:
    labels = [c for c in form.children if isinstance(c, discord.ui.Label)]
    return [
        (label.text, label.description, getattr(label.component, "placeholder", None))
        for label in labels
    ]


def test_a_spanish_members_rewrite_form_speaks_spanish_an_english_ones_the_exact_english() -> None:
    def rewrite(locale: Any) -> RewriteForm:
        return RewriteForm(
            Sent(), PendingAudio(), title="Rewrite a part", style="pop", lyrics="la", locale=locale
        )

    english = rewrite(discord.Locale.american_english)
    assert english.title == "Rewrite a part"
    assert _words(english) == [
        ("Start", None, "Where the new part starts: 75 or 1:15.5"),
        ("End", None, "Where it ends, same formats"),
        ("Style", None, "How the new part should sound"),
        ("Lyrics of the whole song", None, "Optional: helps MusicGPT blend in"),
        ("New lyrics for the replaced part", None, "Optional"),
    ]
    assert _words(rewrite(None)) == _words(english)  # no locale: English
    assert _words(rewrite(discord.Locale.korean)) == _words(english)  # no catalog: English

    spanish = rewrite(discord.Locale.spain_spanish)
    assert spanish.title == "Reescribir una parte"
    texts = [text for text, _, _ in _words(spanish)]
    assert texts == ["Inicio", "Fin", "Estilo", "Letra de toda la canción", texts[4]]
    assert texts[4].startswith("Letra nueva")
    assert _words(spanish)[0][2] == "Dónde empieza la parte nueva: 75 o 1:15.5"
    # What is prefilled is never translated; the class's own labels stay English for others.
    assert cast(discord.ui.TextInput[Any], spanish.style.component).default == "pop"
    assert _words(rewrite(discord.Locale.american_english))[0][0] == "Start"


def test_the_door_shows_a_form_in_the_members_language() -> None:
    form = modals.SingOverForm(Sent(), PendingAudio())
    form.localize(discord.Locale.brazil_portuguese)
    assert form.title == "Cantar sobre isto"
    voice = [c for c in form.children if isinstance(c, discord.ui.Label)][-1]
    options = cast(discord.ui.Select[Any], voice.component).options
    assert [o.label for o in options] == ["Masculina", "Feminina", "Neutra"]
    assert [o.value for o in options] == ["male", "female", "neutral"]


def test_a_stale_form_is_answered_in_the_members_language() -> None:
    stale = MagicMock(type=discord.InteractionType.modal_submit, locale=discord.Locale.german)
    stale.data = {"custom_id": f"{modals.REWRITE_PREFIX}gone"}
    # The button by its German label ("Neu schreiben"), as the German reader sees it.
    assert "Neu schreiben" in (modals.stale_modal_message(stale) or "")
    assert modals.stale_modal_message(stale) != modals.REWRITE_EXPIRED
