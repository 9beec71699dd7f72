"""A server's blocked words (`/settings words`), found in what a member typed.

Both the blocked words and the text go through the same normalisation first, so the owner's
spelling and the member's only have to mean the same letters:

1. Invisible characters are removed: every default-ignorable code point (Unicode's
   Default_Ignorable_Code_Point, unassigned ones included: zero-width space, joiners, BOM,
   soft hyphen, bidi controls, all variation selectors, Khmer's invisible vowels, tag
   characters, Hangul fillers, ...) and every other format character (category Cf).
   "ba\\u200bd" is "bad".
2. NFKC: compatibility forms fold to plain letters (fullwidth letters, ligatures,
   circled or styled letters) and composed and decomposed accents become one spelling. Accents
   are *not* stripped: "año" and "ano" are different words in Spanish.
3. casefold: case-insensitive for every script ("STRASSE" matches "straße").
4. Combining marks still left after composition on a Latin, Greek or Cyrillic letter (or on
   a digit or punctuation) are removed: they are overlays and decorations ("b̶a̶d̶", a
   strike-through, a stack of accents), not a letter of any word there: the accented letters
   those languages write compose into one character in step 2 (the rare one that doesn't,
   like Yoruba's ẹ́, loses its extra mark on both sides alike). In scripts whose spelling needs
   its marks (Devanagari, Arabic, Hebrew, Thai, ...) they stay.

A second reading of the text catches look-alikes without touching honest text: in a word that
has at least one Latin letter, digits and @/$ become the letters they stand for ("h3ll0",
"b@d"), and every letter Unicode lists as confusable with a Latin letter becomes that letter
(Cyrillic а, е, о, Armenian օ, Latin ɑ and ı, small capitals ᴀʙᴄ, ...). That list is Unicode's
confusables data (UTS #39) as the confusable-homoglyphs package ships it, followed at most two
steps (к → ĸ → ᴋ), and a small capital reads as its letter (its Unicode name says which). A
word with no Latin letter, wholly in digits or wholly in Cyrillic, Greek, Armenian, ..., is
read as it is, so "2024" or a Russian word never turns into a blocked Latin word. The cost:
Turkish ı reads as i in the second reading, so a blocked "sik" also stops "sık".
Not handled (documented in the README): letters spaced or dotted apart ("b a d", "b.a.d").

Whole words: a blocked word must not have a letter, digit or underscore (`\\w`, Unicode-aware)
right before or after it, so "ass" does not match "class". Scripts written without spaces
between words (Chinese, Japanese, Thai, ...) have no such boundary, so on a side where the
blocked word ends in one of those characters it matches inside the text. A blocked phrase
("bad word") matches its words separated by any run of spaces or punctuation.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from confusable_homoglyphs import categories, confusables

from bot.core.errors import UserFacingError
from bot.core.i18n import N_
from bot.core.i18n.said import said
from bot.core.models import Request, TaskKind

# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt), unassigned code points
# included: Unicode reserves these ranges for invisible characters, so a character added to
# them later is invisible too (Python's own tables don't know it yet). Stable by policy.
_DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
    (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)  # fmt: skip
_IGNORABLE = re.compile(
    "[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in _DEFAULT_IGNORABLE) + "]"
)
# Scripts whose letters take no combining mark as part of a word once composed (NFC): a mark
# left on them is decoration. COMMON: digits and punctuation; INHERITED: another mark.
_DECORATED = frozenset({"LATIN", "GREEK", "CYRILLIC", "COMMON", "INHERITED"})
# Word-internal stand-ins for letters ("h3ll0"), only read as letters next to a letter.
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_SMALL_CAPITAL = re.compile(r"LATIN LETTER SMALL CAPITAL ([A-Z])")
# A run of word characters plus the leet symbols, i.e. one "word" of the disguised reading.
_TOKEN = re.compile(r"[\w@$]+")
_WORD = re.compile(r"\w+")
_UNSPACED_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR", "IDEOGRAPH")


@functools.lru_cache(maxsize=4096)
def _script(char: str) -> str:
    """Unicode's Script property of `char` ("LATIN", "COMMON", ...)."""
    return str(categories.alias(char))


def _undecorated(text: str) -> str:
    """`text` without the combining marks on letters of the _DECORATED scripts."""
    kept: list[str] = []
    base_script = "COMMON"
    for char in text:
        if unicodedata.category(char).startswith("M"):
            if base_script in _DECORATED:
                continue
        else:
            base_script = _script(char)
        kept.append(char)
    return "".join(kept)


def normalise(text: str) -> str:
    """The text as matching sees it: invisible characters gone, NFKC, casefolded, overlays
    and decorations gone."""
    visible = "".join(c for c in _IGNORABLE.sub("", text) if unicodedata.category(c) != "Cf")
    # NFKC can produce characters casefold changes and vice versa: NFKC once more after.
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", visible).casefold())
    if folded.isascii():
        return folded
    return _undecorated(folded)


def _ascii_letter(char: str) -> str | None:
    """The Latin letter `char` is, written plainly: itself, or a small capital's letter."""
    if len(char) != 1:
        return None
    if char.isascii():
        return char.lower() if char.isalpha() else None
    small_capital = _SMALL_CAPITAL.fullmatch(unicodedata.name(char, ""))
    return small_capital.group(1).lower() if small_capital else None


