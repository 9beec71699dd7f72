"""What `make messages` ends with, and what the catalog tests ask: is every .po complete,
and does each translation keep its English's placeholders, mentions, links and markdown?

`python -m bot.core.i18n.check` prints each language's count and every problem (exit 1 on a
problem). A problem here would show English to a member (a missing or fuzzy entry), drop a
value (`{count}` spelt `{cuenta}`), ping someone, or break Discord's limits.
"""

from __future__ import annotations

import re
import string
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from bot.core.i18n import DOMAIN, LANGUAGES, LOCALE_DIR, po_path

TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"
ROOT = LOCALE_DIR.parents[1]
# What `make messages` looks for (the Makefile's KEYWORDS say the same; a test checks): the
# language comes first in gettext(locale, "…") and ngettext(locale, "…", "…", n).
KEYWORDS: dict[str, tuple[int, ...] | None] = {
    "_": None,
    "N_": None,
    "gettext": (2,),
    "ngettext": (2, 3),
    "locale_str": None,
    "said": None,
    "said_n": (1, 2),
}

# Said as often in a translation as in English: a mention, a link, a timestamp, markdown.
SAFETY_MARKS = ("@", "<@", "<#", "<t:", "http", "`", "**", "__", "~~", "||", "](")
_LIMIT = re.compile(r"at most (\d+) characters")


def placeholders(text: str) -> set[str]:
    """The named fields of a `str.format` text ("{count} songs" -> {"count"})."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:  # an unmatched brace
        return {"<unbalanced braces>"}


def read_catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=locale, domain=DOMAIN)


MessageId = str | tuple[str, ...]


def _texts(value: object) -> list[str]:
    """A msgid or msgstr as a list: one text, or each plural form."""
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, tuple | list) else []


def template_ids() -> list[MessageId]:
    """Every msgid of bot/locale/bot.pot (a tuple for a plural)."""
    ids: list[MessageId] = []
    for message in read_catalog(TEMPLATE):
        texts = _texts(message.id)
        if texts and texts[0]:
            ids.append(texts[0] if isinstance(message.id, str) else tuple(texts))
    return ids


def code_messages() -> set[MessageId]:
    """Every message the code marks (bot/ and cogs/, as babel.cfg says), read the way
    `make messages` reads it."""
    from babel.messages.extract import extract_from_dir

    found: set[MessageId] = set()
    for folder in ("bot", "cogs"):
        for _, _, message, _, _ in extract_from_dir(
            ROOT / folder, [("**.py", "python")], keywords=KEYWORDS
        ):
            found.add(message)
    return found


def limit_of(message: Message) -> int | None:
    """The length limit `make messages` noted for a command text ("at most 100 characters")."""
    for comment in message.auto_comments:
        if found := _LIMIT.search(comment):
            return int(found.group(1))
    return None


@dataclass(frozen=True)
class Counts:
    translated: int
    total: int


def problems(code: str) -> Iterator[str]:
    """Everything wrong with one language's catalog, one line each."""
    path = po_path(code)
    if not path.exists():
        yield f"{code}: no catalog at {path}"
        return
    catalog = read_catalog(path, code)
    for msgid in template_ids():
        message = catalog.get(msgid)
        if message is None:
            yield f"{code}: missing {_short(msgid)}"
            continue
        yield from (f"{code}: {p}" for p in message_problems(message, catalog.num_plurals))


def message_problems(message: Message, num_plurals: int = 2) -> Iterator[str]:
    english = _texts(message.id)
    forms = _texts(message.string)
    name = _short(english[0])
    if message.fuzzy:
        yield f"fuzzy (check it, then remove the fuzzy flag): {name}"
    if not all(forms):
        yield f"untranslated: {name}"
        return
    if len(english) > 1 and len(forms) != num_plurals:
        yield f"{len(forms)} plural forms, the language has {num_plurals}: {name}"
    wanted = set().union(*(placeholders(e) for e in english))
    for form in forms:
        have = placeholders(form)
        # A plural's singular may say "one song" instead of "{count} song".
        if not (wanted - {"count"} <= have <= wanted) or (len(english) == 1 and have != wanted):
            yield f"placeholders {sorted(have)} instead of {sorted(wanted)}: {name}"
        for mark in SAFETY_MARKS:
            have_marks, want_marks = form.count(mark), english[-1].count(mark)
            if have_marks != want_marks:
                yield f"{mark!r} {have_marks} times, English {want_marks}: {name}"
        limit = limit_of(message)
        if limit is not None and len(form.strip()) > limit:
            yield f"{len(form.strip())} characters, Discord takes {limit}: {name}"


def counts(code: str) -> Counts:
    catalog = read_catalog(po_path(code), code)
    ids = template_ids()
    done = 0
    for msgid in ids:
        message = catalog.get(msgid)
        forms = [] if message is None else _texts(message.string)
        if message is not None and not message.fuzzy and forms and all(forms):
            done += 1
    return Counts(done, len(ids))


def _short(msgid: MessageId) -> str:
    text = msgid if isinstance(msgid, str) else msgid[0]
    return repr(text if len(text) <= 60 else text[:57] + "…")


def main() -> int:
    found = 0
    for code in LANGUAGES:
        lines = list(problems(code))
        found += len(lines)
        if po_path(code).exists():
            c = counts(code)
            print(f"{code}: {c.translated} of {c.total} messages translated")
        for line in lines:
            print(f"  {line}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
