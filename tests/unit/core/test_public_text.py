"""Someone else's text in a public message: hostile strings show literally, and only that."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.public_text import (
    ALWAYS_ESCAPED,
    MAX_MARKS,
    NOTHING_READABLE,
    safe_link,
    shown,
    visible,
)

BIDI_AND_INVISIBLE = [
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",  # embeddings and overrides
    "\u2066", "\u2067", "\u2068", "\u2069",  # isolates
    "\u200e", "\u200f", "\u061c",  # marks
    "\u200b", "\u2060", "\ufeff", "\u00ad", "\U000e0041",  # zero-width, BOM, soft hyphen, tag
]  # fmt: skip
CONTROL = [chr(c) for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0))]


def rendered(markdown: str) -> str:
    """What Discord shows for escaped text: a backslash before punctuation shows the
    punctuation alone, and the zero-width space put after an `@` is invisible."""
    return re.sub(r"\\([^A-Za-z0-9\s])", r"\1", markdown).replace("@\u200b", "@")


def unescaped(markdown: str) -> str:
    """What Discord could read as markup: every escape replaced by a plain letter."""
    return re.sub(r"\\[^A-Za-z0-9\s]", "x", markdown)


def test_a_masked_link_is_not_a_link() -> None:
    text = shown("[Download your song here](http://evil.example)")
    assert text == r"\[Download your song here\](http\://evil.example)"
    assert rendered(text) == "[Download your song here](http://evil.example)"
    assert "[" not in unescaped(text) and "://" not in unescaped(text)


@pytest.mark.parametrize(
    ("hostile", "markup"),
    [
        ("# I am the bot", "#"),
        ("-# small print", "-"),
        ("> quoted", ">"),
        (">>> quoted to the end", ">"),
        ("**bold** __underline__ *it* _it_", "*"),
        ("~~struck~~", "~"),
        ("||spoiler||", "|"),
        ("`code` ```block```", "`"),
        ("<@123456789012345678> <@&123456789012345678> <#1> <t:0:R> </sing:1> <:e:1>", "<"),
        ("<https://evil.example>", "<"),
        ("- item", "-"),
        ("1. item", "."),
        ("\\*not escaped by me*", "*"),
    ],
)
def test_markdown_shows_literally(hostile: str, markup: str) -> None:
    text = shown(hostile)
    assert rendered(text) == hostile
    leftover = unescaped(text)
    assert not any(char in ALWAYS_ESCAPED for char in leftover), text
    assert not re.match(r"\s*([#>+-]|\d+[.)])", leftover), text
    assert markup in hostile and markup not in leftover[:1]


def test_mass_mentions_dont_look_like_pings() -> None:
    text = shown("hey @everyone and @here")
    assert "@everyone" not in text and "@here" not in text
    assert rendered(text) == "hey @everyone and @here"


@pytest.mark.parametrize("char", BIDI_AND_INVISIBLE + CONTROL)
def test_invisible_and_reordering_characters_are_removed(char: str) -> None:
    assert shown(f"abc{char}def") in ("abcdef", "abc def")


def test_line_breaks_become_spaces_so_no_line_passes_for_the_bots() -> None:
    assert shown("nice\n✅ Posted 2 takes below.\r\n# x\u2028y") == (
        "nice ✅ Posted 2 takes below. # x y"
    )
    assert shown("a\n# b", one_line=False) == "a\n\\# b"


def test_zalgo_is_tamed_and_real_accents_stay() -> None:
    zalgo = "Z" + "\u0301\u0316\u0337\u0360" * 50 + "algo"
    text = unicodedata.normalize("NFD", shown(zalgo))
    marks = [c for c in text if unicodedata.combining(c)]
    assert "".join(c for c in text if not unicodedata.combining(c)) == "Zalgo"
    # NFC may first fold one mark into the letter (Z + U+0301 is Ź): at most one more.
    assert MAX_MARKS <= len(marks) <= MAX_MARKS + 1
    for real in ["Tiếng Việt", "naïve café", "שָׁלוֹם", "नमस्ते", "👩‍💻 🏳️‍🌈", "کتاب‌ها"]:
        assert shown(real) == unicodedata.normalize("NFC", real)


def test_nothing_readable_is_never_empty() -> None:
    assert shown("\u202e\u200b\x00 ") == NOTHING_READABLE
    assert shown("\u0301\u0301") == NOTHING_READABLE  # marks with nothing to sit on
    assert shown("") == "" and shown(None) == ""


def test_cut_to_the_limit_without_splitting_an_escape() -> None:
    text = shown("*" * 5000, limit=1024)
    assert len(text) <= 1024 and text.endswith("…")
    assert not text[:-1].endswith("\\") or text[:-1].endswith("\\\\")
    assert rendered(text[:-1]) == "*" * ((len(text) - 1) // 2)
    assert shown("x" * 2000, limit=100) == "x" * 99 + "…"


def test_lone_surrogates_go() -> None:
    text = shown("a\ud800b")
    assert text == "ab"
    text.encode()  # sending it to Discord needs UTF-8


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://cdn.example/a.mp3", "https://cdn.example/a.mp3"),
        ("https://cdn.example/a b.mp3", "https://cdn.example/a%20b.mp3"),
        ("https://x.example/a>[click](http://evil)", "https://x.example/a%3E[click](http://evil)"),
        ("https://x.example/\u202egnp.exe", "https://x.example/%E2%80%AEgnp.exe"),
        ("https://x.example/`x`", "https://x.example/%60x%60"),
        ("https://x.example/%41", "https://x.example/%41"),
        ("javascript:alert(1)", None),
        ("ftp://x.example/a", None),
        ("https:///nohost", None),
        ("", None),
        (None, None),
    ],
)
def test_safe_link(url: str | None, expected: str | None) -> None:
    assert safe_link(url) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.integers(min_value=2, max_value=400))
def test_any_text_shows_literally_within_the_limit(text: str, limit: int) -> None:
    out = shown(text, limit)
    assert len(out) <= limit
    assert bool(out) == bool(text)
    out.encode()
    for char in out:
        category = unicodedata.category(char)
        assert category not in ("Cc", "Cs"), repr(char)
        assert category != "Cf" or char in "\u200b\u200c\u200d", repr(char)  # 200b: ours
    leftover = unescaped(out)
    assert not any(char in ALWAYS_ESCAPED for char in leftover), out
    assert "://" not in leftover and "@everyone" not in out and "@here" not in out
    clean = visible(text)
    if not out.endswith("…"):
        assert rendered(out) == clean
    else:
        assert clean.startswith(rendered(out[:-1]))
