"""The titles of the forms a button opens, which name the song ("Rewrite take 2 of song #12"):
in the clicker's language, English exactly as it was, and within Discord's 45 characters in
every language, even for a song with a six-digit number."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.i18n import LANGUAGES, gettext, translation_or_none
from bot.discord.songs.clicks import CHANGES_TITLE, EXTEND_TITLE, REWRITE_TITLE, ButtonHandlers
from bot.discord.ui.form_words import TITLE_MAX
from tests.unit.discord.songs.test_clicks import SONG, clicked, fake_bot

TITLES = (REWRITE_TITLE, EXTEND_TITLE, CHANGES_TITLE)
CATALOG_LOCALE = {"es": "es-ES", "pt_BR": "pt-BR", "de": "de", "fr": "fr", "ja": "ja"}


async def opened_title(click: str, locale: str | None) -> str:
    bot = fake_bot()
    bot.intake = None
    handlers = ButtonHandlers(bot)  # type: ignore[arg-type]
    interaction = clicked()
    interaction.locale = locale
    if click == "rewrite":
        await handlers.rewrite(interaction, SONG.id, 2)
    elif click == "extend":
        await handlers.extend(interaction, SONG.id, 2)
    else:
        bot.inputs = None
        await handlers.again_with_changes(interaction, SONG.id)
    [call] = bot.door.open.await_args_list
    form: Any = call.args[1]
    form.localize(locale)  # as the door does before showing it
    return str(form.title)


@pytest.mark.parametrize(
    ("click", "english"),
    [
        ("rewrite", "Rewrite take 2 of song #12"),
        ("extend", "Extend take 2 of song #12"),
        ("changes", "Again with changes: song #12"),
    ],
)
@pytest.mark.parametrize("locale", [None, "en-US", "ko"])
async def test_english_titles_are_exactly_as_written(
    click: str, english: str, locale: str | None
) -> None:
    assert await opened_title(click, locale) == english


@pytest.mark.parametrize(
    ("click", "locale", "title"),
    [
        ("rewrite", "es-ES", "Reescribir la toma 2 de la canción #12"),
        ("extend", "pt-BR", "Estender a versão 2 da música #12"),
        ("changes", "de", "Noch einmal, mit Änderungen: Song #12"),
        ("rewrite", "fr", "Réécrire la prise 2 de la chanson #12"),
        ("extend", "ja", "曲 #12 のテイク 2 を延ばす"),
    ],
)
async def test_a_title_naming_a_song_is_in_the_clickers_language(
    click: str, locale: str, title: str
) -> None:
    assert await opened_title(click, locale) == title


@pytest.mark.parametrize("code", LANGUAGES)
@pytest.mark.parametrize("title", TITLES)
def test_every_title_fits_with_a_six_digit_song(code: str, title: str) -> None:
    locale = CATALOG_LOCALE[code]
    assert translation_or_none(locale, title) is not None, (code, title)
    filled = gettext(locale, title, take=2, number=999_999)
    assert len(filled) <= TITLE_MAX, (code, filled)
