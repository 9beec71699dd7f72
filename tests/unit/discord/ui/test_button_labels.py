"""The buttons' labels in the reader's language: a result's and a status's in the server's,
Edit and retry's and a private answer's Cancel in the member's. English is exactly as it was
(the acceptance suite clicks by it) and a custom_id never changes with the language, so a
button drawn in Portuguese routes after a restart like one drawn in English."""

from __future__ import annotations

import dataclasses
import re
from typing import Any
from unittest.mock import MagicMock

import discord
import pytest

from bot.core.i18n import LANGUAGES, gettext
from bot.core.models import Output, TaskStatus
from bot.core.songs.votes import Tally
from bot.discord.ui.buttons import (
    DYNAMIC_ITEMS,
    LABEL_LIMIT,
    AgainButton,
    ExtendButton,
    result_buttons,
    retry_buttons,
    status_buttons,
)
from tests.unit.core.songs.test_progress import BASE

ONE_TAKE = dataclasses.replace(BASE, id=12, status=TaskStatus.DELIVERED, outputs=(Output("u1"),))
TWO_TAKES = dataclasses.replace(ONE_TAKE, outputs=(Output("u1"), Output("u2")))
QUEUED = dataclasses.replace(BASE, id=5, status=TaskStatus.QUEUED)
FAILED = dataclasses.replace(BASE, id=5, status=TaskStatus.FAILED)

ENGLISH_RESULT = [
    "Rewrite 1",
    "Rewrite 2",
    "Extend 1",
    "Extend 2",
    "Take 1 · 👍 0",
    "Take 2 · 👍 0",
    "Again",
    "Again with changes",
    "Lyrics",
    "Delete",
]
# A locale per catalog, as Discord sends it.
LOCALES = {"es": "es-ES", "pt_BR": "pt-BR", "de": "de", "fr": "fr", "ja": "ja"}


def labels(view: discord.ui.View | None) -> list[str]:
    assert view is not None
    return [str(c.to_component_dict()["label"]) for c in view.children]


def custom_ids(view: discord.ui.View | None) -> list[str]:
    assert view is not None
    return [str(c.to_component_dict()["custom_id"]) for c in view.children]


def every_view(locale: str | None) -> list[discord.ui.View | None]:
    return [
        result_buttons(TWO_TAKES, Tally((1, 3)), locale),
        result_buttons(ONE_TAKE, None, locale),
        status_buttons(QUEUED, locale),
        status_buttons(FAILED, locale),
        retry_buttons("0a1b2c3d", locale),
    ]


@pytest.mark.parametrize("locale", [None, "en-US", "en-GB", "ko", "zh-CN"])
def test_english_labels_are_exactly_as_written(locale: str | None) -> None:
    assert labels(result_buttons(TWO_TAKES, locale=locale)) == ENGLISH_RESULT
    assert labels(result_buttons(ONE_TAKE, locale=locale))[:2] == ["Rewrite", "Extend"]
    assert labels(status_buttons(QUEUED, locale)) == ["Cancel"]
    assert labels(status_buttons(FAILED, locale)) == ["Try again"]
    assert labels(retry_buttons("0a1b2c3d", locale)) == ["Edit and retry"]


def test_a_portuguese_result_reads_portuguese() -> None:
    assert labels(result_buttons(TWO_TAKES, Tally((0, 2)), "pt-BR")) == [
        "Reescrever 1",
        "Reescrever 2",
        "Estender 1",
        "Estender 2",
        "Versão 1 · 👍 0",
        "Versão 2 · 👍 2",
        "De novo",
        "De novo, com mudanças",
        "Letra",
        "Apagar",
    ]
    assert labels(status_buttons(QUEUED, "pt-BR")) == ["Cancelar"]
    assert labels(status_buttons(FAILED, "es-419")) == ["Reintentar"]
    assert labels(retry_buttons("0a1b2c3d", "de")) == ["Ändern und erneut versuchen"]
    assert labels(result_buttons(ONE_TAKE, locale="ja"))[:3] == ["書き直す", "延ばす", "👍 0"]


@pytest.mark.parametrize("code", LANGUAGES)
def test_each_language_labels_every_button_of_its_own(code: str) -> None:
    """Every label is translated (none left English), and the custom_ids, rows and styles are
    the English buttons' exactly."""
    locale = LOCALES[code]
    for english, translated in zip(every_view(None), every_view(locale), strict=True):
        assert custom_ids(translated) == custom_ids(english)
        assert translated is not None and english is not None
        for ours, theirs in zip(translated.children, english.children, strict=True):
            ours_d, theirs_d = ours.to_component_dict(), theirs.to_component_dict()
            assert ours_d.get("style") == theirs_d.get("style")
            assert ours.row == theirs.row
            if theirs_d["label"].startswith("👍"):
                assert ours_d["label"] == theirs_d["label"]  # a count is a count
            elif code == "de" and theirs_d["label"].startswith("Take "):
                assert ours_d["label"] == theirs_d["label"]  # German says "Take" too
            else:
                assert ours_d["label"] != theirs_d["label"], (code, theirs_d["label"])


@pytest.mark.parametrize("locale", [None, *LOCALES.values()])
def test_labels_fit_a_phone(locale: str | None) -> None:
    """Discord takes 80 characters; a row of four must still read on a phone."""
    for view in every_view(locale):
        for label in labels(view):
            assert 0 < len(label) <= 30 <= LABEL_LIMIT, (locale, label)


@pytest.mark.parametrize(
    ("custom_id", "label"),
    [("song:extend:12:2", "Estender 2"), ("song:again:12", "Otra vez"), ("song:cancel:3", "取消")],
)
async def test_a_translated_button_is_rebuilt_from_its_custom_id(
    custom_id: str, label: str
) -> None:
    """After a restart, discord.py rebuilds the item from the custom_id: the language it was
    drawn in changes nothing, and the label it arrived with is kept."""
    [cls] = [i for i in DYNAMIC_ITEMS if i.__discord_ui_compiled_template__.fullmatch(custom_id)]
    match = cls.__discord_ui_compiled_template__.fullmatch(custom_id)
    assert isinstance(match, re.Match)
    base: discord.ui.Button[Any] = discord.ui.Button(label=label, custom_id=custom_id)
    item = await cls.from_custom_id(MagicMock(), base, match)
    assert item.custom_id == custom_id
    assert item.item.label == label


def test_label_in_is_the_catalogs() -> None:
    assert AgainButton.label_in(None) == AgainButton.LABEL == "Again"
    assert AgainButton.label_in("fr") == "Encore"
    assert ExtendButton.label_in("es-ES") == "Alargar"


def test_help_names_the_buttons_as_they_read_where_the_member_is() -> None:
    """/help is the member's, its buttons the server's: a Spanish member on a Brazilian
    server reads the Portuguese labels he will click, in a Spanish sentence."""
    from cogs import help

    line = help.ON_A_SONG
    assert gettext("es-ES", line, **help.button_names("pt-BR")) == (
        "Reescrever, Estender, 👍, De novo, De novo, com mudanças, Letra y Apagar bajo sus "
        "tomas; Cancelar mientras espera, Tentar de novo si falló."
    )
    assert line.format(**help.button_names(None)) == (
        "Rewrite, Extend, 👍, Again, Again with changes, Lyrics and Delete under its takes; "
        "Cancel while it waits, Try again if it failed."
    )
