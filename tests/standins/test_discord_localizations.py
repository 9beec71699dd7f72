"""The Discord stand-in takes command localisations as Discord does: its own locales only,
texts within the limits, localised slash-command and option names still valid names."""

from __future__ import annotations

from typing import Any

import pytest

from tests.standins.discord.model import DiscordHTTPError
from tests.standins.discord.rules import build_commands


def sing(**changes: Any) -> dict[str, Any]:
    option = {
        "type": 3,
        "name": "gender",
        "description": "The voice I sing with",
        "description_localizations": {"de": "Die Stimme, mit der ich singe"},
        "required": False,
        "choices": [{"name": "male", "value": "male", "name_localizations": {"ja": "男性"}}],
    }
    command = {
        "type": 1,
        "name": "sing",
        "description": "I sing",
        "name_localizations": {},
        "description_localizations": {"es-ES": "Canto", "es-419": "Canto", "pt-BR": "Canto"},
        "options": [option],
    }
    for key, value in changes.items():
        target, _, field = key.partition("__")
        (option if target == "option" else command)[field] = value
    return command


def menu(**localizations: str) -> dict[str, Any]:
    return {"type": 3, "name": "Sing over this", "name_localizations": localizations}


def test_localisations_are_stored_as_sent() -> None:
    [stored, stored_menu] = build_commands(1, [], [sing(), menu(ja="これに乗せて歌う")], None)
    assert stored["description_localizations"]["es-419"] == "Canto"
    assert stored["options"][0]["choices"][0]["name_localizations"] == {"ja": "男性"}
    assert stored_menu["name_localizations"] == {"ja": "これに乗せて歌う"}


@pytest.mark.parametrize(
    ("commands", "field"),
    [
        ([sing(command__description_localizations={"es": "Canto"})], "es"),
        ([sing(command__description_localizations={"de": "x" * 101})], "de"),
        ([sing(command__name_localizations={"de": "Singen"})], "de"),  # not lowercase
        ([sing(option__name_localizations={"fr": "voix chantée"})], "fr"),  # a space
        ([sing(option__description_localizations={"ja": ""})], "ja"),
        ([menu(ja="x" * 33)], "ja"),
    ],
)
def test_a_bad_localisation_is_refused(commands: list[dict[str, Any]], field: str) -> None:
    with pytest.raises(DiscordHTTPError) as refused:
        build_commands(1, [], commands, None)
    assert refused.value.code == 50035
    assert field in str(refused.value.errors)


def test_a_menu_name_may_have_spaces_and_capitals() -> None:
    build_commands(1, [], [menu(de="Darüber Singen")], None)
