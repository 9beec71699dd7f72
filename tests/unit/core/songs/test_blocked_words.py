"""Blocked words: whole words in any script, after undoing look-alike tricks."""

from __future__ import annotations

import dataclasses

import pytest

from bot.core.models import Request, TaskKind
from bot.core.songs import blocked_words
from bot.core.songs.blocked_words import BlockedWord, check_request, find_blocked, normalise

WORDS = ("darn", "heck yeah", "NaÏve", "猫", "Ёлка")


@pytest.mark.parametrize(
    "text",
    [
        "oh darn it",  # a whole word
        "DARN",  # uppercase
        "Darn!",  # punctuation around
        "(darn), well",
        "'darn'",
        "da\u200brn",  # zero-width space inside
        "d\u200da\u200cr\u2060n\ufeff",  # joiners, word joiner, BOM
        "dar\u00adn",  # soft hyphen
        "\uff44\uff41\uff52\uff4e",  # fullwidth letters, folded by NFKC
        "d4rn",  # digits standing for letters, inside a word with letters
        "d\u0430rn",  # a Cyrillic a among Latin letters
        "heck yeah",  # a phrase
        "HECK,   yeah!",  # a phrase, with punctuation and spaces between its words
        "so naïve",  # composed accent
        "so nai\u0308ve",  # decomposed accent: NFKC composes it
        "我的猫很可爱",  # CJK has no spaces: the word matches inside
        "ёлка",  # Cyrillic, casefolded
        "line one\ndarn\nline three",
    ],
)
def test_blocked(text: str) -> None:
    assert find_blocked(WORDS, text) is not None, text


@pytest.mark.parametrize(
    "text",
    [
        "darned socks",  # a longer word containing it
        "undarn",
        "darn_it",  # underscore is a word character
        "heck no, yeah",  # not the phrase
        "heckyeah",  # the phrase's words run together are another word
        "naive",  # accents are not stripped: another word
        "我的狗很可爱",  # other CJK text, no crash
        "ёлочка",
        "2024 was d-a-r-n good",  # spelled apart: documented as not caught
        "",
    ],
)
def test_allowed(text: str) -> None:
    assert find_blocked(WORDS, text) is None, text


def test_names_the_word_as_the_owner_typed_it() -> None:
    assert find_blocked(WORDS, "NAÏVE idea") == "NaÏve"
    assert find_blocked(WORDS, "heck, yeah") == "heck yeah"
    assert find_blocked(["  spaced  "], "a spaced word") == "spaced"


def test_digits_alone_and_other_scripts_alone_are_read_as_they_are() -> None:
    # "3" reads "e" only inside a word with Latin letters; a wholly Cyrillic word that looks
    # like "cop" is not "cop", but a Latin word with a Cyrillic o is.
    assert find_blocked(["e"], "chapter 3") is None
    assert find_blocked(["cop"], "\u0441\u043e\u0440") is None
    assert find_blocked(["cop"], "c\u043ep") == "cop"


def test_blocked_words_are_normalised_too() -> None:
    assert find_blocked(["da\u200brn"], "darn") == "da\u200brn"
    fullwidth = "\uff24\uff21\uff32\uff2e"
    assert find_blocked([fullwidth], "darn") == fullwidth
    assert normalise("Stra\u00dfe") == normalise("STRASSE")


def test_empty_or_blank_words_block_nothing() -> None:
    assert find_blocked([], "anything") is None
    assert find_blocked(["", "   ", "\u200b"], "anything at all") is None


def test_regex_characters_in_a_word_are_literal() -> None:
    assert find_blocked(["a.c"], "abc") is None
    assert find_blocked(["c++"], "I code c++ daily") == "c++"
    assert find_blocked(["c++"], "abc++") is None  # a letter right before it
    assert find_blocked(["(x)"], "y (x) z") == "(x)"


def test_an_empty_list_reads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Most servers block nothing: their requests aren't even normalised."""

    def never(text: str) -> str:
        raise AssertionError("normalised with no blocked words")

    monkeypatch.setattr(blocked_words, "normalise", never)
    assert find_blocked((), "la " * 700) is None
    check_request((), request(lyrics="anything"))
    with pytest.raises(AssertionError):  # the seam is real: a list does normalise
        find_blocked(("new word",), "la")


