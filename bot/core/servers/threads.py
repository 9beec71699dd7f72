"""A thread per song, decided without Discord: whether a song gets one, its name, and what a
refusal means.

The Discord side (`ThreadOpener`) opens the thread from the song's status message and records
the outcome in the store; a refusal is one of `ThreadRefusal`, and the status message says its
`why` line (`bot.core.songs.progress`).
"""

from __future__ import annotations

from enum import StrEnum

from bot.core.i18n import N_, LocaleLike, gettext
from bot.core.public_text import ELLIPSIS, NOTHING_READABLE, visible
from bot.core.servers.guild_settings import GuildSettings

NAME_LIMIT = 100  # Discord's limit on a thread's name
# Discord's error codes for a thread it won't start.
THREAD_EXISTS = 160004  # "A thread has already been created for this message"
TOO_MANY_THREADS = 160006  # "Maximum number of active threads reached"
MISSING_ACCESS, MISSING_PERMISSIONS = 50001, 50013


def wants_thread(
    option: bool | None, *, in_thread: bool, settings: GuildSettings | None = None
) -> bool:
    """Whether a new song gets a thread of its own.

    The server's threads mode decides with the `thread` option (`off` ignores it, `always`
    opens one for every song, `optional`, the default, leaves it to the option). A song asked
    inside a thread is already in one, and Discord starts no thread inside a thread.
    """
    return (settings or GuildSettings()).wants_thread(option) and not in_thread


def thread_name(prompt: str, fallback: str) -> str:
    """The thread's name: the prompt on one line, without invisible or reordering characters
    (a name shows no markdown, so nothing is escaped), at most 100 characters, cut at a word."""
    name = visible(prompt)
    if name == NOTHING_READABLE or not name:
        return fallback[:NAME_LIMIT]
    if len(name) <= NAME_LIMIT:
        return name
    cut = name[: NAME_LIMIT - len(ELLIPSIS)]
    # Back to the last space when there is one in the second half: a word is never split, and
    # one very long word is still cut rather than dropped.
    space = cut.rfind(" ")
    if space >= NAME_LIMIT // 2:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


class ThreadRefusal(StrEnum):
    """Why a song that asked for a thread continues in the channel (stored as the value)."""

    TOO_MANY = "too_many"  # 160006
    NOT_ALLOWED = "not_allowed"  # 403: Missing Permissions / Access
    OTHER = "other"  # anything else Discord answered, or no answer at all

    @property
    def why(self) -> str:
        return self.why_in(None)

    def why_in(self, locale: LocaleLike) -> str:
        """What the status says, in the server's language (`locale`)."""
        return gettext(locale, _WHY[self])


_WHY = {
    ThreadRefusal.TOO_MANY: N_(
        "I couldn't open a thread here (this server has too many active threads), so this "
        "song continues in the channel."
    ),
    ThreadRefusal.NOT_ALLOWED: N_(
        "I couldn't open a thread here (I'm not allowed to start threads in this channel), so "
        "this song continues in the channel."
    ),
    ThreadRefusal.OTHER: N_(
        "I couldn't open a thread here, so this song continues in the channel."
    ),
}


def refusal_for(status: int | None, code: int | None) -> ThreadRefusal:
    """What Discord's answer (HTTP status, JSON error code) to a thread creation means."""
    if code == TOO_MANY_THREADS:
        return ThreadRefusal.TOO_MANY
    if status == 403 or code in (MISSING_ACCESS, MISSING_PERMISSIONS):
        return ThreadRefusal.NOT_ALLOWED
    return ThreadRefusal.OTHER


def refusal_of(stored: str | None) -> ThreadRefusal | None:
    """A stored refusal read back; an unknown value (a later version's) reads as OTHER."""
    if not stored:
        return None
    try:
        return ThreadRefusal(stored)
    except ValueError:
        return ThreadRefusal.OTHER
