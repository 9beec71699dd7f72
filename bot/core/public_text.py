"""Text the bot didn't write, made safe to show in a public message: it reads as what it is.

A prompt, a file name, a link or MusicGPT's error text goes into embeds and messages the whole
channel sees, in the bot's name. Untreated, `[Download your song here](http://evil.example)`
renders as a link in the bot's words, U+202E turns the rest of a line around, and a few hundred
combining marks smear over the lines above. `shown(text)` makes it plain text again:

1. invisible and direction-changing characters are removed (control characters, bidi
   embeddings/overrides/isolates/marks, zero-width spaces, BOMs, tag characters), except the
   zero-width (non-)joiners that emoji sequences and Persian need; lone surrogates go too (they
   can't even be encoded to send);
2. runs of combining marks are cut to a few per letter (enough for any real script's accents);
3. every Discord markdown character is escaped with a backslash, which Discord renders as the
   character itself: emphasis, strike, spoiler and code (`* _ ~ | \u0060`), masked links (`[ ]`),
   everything in angle brackets (mentions, channels, roles, emoji, timestamps, `<url>`),
   headings, quotes, subtext and lists at the start of a line; `://` loses its link;
   `@everyone`/`@here` get a zero-width space so they don't even look like a ping.

Pure functions without discord.py, so services (bot/) and the Discord side (bot/ui, cogs) can
use them alike; discord.utils.escape_markdown is not enough on its own: it leaves mentions,
`<...>` forms, ordered lists and bare links alone.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, urlsplit

ELLIPSIS = "…"
# The most combining marks kept on one letter: Vietnamese stacks two, pointed and cantillated
# Hebrew three or four; zalgo hundreds.
MAX_MARKS = 4
NOTHING_READABLE = "(nothing readable)"  # what an all-invisible text shows as (never empty)

# Format characters (category Cf) that real text needs: ZWNJ (Persian, Indic) and ZWJ (emoji
# sequences like 👩‍💻). Every other Cf character is invisible or reorders text: U+061C, U+200B,
# U+200E/F, U+202A-E, U+2060-4, U+2066-9, U+FEFF, U+FFF9-B, tag characters U+E0001-7F...
KEPT_FORMAT = frozenset("\u200c\u200d")
# Line breaks of every kind (including U+2028/U+2029 and NEL) become a space in one-line text.
LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")

# Backslash-escaped anywhere: Discord treats a backslash before any punctuation as "this
# character, literally" and shows the character alone.
ALWAYS_ESCAPED = frozenset("\\*_~|`[]<>")
# Markdown that only counts at the start of a line (after spaces): headings (#, and -# subtext),
# block quotes (>), bulleted (- +) and numbered (1.) lists.
LINE_START = re.compile(r"^(\s*)(?:([#>+-])|(\d+)([.)]))", re.MULTILINE)
MASS_MENTION = re.compile(r"@(everyone|here)", re.IGNORECASE)
LINK_SCHEME = re.compile(r"://")


def visible(text: str, *, one_line: bool = True) -> str:
    """`text` without invisible or reordering characters, combining-mark runs tamed.

    With `one_line`, line breaks and tabs become single spaces (a field value must not be able
    to start a line of its own that passes for the bot's). Never returns an empty string for a
    text that had something in it: an all-invisible text becomes NOTHING_READABLE.
    """
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text)
    if one_line:
        text = LINE_BREAKS.sub(" ", text)
    kept: list[str] = []
    marks = 0
    for char in text:
        category = unicodedata.category(char)
        if char == "\t":
            char, category = " ", "Zs"
        if category in ("Cc", "Cs") and char != "\n":
            continue
        if category == "Cf" and char not in KEPT_FORMAT:
            continue
        if category in ("Mn", "Me"):
            marks += 1
            if marks > MAX_MARKS or not kept:
                continue  # zalgo, or a mark with nothing to sit on
        else:
            marks = 0
        kept.append(char)
    cleaned = "".join(kept)
    cleaned = re.sub(r"[ \u00a0]{2,}", " ", cleaned) if one_line else cleaned
    cleaned = cleaned.strip()
    return cleaned or NOTHING_READABLE


def escape_markdown(text: str) -> str:
    """`text` with every Discord markdown construct escaped, so it shows literally."""
    escaped = "".join("\\" + char if char in ALWAYS_ESCAPED else char for char in text)

    def line_start(match: re.Match[str]) -> str:
        spaces, symbol, number, dot = match.groups()
        if symbol is not None:
            return f"{spaces}\\{symbol}"
        return f"{spaces}{number}\\{dot}"

    escaped = LINE_START.sub(line_start, escaped)
    escaped = LINK_SCHEME.sub(r"\\://", escaped)  # `https\://x` shows the address, links nowhere
    return MASS_MENTION.sub("@\u200b\\1", escaped)


def shown(text: str | None, limit: int = 1024, *, one_line: bool = True) -> str:
    """Someone else's text as Discord markdown showing exactly it, at most `limit` characters.

    Cut (with an ellipsis) before escaping, so a cut never splits an escape: a stray trailing
    backslash would escape whatever the bot writes next.
    """
    clean = visible(text or "", one_line=one_line)
    rendered = escape_markdown(clean)
    if len(rendered) <= limit:
        return rendered
    # The longest prefix whose escaped form, plus the ellipsis, fits (escaping only grows).
    low, high = 0, min(len(clean), limit)
    while low < high:
        middle = (low + high + 1) // 2
        if len(escape_markdown(clean[:middle].rstrip())) + len(ELLIPSIS) <= limit:
            low = middle
        else:
            high = middle - 1
    return escape_markdown(clean[:low].rstrip()) + ELLIPSIS


# What may stay as it is in a link the bot writes out: RFC 3986's unreserved and reserved
# characters and `%` (already-encoded bytes). Everything else, including `<`, `>`, spaces,
# quotes, backticks and every non-ASCII character, is percent-encoded.
URL_SAFE = "-._~:/?#[]@!$&'()*+,;=%"


def safe_link(url: str | None) -> str | None:
    """An http(s) URL made safe to put between `<` and `>` in a message; None if it's no URL.

    For links that are meant to be clicked (a song MusicGPT made): percent-encoding the rest
    means the address can't close the `<...>` or carry markdown or invisible characters.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return quote(url.strip(), safe=URL_SAFE)
