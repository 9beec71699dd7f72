"""A sentence said later: the English and its values now, the language when it is shown.

A service doesn't know who will read what it says (a refusal raised deep in the intake is
shown by the one error boundary, in the member's language), so it says

    raise QuotaExceeded(said("You already have {active} songs in progress.", active=2))

and whoever shows it calls `.in_(interaction.locale)`. `str()` of it is the English, so
logs, tests and older callers that read `user_message` keep working. A value that is itself
`Said` is said in the same language (a phrase inside a sentence, such as a reset time).

`make messages` finds `said("…")` and `said_n("…", "…", n)` like `gettext` (the keywords
in the Makefile and `bot.core.i18n.check`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.core.i18n import LocaleLike, gettext, ngettext


@dataclass(frozen=True, slots=True)
class Said:
    message: str
    plural: str | None = None
    count: int | None = None
    named: Mapping[str, object] = field(default_factory=dict)

    def in_(self, locale: LocaleLike) -> str:
        """The sentence in the locale's language (English for None and every locale without
        a catalog), its values filled in."""
        values = {k: v.in_(locale) if isinstance(v, Said) else v for k, v in self.named.items()}
        if self.plural is not None and self.count is not None:
            return ngettext(locale, self.message, self.plural, self.count, **values)
        return gettext(locale, self.message, **values)

    def __str__(self) -> str:
        return self.in_(None)

    def record(self) -> dict[str, object]:
        """The sentence as plain JSON values, to cross a process boundary (the media worker
        answers in JSON, never a pickle); `Said.of_record` makes it again. A value that is
        itself `Said` (a file's kind) becomes a nested record, so it is said in the member's
        language too. Other values must be JSON's own (str, int, float)."""
        named = {k: v.record() if isinstance(v, Said) else v for k, v in self.named.items()}
        return {"message": self.message, "plural": self.plural, "count": self.count, "named": named}

    @classmethod
    def of_record(cls, data: Mapping[str, object]) -> Said:
        """The sentence `record()` wrote (nested records are `Said` again)."""
        named = data.get("named")
        values = {
            str(k): cls.of_record(v) if isinstance(v, Mapping) else v
            for k, v in (named.items() if isinstance(named, Mapping) else ())
        }
        plural, count = data.get("plural"), data.get("count")
        return cls(
            str(data["message"]),
            plural if isinstance(plural, str) else None,
            count if isinstance(count, int) else None,
            values,
        )


def said(message: str, /, **named: object) -> Said:
    """`message` (whole English sentence, `{name}` placeholders) to be said later."""
    return Said(message, named=named)


def said_n(singular: str, plural: str, count: int, /, **named: object) -> Said:
    """The form of a sentence for `count`, to be said later (`{count}` is filled in)."""
    return Said(singular, plural, count, named)


def in_(text: str | Said, locale: LocaleLike) -> str:
    """`text` in the locale's language when it is `Said`; a plain string as it is."""
    return text.in_(locale) if isinstance(text, Said) else text


__all__ = ["Said", "in_", "said", "said_n"]
