"""The languages I speak: gettext catalogs chosen by a Discord locale, English the fallback.

Other code calls, with the locale Discord gives (`interaction.locale` for a private answer,
`interaction.guild_locale` for a public one; a `discord.Locale`, its string, or None):

    gettext(locale, "Song #{number} is done.", number=task.id)
    ngettext(locale, "{count} song left today.", "{count} songs left today.", left)
    decimal(locale, 1234.5)          # "1.234,5" in de, "1,234.5" in en-US and es-419
    relative(locale, 3600)           # "in 1 hour", "dans 1 heure", "1 時間後"

Messages are whole sentences with named placeholders (`{number}`, never `%s` or joined
pieces), so each language can order its words its own way; a literal brace is `{{`.
`N_("…")` marks a message defined away from where it is said (a table of refusals): it
returns the English, which `gettext` translates later. `make messages` extracts every
message from bot/ and cogs/ into bot/locale/bot.pot and updates each .po
(docs/languages.md). Durations stay m:ss (`bot.core.timecodes`) in every language.

The .po files are read with Babel when first needed and compiled in memory: no compiled
.mo is kept anywhere. An untranslated or fuzzy entry falls back to English.
"""

from __future__ import annotations

import gettext as _gettext
import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Protocol, TypeAlias

from babel import Locale as BabelLocale
from babel.dates import format_timedelta
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).resolve().parents[2] / "locale"
DOMAIN = "bot"
ENGLISH = "en"

# The catalogs (bot/locale/<code>/LC_MESSAGES/bot.po), by the Discord locales each serves.
# One Spanish catalog, written for Spain and Latin America alike (tú, never vosotros).
CATALOG_FOR_DISCORD_LOCALE: Mapping[str, str] = {
    "es-ES": "es",
    "es-419": "es",
    "es": "es",
    "pt-BR": "pt_BR",
    "de": "de",
    "fr": "fr",
    "ja": "ja",
}
LANGUAGES: tuple[str, ...] = ("es", "pt_BR", "de", "fr", "ja")  # besides English
LANGUAGE_NAMES: Mapping[str, str] = {
    "en": "English",
    "es": "Español",
    "pt_BR": "Português do Brasil",
    "de": "Deutsch",
    "fr": "Français",
    "ja": "日本語",
}


class _HasValue(Protocol):
    """A `discord.Locale` (an Enum whose value is Discord's locale string)."""

    @property
    def value(self) -> str: ...


@dataclass(frozen=True)
class Language:
    """What one Discord locale gets: a catalog (`code`, "en" for English) and the Babel
    locale its numbers and times are written in (es-419 writes 1,234.5; es-ES 1.234,5)."""

    code: str
    discord_locale: str
    formats: BabelLocale
    translations: _gettext.NullTranslations

    @property
    def is_english(self) -> bool:
        return self.code == ENGLISH


# What every function takes: `interaction.locale`, its string, a `Language`, or None (English).
LocaleLike: TypeAlias = str | _HasValue | Language | None


def discord_locale_string(locale: LocaleLike) -> str:
    """Discord's string for a locale ("es-ES"); "en-US" for None."""
    if locale is None:
        return "en-US"
    if isinstance(locale, Language):
        return locale.discord_locale
    if isinstance(locale, str):
        return locale
    return str(locale.value)


def catalog_code(locale: LocaleLike) -> str:
    """The catalog a Discord locale reads: "es", "pt_BR", "de", "fr", "ja", or "en" for
    English and every locale without a catalog (ko, en-GB, zh-CN, …)."""
    if isinstance(locale, Language):
        return locale.code
    return CATALOG_FOR_DISCORD_LOCALE.get(discord_locale_string(locale), ENGLISH)


def language(locale: LocaleLike) -> Language:
    """The `Language` for a Discord locale (cached; reading a catalog happens once)."""
    if isinstance(locale, Language):
        return locale
    return _language(discord_locale_string(locale))


@cache
def _language(discord_locale: str) -> Language:
    code = CATALOG_FOR_DISCORD_LOCALE.get(discord_locale, ENGLISH)
    if code == ENGLISH:
        # English text, English numbers: "1,234.5" beside English words, whatever the locale.
        formats = _babel_locale(discord_locale) if discord_locale.startswith("en") else None
        return Language(ENGLISH, discord_locale, formats or BabelLocale("en", "US"), _english())
    formats = _babel_locale(discord_locale) or BabelLocale.parse(code)
    return Language(code, discord_locale, formats, load_catalog(code))


