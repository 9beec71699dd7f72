"""Why a song failed, in my words: stored in English with the song (`tasks.error`), said in
the reader's language whenever it is shown (a status, a private answer, /song's card).

The reason is written once, when the song fails, and read back from the row for as long as
the song is shown, after restarts too, by readers of any language; so the row keeps the
English sentence and `said_again` finds it in the catalogs when it is shown. A sentence with
MusicGPT's own words in it is one of the `_WITH_WORDS` templates: its words are read back
out of it and said inside the translated sentence, as MusicGPT wrote them. Any other text
(MusicGPT's alone, or an older version's) is shown as it is.
"""

from __future__ import annotations

import re
from typing import Final

from bot.core.i18n import N_, LocaleLike, gettext, ngettext, translation_or_none

# The failures I say in my own words, all of them whole sentences.
RESTARTED_MID_SUBMIT: Final = N_(
    "I restarted while sending this to MusicGPT, so I stopped it rather than risk "
    "running it twice. Please try again."
)
GAVE_UP: Final = N_(
    "The song was ready, but I couldn't post it to this channel. Please try again later."
)
NOT_ALLOWED: Final = N_(
    "The song was ready, but I'm not allowed to post in that channel. "
    "Ask a moderator to let me post there, then try again."
)
MUSICGPT_FAILED: Final = N_("MusicGPT couldn't make this song. Please try again.")
NO_AUDIO_BACK: Final = N_("MusicGPT finished but sent back no audio. Please try again.")
REFUSED: Final = N_("MusicGPT refused this song. Change what you asked for and try again.")
OUT_OF_CREDITS: Final = N_("My MusicGPT account is out of credits. Please tell the server owner.")
CANT_SIGN_IN: Final = N_("I can't sign in to MusicGPT right now. Please tell the server owner.")
UNCERTAIN: Final = N_(
    "MusicGPT didn't confirm it took this song, so I stopped rather than risk making it "
    "twice. Please try again."
)
UNAVAILABLE: Final = N_("MusicGPT is unavailable right now. Please try again in a few minutes.")
SEND_FAILED: Final = N_("Something went wrong sending this to MusicGPT. Please try again.")

# With MusicGPT's words in them (`{why}`, a sentence of its own).
FAILED_WITH_WORDS: Final = N_("MusicGPT couldn't make this song: {why} Please try again.")
REFUSED_WITH_WORDS: Final = N_(
    "MusicGPT refused this song: {why} Change what you asked for and try again."
)
_WITH_WORDS: Final = (FAILED_WITH_WORDS, REFUSED_WITH_WORDS)

# The poller giving up, with how long it waited past MusicGPT's estimate; read back by its
# shape (`gave_up_waiting` writes it; a unit test checks the two agree).
_GAVE_UP_WAITING: Final = re.compile(
    r"MusicGPT didn't finish this within (?P<count>[0-9]+) minutes? of its estimate, "
    r"so I gave up waiting\. Please try again\."
)


def gave_up_waiting(minutes: int, locale: LocaleLike = None) -> str:
    """The poller's failure after waiting `minutes` past the estimate."""
    return ngettext(
        locale,
        "MusicGPT didn't finish this within {count} minute of its estimate, so I gave up "
        "waiting. Please try again.",
        "MusicGPT didn't finish this within {count} minutes of its estimate, so I gave up "
        "waiting. Please try again.",
        minutes,
    )


def _pattern(template: str, name: str) -> re.Pattern[str]:
    before, after = template.split("{" + name + "}")
    return re.compile(rf"{re.escape(before)}(?P<{name}>.+?){re.escape(after)}", re.S)


_WORDS_PATTERNS: Final = tuple((_pattern(t, "why"), t) for t in _WITH_WORDS)


def said_again(reason: str, locale: LocaleLike = None) -> str:
    """A stored failure `reason` in the locale's language when it is one of mine; as it is
    otherwise (MusicGPT's own text, an older version's wording)."""
    translated = translation_or_none(locale, reason)
    if translated is not None:
        return translated
    for pattern, template in _WORDS_PATTERNS:
        if found := pattern.fullmatch(reason):
            return gettext(locale, template, why=found["why"])
    if found := _GAVE_UP_WAITING.fullmatch(reason):
        return gave_up_waiting(int(found["count"]), locale)
    return reason