def request(**fields: str | None) -> Request:
    return Request(
        kind=TaskKind.INPAINT,
        user_id=1,
        guild_id=2,
        channel_id=3,
        prompt=fields.get("prompt") or "soft piano",
        lyrics=fields.get("lyrics"),
        lyrics_section_to_replace=fields.get("new"),
    )


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"prompt": "darn ballad"}, "prompt"),
        ({"lyrics": "la la darn"}, "lyrics of the whole song"),
        ({"new": "DARN"}, "new lyrics for the replaced part"),
    ],
)
def test_every_field_of_a_request_is_checked(fields: dict[str, str], where: str) -> None:
    with pytest.raises(BlockedWord) as refused:
        check_request(["darn"], request(**fields))
    assert "“darn”" in refused.value.user_message and where in refused.value.user_message


def test_an_extends_lyrics_are_named_as_the_new_parts() -> None:
    extend = dataclasses.replace(request(lyrics="la la darn"), kind=TaskKind.EXTEND)
    with pytest.raises(BlockedWord) as refused:
        check_request(["darn"], extend)
    assert "lyrics of the new part" in refused.value.user_message


def test_a_clean_request_passes() -> None:
    check_request(["darn"], request(lyrics="darned good", new="fine"))
    check_request([], request(lyrics="darn"))


@pytest.mark.parametrize(
    "text",
    [
        "d\U000e0100a\U000e01efrn",  # variation selectors of the supplement (U+E0100–E01EF)
        "da\u17b4r\u17b5n",  # Khmer's invisible vowels
        "d\u2065arn",  # a default-ignorable code point not yet assigned
        "d\U000e0fffa\U000e0080rn",  # unassigned, in the reserved tag range
        "d\u0336a\u0336r\u0336n\u0336",  # struck through: d̶a̶r̶n̶
        "d\u0338a\u20d2rn",  # other overlays
        "d\u0301\u0302\u0303arn",  # a stack of marks that composes into nothing
        "d\u093carn",  # another script's mark on a Latin letter
        "d\u0251rn",  # ɑ, Latin alpha
        "nai\u0308ve d\u0251rn",
        "\u0501arn",  # ԁ, Cyrillic komi de
        "dar\u0578",  # ո, Armenian vo
        "d\u0585\u0585r",  # օ, Armenian oh, in "door"
        "\u1d05\u1d00\u0280\u0274",  # small capitals: ᴅᴀʀɴ
        "d\u043a\u043c",  # к and м: two steps in Unicode's data (к → ĸ → ᴋ)
    ],
)
def test_bypasses_an_outside_review_found(text: str) -> None:
    assert find_blocked(("darn", "door", "dkm"), text) is not None, text


@pytest.mark.parametrize(
    ("word", "text"),
    [
        ("nice", "n\u0131ce"),  # ı, dotless i
        ("nice", "n\u04cfce"),  # ӏ, palochka: Unicode reads it as dotless i
        ("hi", "h\u0269"),  # ɩ, Latin iota
    ],
)
def test_dotless_and_look_alike_i(word: str, text: str) -> None:
    assert find_blocked((word,), text) == word


def test_marks_that_spell_a_word_stay() -> None:
    # Devanagari's vowel signs and virama are the word: "कल" (tomorrow) is not "काला" (black).
    assert find_blocked(["कल"], "काला") is None
    assert find_blocked(["काला"], "वह काला है") == "काला"
    # Precomposed accents stay accents: NFKC composes them before marks are dropped.
    assert find_blocked(["naive"], "nai\u0308ve") is None
    assert find_blocked(["año"], "an\u0303o") == "año"


def test_whole_words_in_another_script_are_still_read_as_they_are() -> None:
    assert find_blocked(["door"], "\u0564\u0585\u0585\u0580") is None  # all Armenian
    assert find_blocked(["ok"], "\u043e\u043a") is None  # Russian "ок"
    assert find_blocked(["dar"], "\u0434\u0430\u0440") is None  # Russian "дар"


def test_every_variation_selector_and_format_character_is_invisible() -> None:
    import sys
    import unicodedata

    invisible = [
        chr(c)
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) == "Cf"
        or "VARIATION SELECTOR" in unicodedata.name(chr(c), "")
    ]
    assert len(invisible) > 400
    assert normalise("x".join(invisible)) == "x" * (len(invisible) - 1)