def _babel_locale(discord_locale: str) -> BabelLocale | None:
    try:
        return BabelLocale.parse(discord_locale, sep="-")
    except (ValueError, LookupError):
        return None


@cache
def _english() -> _gettext.NullTranslations:
    return _gettext.NullTranslations()


def po_path(code: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def load_catalog(code: str) -> _gettext.NullTranslations:
    """A language's .po, compiled in memory (fuzzy and empty entries left out: English)."""
    path = po_path(code)
    try:
        with path.open("rb") as po:
            catalog = read_po(po, locale=code, domain=DOMAIN)
    except OSError as error:
        log.warning("no %s catalog (%s); speaking English there", code, error.strerror)
        return _english()
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def _format(text: str, english: str, named: Mapping[str, object]) -> str:
    try:
        return text.format_map(named)
    except (KeyError, IndexError, ValueError, AttributeError):
        # A translation naming a placeholder English doesn't have (the catalog test stops
        # that before a release): the English sentence beats an error in front of a member.
        log.warning("translation %r doesn't fit its placeholders; English instead", text)
        return english.format_map(named)


def gettext(locale: LocaleLike, message: str, /, **named: object) -> str:
    """`message` (English, a whole sentence) in the locale's language, its `{name}`
    placeholders filled from `named`."""
    text = language(locale).translations.gettext(message)
    return _format(text, message, named)


def ngettext(
    locale: LocaleLike,
    singular: str,
    plural: str,
    count: int,
    /,
    **named: object,
) -> str:
    """The form of a sentence for `count` in the locale's language (one form in Japanese,
    two in the others); `{count}` is `count` written for the locale unless given."""
    lang = language(locale)
    text = lang.translations.ngettext(singular, plural, count)
    values = {"count": decimal(lang, count), **named}
    return _format(text, singular if count == 1 else plural, values)


def translation_or_none(locale: LocaleLike, message: str) -> str | None:
    """The catalog's translation of `message`, or None where there is none (English, an
    untranslated or fuzzy entry, or one the same as English)."""
    lang = language(locale)
    if lang.is_english:
        return None
    text = lang.translations.gettext(message)
    return None if text == message else text


def N_(message: str) -> str:  # the gettext convention `make messages` looks for
    """Mark `message` for the catalogs without translating it now (gettext it later)."""
    return message


def decimal(locale: LocaleLike, number: float, digits: int = 1) -> str:
    """A number written the locale's way: 1,234.5 (en), 1.234,5 (de, es-ES), 1 234,5 (fr),
    at most `digits` decimals."""
    pattern = "#,##0" + ("." + "#" * digits if digits > 0 else "")
    return format_decimal(number, format=pattern, locale=language(locale).formats)


def relative(locale: LocaleLike, seconds: float) -> str:
    """How far off a time is, in words: "in 3 hours" / "3 hours ago" (negative seconds).

    Where a Discord timestamp fits (`<t:…:R>`, which Discord localises itself and keeps
    current), prefer it; this is for text that can't hold one (a thread name, a log line
    shown to a member)."""
    return format_timedelta(
        timedelta(seconds=seconds),
        add_direction=True,
        threshold=1.0,
        locale=language(locale).formats,
    )


def or_list(locale: LocaleLike, items: list[str]) -> str:
    """ "MP3, WAV or FLAC" in the locale's words ("MP3, WAV oder FLAC")."""
    return format_list(items, style="or", locale=language(locale).formats)


def and_list(locale: LocaleLike, items: list[str]) -> str:
    """ "you, me and them" in the locale's words."""
    return format_list(items, style="standard", locale=language(locale).formats)


__all__ = [
    "CATALOG_FOR_DISCORD_LOCALE",
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "LOCALE_DIR",
    "N_",
    "Language",
    "LocaleLike",
    "and_list",
    "catalog_code",
    "decimal",
    "gettext",
    "language",
    "load_catalog",
    "ngettext",
    "or_list",
    "po_path",
    "relative",
    "translation_or_none",
]
