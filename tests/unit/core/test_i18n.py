"""The languages I speak: the catalogs are complete and safe, the API picks the right one,
and the command texts reach Discord translated, within its limits, names untouched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import discord
import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import write_po
from discord import app_commands
from discord.app_commands import TranslationContext
from discord.app_commands import TranslationContextLocation as Where

from bot.core import i18n
from bot.core.i18n import check
from bot.discord.bot import EXTENSIONS
from bot.discord.translator import (
    DESCRIPTION_LIMIT,
    MENU_NAME_LIMIT,
    CatalogTranslator,
    command_messages,
    registered_messages,
)
from tests.unit.registered import registered_tree

MENUS = ("Sing over this", "Rewrite part of this")
SING = "I sing your lyrics over your instrumental (a box for the lyrics opens next)."
SERVED = {
    "es-ES": "es",
    "es-419": "es",
    "pt-BR": "pt_BR",
    "de": "de",
    "fr": "fr",
    "ja": "ja",
}


# --- the catalogs --------------------------------------------------------------------------


@pytest.mark.parametrize("code", i18n.LANGUAGES)
def test_every_catalog_holds_every_message_safely(code: str) -> None:
    """Every msgid of the template is translated (not fuzzy), with the same placeholders,
    mentions, links and markdown as English, and within Discord's limits."""
    assert list(check.problems(code)) == []
    counts = check.counts(code)
    assert counts.translated == counts.total > 0


async def test_the_template_holds_every_command_text() -> None:
    """A changed description that nobody ran `make messages` for fails here."""
    messages = await registered_messages(EXTENSIONS)
    assert set(MENUS) <= set(messages)
    assert SING in messages
    assert "male" in messages and "always" in messages  # choice names
    assert "1" not in messages  # /inpaint outputs: nothing to translate
    assert set(messages) <= set(check.template_ids())


def test_the_template_holds_every_message_the_code_marks() -> None:
    assert check.code_messages() <= set(check.template_ids())


def test_make_messages_looks_for_the_same_keywords() -> None:
    makefile = (check.ROOT / "Makefile").read_text()
    [line] = [x for x in makefile.splitlines() if x.startswith("KEYWORDS :=")]
    spelt = {
        name + ("" if where is None else ":" + ",".join(map(str, where)))
        for name, where in check.KEYWORDS.items()
    }
    words = line.split()[2:]
    assert set(words[0::2]) == {"-k"}
    assert set(words[1::2]) == spelt


def test_the_extraction_reads_the_language_first_keywords(tmp_path: Path) -> None:
    from babel.messages.extract import extract_from_dir

    (tmp_path / "said.py").write_text(
        "gettext(locale, 'Song #{number} is done.', number=1)\n"
        "ngettext(interaction.locale, '{count} song', '{count} songs', n)\n"
        "N_('Later.')\n"
        "print('Not a message.')\n"
    )
    found = {m for *_, m, _, _ in extract_from_dir(tmp_path, keywords=check.KEYWORDS)}
    assert found == {"Song #{number} is done.", ("{count} song", "{count} songs"), "Later."}


async def test_the_template_names_no_command_or_option_name() -> None:
    async with registered_tree() as tree:
        names = {c.name for c in tree.walk_commands()}
        names |= {
            p.name
            for c in tree.walk_commands()
            if isinstance(c, app_commands.Command)
            for p in c.parameters
        }
    assert names & set(check.template_ids()) == set()


def message(english: str, translated: str, *comments: str) -> Message:
    return Message(english, translated, auto_comments=list(comments))


@pytest.mark.parametrize(
    ("english", "translated", "problem"),
    [
        ("{count} songs left.", "Te quedan {cuenta} canciones.", "placeholders"),
        ("Song #{number} is done.", "La canción está lista.", "placeholders"),
        ("Asked by {member}.", "Pedida por <@{member}>.", "'<@'"),
        ("Done.", "Listo, mira https://example.com", "'http'"),
        ("Use `/sing`.", "Usa /sing.", "'`'"),
        ("Done.", "**Listo.**", "'**'"),
        ("Done.", "Listo @everyone.", "'@'"),
        ("Sing over this", "Cantar encima de esta canción de aquí", "characters"),
        ("Done.", "", "untranslated"),
    ],
)
def test_the_check_catches_an_unsafe_translation(
    english: str, translated: str, problem: str
) -> None:
    found = list(
        check.message_problems(message(english, translated, "a menu (at most 32 characters)"))
    )
    assert any(problem in line for line in found), found


def test_the_check_passes_a_faithful_translation_and_a_plural() -> None:
    assert list(check.message_problems(message("{count} songs left.", "Quedan {count}."))) == []
    plural = Message(("One song left.", "{count} songs left."), ("Queda una.", "Quedan {count}."))
    assert list(check.message_problems(plural)) == []
    japanese = Message(("{count} song left.", "{count} songs left."), ("残り{count}曲。",))
    assert list(check.message_problems(japanese, num_plurals=1)) == []
    fuzzy = Message("Done.", "Listo.", flags=["fuzzy"])
    assert any("fuzzy" in line for line in check.message_problems(fuzzy))


