"""A server's blocked words (`/settings words`), found in what a member typed.

Both the blocked words and the text go through the same normalisation first, so the owner's
spelling and the member's only have to mean the same letters:

1. Invisible characters are removed: every format character (Unicode category Cf: zero-width
   space, joiners, word joiner, BOM, soft hyphen, bidi controls, ...), variation selectors,
   the combining grapheme joiner and the Hangul fillers. "ba\\u200bd" is "bad".
2. NFKC: compatibility forms fold to plain letters (fullwidth letters, ligatures,
   circled or styled letters) and composed and decomposed accents become one spelling. Accents
   are *not* stripped: "año" and "ano" are different words in Spanish.
3. casefold: case-insensitive for every script ("STRASSE" matches "straße").

A second reading of the text catches two cheap disguises without touching honest text: in a
word that mixes Latin letters with digits or @/$ ("h3ll0", "b@d"), those become the letters
they stand for; in a word that mixes Latin with Cyrillic or Greek letters, the look-alikes
(Cyrillic a, e, o, ...) become Latin. A word written wholly in digits, or wholly in
Cyrillic, is read as it is, so "2024" or a Russian word never turns into a blocked Latin word.
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

from bot.core.errors import UserFacingError
from bot.core.models import Request, TaskKind

# Invisible characters that are not category Cf (which is removed as a whole).
_INVISIBLE_EXTRA = frozenset(
    "\u034f"  # combining grapheme joiner
    "\u115f\u1160\u3164\uffa0"  # Hangul fillers, which render as nothing
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))  # variation selectors
)
# Word-internal stand-ins for letters ("h3ll0"), only read as letters next to a letter.
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
# Cyrillic and Greek letters that look like Latin ones (after casefold), for mixed words.
_LOOKALIKE = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
        "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
        "τ": "t", "υ": "u", "χ": "x",
    }
)  # fmt: skip
# A run of word characters plus the leet symbols, i.e. one "word" of the disguised reading.
_TOKEN = re.compile(r"[\w@$]+")
_LATIN = re.compile(r"[a-z]")
_WORD = re.compile(r"\w+")
_UNSPACED_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR", "IDEOGRAPH")


def normalise(text: str) -> str:
    """The text as matching sees it: invisible characters gone, NFKC, casefolded."""
    visible = "".join(
        c for c in text if c not in _INVISIBLE_EXTRA and unicodedata.category(c) != "Cf"
    )
    # NFKC can produce characters casefold changes and vice versa: NFKC once more after.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", visible).casefold())


def _undisguise(token: re.Match[str]) -> str:
    word = token.group()
    if not _LATIN.search(word):  # digits only, or another script only: honest as it is
        return word
    return word.translate(_LEET).translate(_LOOKALIKE)


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
    TaskKind.SING: "Lyrics",
    TaskKind.INPAINT: "Lyrics of the whole song",
    TaskKind.EXTEND: "Lyrics of the new part",
}

# Private (the refusal is ephemeral), so it may name the word and where it is.
REFUSAL = (
    "This server doesn't allow “{word}”, which is in the {where}. "
    "Change that and try again; nothing was charged."
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
            raise BlockedWord(REFUSAL.format(word=word, where=where))