@functools.lru_cache(maxsize=4096)
def latin_lookalike(char: str) -> str:
    """The Latin letter `char` looks like (Unicode's confusables), or `char` itself.

    The data lists each confusable with its prototype, in both directions; a prototype may be
    another look-alike (Cyrillic к → ĸ, whose other look-alike is the small capital ᴋ), so
    the search goes two steps out, nearest first.
    """
    if char.isascii():
        return char
    if (letter := _ascii_letter(char)) is not None:
        return letter
    seen = {char}
    frontier = [char]
    for _ in range(2):
        further: list[str] = []
        for each in frontier:
            for homoglyph in confusables.confusables_data.get(each, ()):
                other = homoglyph["c"]
                if other in seen:
                    continue
                seen.add(other)
                if (letter := _ascii_letter(other)) is not None:
                    return letter
                further.append(other)
        frontier = further
    return char


def _undisguise(token: re.Match[str]) -> str:
    word = token.group()
    if word.isascii():
        if not any(c.isalpha() for c in word):
            return word  # digits only: honest as it is
        return word.translate(_LEET)
    if not any(c.isalpha() and _script(c) == "LATIN" for c in word):
        return word  # another script only: honest as it is
    return "".join(latin_lookalike(c) for c in word.translate(_LEET))


def _readings(text: str) -> Iterable[str]:
    plain = normalise(text)
    yield plain
    disguised = _TOKEN.sub(_undisguise, plain)
    if disguised != plain:
        yield disguised


def _unspaced(char: str) -> bool:
    return unicodedata.name(char, "").startswith(_UNSPACED_SCRIPTS)


def _pattern(word: str) -> str | None:
    parts = normalise(word).split()
    if not parts:
        return None
    body = r"[\W_]+".join(re.escape(p) for p in parts)
    before = "" if _unspaced(parts[0][0]) else r"(?<!\w)"
    after = "" if _unspaced(parts[-1][-1]) else r"(?!\w)"
    return f"{before}{body}{after}"


@dataclass(frozen=True, slots=True)
class _Matcher:
    # Plain whole words (the usual list) by their normalised spelling: a set lookup per
    # word of the text, whatever the list's length.
    words: dict[str, str]
    # Phrases, words with punctuation, words in unspaced scripts: one alternation, with the
    # typed word behind each of its groups (group n is typed[n - 1]).
    pattern: re.Pattern[str] | None
    typed: list[str]


@functools.lru_cache(maxsize=256)
def _matcher(words: tuple[str, ...]) -> _Matcher | None:
    """A server's list, compiled (cached: the list rarely changes)."""
    plain: dict[str, str] = {}
    typed: list[str] = []
    patterns: list[str] = []
    for word in words:
        normal = " ".join(normalise(word).split())
        if not normal:
            continue
        if _WORD.fullmatch(normal) and not (_unspaced(normal[0]) or _unspaced(normal[-1])):
            plain.setdefault(normal, word.strip())
        elif (pattern := _pattern(normal)) is not None:
            typed.append(word.strip())  # one capturing group each: `lastindex` names it
            patterns.append(f"({pattern})")
    if not plain and not patterns:
        return None
    return _Matcher(plain, re.compile("|".join(patterns)) if patterns else None, typed)


def find_blocked(words: Sequence[str], text: str | None) -> str | None:
    """The first blocked word (as the owner typed it) found in `text`, or None."""
    if not words or not text:
        return None
    matcher = _matcher(tuple(words))
    if matcher is None:
        return None
    for reading in _readings(text):
        if matcher.words:
            for token in _WORD.findall(reading):
                if token in matcher.words:
                    return matcher.words[token]
        if matcher.pattern is not None and (found := matcher.pattern.search(reading)):
            return matcher.typed[(found.lastindex or 1) - 1]
    return None


class BlockedWord(UserFacingError):
    """A request uses a word the server blocked; nothing was sent or charged."""


# How a request's `lyrics` field is named to members, by kind (refusals, length checks).
LYRICS_LABELS = {
    TaskKind.SING: N_("Lyrics"),
    TaskKind.INPAINT: N_("Lyrics of the whole song"),
    TaskKind.EXTEND: N_("Lyrics of the new part"),
}

# Private (the refusal is ephemeral), so it may name the word and where it is.
REFUSAL = N_(
    "This server doesn't allow “{word}”, which is in the {where}. "
    "Change that and try again; nothing was charged."
)
# Where a word was found, as the refusal says it (`request_fields`' names, marked here).
WHERE = (
    N_("prompt (style)"),
    N_("lyrics"),
    N_("lyrics of the whole song"),
    N_("lyrics of the new part"),
    N_("new lyrics for the replaced part"),
)


def request_fields(request: Request) -> list[tuple[str, str | None]]:
    """Every text of a request a member wrote, with the name the refusal gives it."""
    whole = LYRICS_LABELS[request.kind].lower()
    return [
        ("prompt (style)", request.prompt),
        (whole, request.lyrics),
        ("new lyrics for the replaced part", request.lyrics_section_to_replace),
    ]


def check_request(words: Sequence[str], request: Request) -> None:
    """Raise BlockedWord if the prompt or any lyrics field of `request` has a blocked word."""
    if not words:  # most servers block nothing: no normalisation at all
        return
    for where, text in request_fields(request):
        if (word := find_blocked(words, text)) is not None:
            raise BlockedWord(said(REFUSAL, word=word, where=said(where)))