# --- choosing a language -------------------------------------------------------------------


@pytest.mark.parametrize(("locale", "code"), [*SERVED.items(), ("es", "es")])
def test_each_supported_locale_reads_its_catalog(locale: str, code: str) -> None:
    assert i18n.catalog_code(locale) == code
    assert i18n.gettext(locale, "Sing over this") != "Sing over this"


@pytest.mark.parametrize("locale", ["ko", "en-US", "en-GB", "zh-CN", None, "xx-nonsense"])
def test_any_other_locale_gets_english(locale: str | None) -> None:
    assert i18n.catalog_code(locale) == "en"
    assert i18n.gettext(locale, "Sing over this") == "Sing over this"
    assert i18n.translation_or_none(locale, "Sing over this") is None
    assert i18n.decimal(locale, 1234.5) == "1,234.5"  # English words, English numbers


def test_discord_locales_work_as_they_come() -> None:
    assert i18n.gettext(discord.Locale.spain_spanish, "Sing over this") == "Cantar sobre esto"
    assert i18n.gettext(discord.Locale.latin_american_spanish, "Sing over this") == (
        "Cantar sobre esto"
    )
    assert i18n.gettext(discord.Locale.korean, "Sing over this") == "Sing over this"
    assert i18n.gettext(i18n.language("ja"), "Sing over this") == "これに乗せて歌う"


def test_an_unknown_message_is_said_in_english_with_its_values() -> None:
    assert i18n.gettext("de", "Song #{number} is done.", number=12) == "Song #12 is done."
    assert i18n.gettext("ko", "{{literal}} {n}", n=1) == "{literal} 1"


@pytest.mark.parametrize(
    ("locale", "number", "written"),
    [
        ("en-US", 1234.5, "1,234.5"),
        ("de", 1234.5, "1.234,5"),
        ("es-ES", 1234.5, "1.234,5"),
        ("es-419", 1234.5, "1,234.5"),
        ("pt-BR", 1234.5, "1.234,5"),
        ("fr", 1234.5, "1\u202f234,5"),
        ("ja", 1234.5, "1,234.5"),
        ("de", 2.0, "2"),
    ],
)
def test_numbers_are_written_the_locales_way(locale: str, number: float, written: str) -> None:
    assert i18n.decimal(locale, number) == written


def test_relative_times_and_lists_in_words() -> None:
    assert i18n.relative("de", 3600) == "in 1 Stunde"
    assert i18n.relative("fr", -120) == "il y a 2 minutes"
    assert i18n.relative("ko", 3600) == "in 1 hour"
    assert i18n.or_list("pt-BR", ["MP3", "WAV", "FLAC"]) == "MP3, WAV ou FLAC"
    assert i18n.and_list("es-ES", ["a", "b"]) == "a y b"


def test_n_marks_without_translating() -> None:
    assert i18n.N_("Sing over this") == "Sing over this"


# --- plurals and placeholders, on a catalog of the test's own -----------------------------


@pytest.fixture
def own_catalogs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Spanish and Japanese catalogs with a plural and a broken translation."""
    entries: dict[str, list[tuple[Any, Any]]] = {
        "es": [
            (
                ("{count} song left today.", "{count} songs left today."),
                ("Te queda {count} canción hoy.", "Te quedan {count} canciones hoy."),
            ),
            ("Song #{number} is done.", "La canción #{numero} está lista."),  # broken
            ("Asked by {member}.", "Pedida por {member}."),
        ],
        "ja": [
            (("{count} song left today.", "{count} songs left today."), ("今日はあと{count}曲。",)),
        ],
    }
    for code, messages in entries.items():
        catalog = Catalog(locale=code, domain="bot")
        for english, translated in messages:
            catalog.add(english, translated)
        path = tmp_path / code / "LC_MESSAGES" / "bot.po"
        path.parent.mkdir(parents=True)
        with path.open("wb") as file:
            write_po(file, catalog)
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.load_catalog.cache_clear()
    i18n._language.cache_clear()
    yield tmp_path
    i18n.load_catalog.cache_clear()
    i18n._language.cache_clear()


@pytest.mark.usefixtures("own_catalogs")
def test_plurals_follow_each_language() -> None:
    one, many = "{count} song left today.", "{count} songs left today."
    assert i18n.ngettext("es-ES", one, many, 1) == "Te queda 1 canción hoy."
    assert i18n.ngettext("es-ES", one, many, 1500) == "Te quedan 1.500 canciones hoy."
    assert i18n.ngettext("es-419", one, many, 1500) == "Te quedan 1,500 canciones hoy."
    assert i18n.ngettext("ja", one, many, 1) == "今日はあと1曲。"
    assert i18n.ngettext("ja", one, many, 3) == "今日はあと3曲。"
    assert i18n.ngettext("ko", one, many, 1) == "1 song left today."
    assert i18n.ngettext("ko", one, many, 2) == "2 songs left today."


@pytest.mark.usefixtures("own_catalogs")
def test_a_translation_that_misnames_a_value_falls_back_to_english() -> None:
    assert i18n.gettext("es-ES", "Song #{number} is done.", number=7) == "Song #7 is done."
    assert i18n.gettext("es-ES", "Asked by {member}.", member="<@1>") == "Pedida por <@1>."


@pytest.mark.usefixtures("own_catalogs")
def test_a_missing_catalog_means_english() -> None:
    assert i18n.gettext("de", "Asked by {member}.", member="x") == "Asked by x."


# --- the command translator ----------------------------------------------------------------


async def _menu_callback(interaction: discord.Interaction, message: discord.Message) -> None:
    pass


def context(location: Where, data: Any = None) -> app_commands.TranslationContextTypes:
    made: Any = TranslationContext(location=location, data=data)  # type: ignore[call-overload]
    return made


async def translate(text: str, locale: discord.Locale, where: Any) -> str | None:
    return await CatalogTranslator().translate(app_commands.locale_str(text), locale, where)


@pytest.mark.parametrize("location", [Where.command_name, Where.group_name, Where.parameter_name])
async def test_names_stay_as_they_are(location: Where) -> None:
    for locale in discord.Locale:
        assert await translate("male", locale, context(location)) is None
        assert await translate(SING, locale, context(location)) is None


@pytest.mark.parametrize("locale", [discord.Locale(name) for name in SERVED])
async def test_descriptions_choices_and_menus_are_translated(locale: discord.Locale) -> None:
    description = await translate(SING, locale, context(Where.command_description))
    assert description and description != SING and len(description) <= DESCRIPTION_LIMIT
    assert await translate(SING, locale, context(Where.parameter_description)) == description
    assert await translate("female", locale, context(Where.choice_name)) not in (None, "female")
    menu = app_commands.ContextMenu(name="Sing over this", callback=_menu_callback)
    name = await translate("Sing over this", locale, context(Where.command_name, menu))
    assert name and name != "Sing over this" and len(name) <= MENU_NAME_LIMIT


@pytest.mark.parametrize("locale", [discord.Locale.korean, discord.Locale.american_english])
async def test_other_locales_get_no_translation(locale: discord.Locale) -> None:
    assert await translate(SING, locale, context(Where.command_description)) is None


async def test_an_over_long_translation_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(i18n, "translation_or_none", lambda locale, text: "x" * 101)
    german = discord.Locale.german
    assert await translate(SING, german, context(Where.command_description)) is None
    menu = app_commands.ContextMenu(name="Sing over this", callback=_menu_callback)
    monkeypatch.setattr(i18n, "translation_or_none", lambda locale, text: "x" * 33)
    assert await translate("Sing over this", german, context(Where.command_name, menu)) is None


def _localised(payload: Any) -> Iterator[tuple[str, dict[str, str]]]:
    """Every (key, localisations) pair anywhere in a command payload."""
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key.endswith("_localizations") and value:
                yield key, value
            else:
                yield from _localised(value)
    elif isinstance(payload, list):
        for item in payload:
            yield from _localised(item)


async def test_what_discord_gets_is_within_its_limits_and_keeps_names() -> None:
    async with registered_tree() as tree:
        translator = CatalogTranslator()
        payloads = [await c.get_translated_payload(tree, translator) for c in tree.get_commands()]
        assert len(await command_messages(tree)) > 30
    [sing] = [p for p in payloads if p["name"] == "sing"]
    assert set(sing["description_localizations"]) == set(SERVED)
    assert sing["description_localizations"]["es-419"] == sing["description_localizations"]["es-ES"]
    [gender] = [o for o in sing["options"] if o["name"] == "gender"]
    # German "neutral" is English's: nothing to send for it, and Discord shows the name.
    shown = {c.get("name_localizations", {}).get("de", c["name"]) for c in gender["choices"]}
    assert shown == {"männlich", "weiblich", "neutral"}
    for key, localisations in _localised(payloads):
        assert key in ("description_localizations", "name_localizations")
        assert set(localisations) <= set(SERVED)
        limit = DESCRIPTION_LIMIT if key == "description_localizations" else 100
        assert all(1 <= len(text) <= limit for text in localisations.values())
    for payload in payloads:  # no command or option name is localised (choices are)
        assert not payload.get("name_localizations")
        for option in payload.get("options", []):
            assert not option.get("name_localizations")


def test_the_docs_list_every_language_and_how_to_add_one() -> None:
    text = (check.ROOT / "docs" / "languages.md").read_text()
    for code in i18n.LANGUAGES:
        assert f"bot/locale/{code}/LC_MESSAGES/bot.po" in text
        assert i18n.LANGUAGE_NAMES[code] in text
    for locale in i18n.CATALOG_FOR_DISCORD_LOCALE:
        assert locale in text
    assert "make messages" in text and "## Adding a language" in text
