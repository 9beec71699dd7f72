"""What /queue says: a server's songs still under way, in the order they go, without Discord.

The line is the bot's, shared by every server (MUSICGPT_MAX_PARALLEL songs at MusicGPT at once),
so a waiting song's place is its place in that line, as its status message says. The songs
with MusicGPT (or being posted) come first, then those waiting, each one line: `#N`, its kind,
who asked (a mention, sent so it pings no one), where it stands, and when it was asked
(`<t:UNIX:R>`, shown by each reader's client in their own time). At most 2,000 characters; the
rest are counted ("and 4 more").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from bot.core.i18n import N_, LocaleLike, gettext, ngettext
from bot.core.models import Task, TaskKind, TaskStatus

MESSAGE_LIMIT: Final = 2000  # Discord's, per message
EMPTY: Final = N_("Nothing is waiting or being made here right now: `/sing` starts a song.")
CANCEL_HINT: Final = N_(
    "You may cancel a waiting song of anyone's here (its status's Cancel button, or the menu "
    "below); its requester gets it back and is told."
)
OWN_CANCEL_HINT: Final = N_("Cancel a waiting song of yours with its status's Cancel button.")
_SEPARATOR: Final = " · "

WHERE: Final[dict[TaskStatus, str]] = {
    TaskStatus.SUBMITTING: N_("🎙️ being sent to MusicGPT"),
    TaskStatus.SUBMITTED: N_("🎙️ with MusicGPT"),
    TaskStatus.COMPLETED: N_("📬 done, being posted"),
    TaskStatus.DELIVERING: N_("📬 done, being posted"),
}


@dataclass(frozen=True, slots=True)
class QueueEntry:
    task: Task
    position: int  # its place in the bot's line; 0 once it left the line (with MusicGPT)

    @property
    def waiting(self) -> bool:
        return self.position > 0


def kind_word(task: Task) -> str:
    """What kind of song: a sing, an inpaint, an extend, or one a button or menu made from
    another (Rewrite, Extend, Sing over this, Again), as its status's lineage line says."""
    if task.parent_task_id is None:
        return _KIND_WORDS[task.kind]
    if task.parent_output is None:
        return "again"
    if task.kind is TaskKind.SING:
        return "sing over"
    return "extension" if task.kind is TaskKind.EXTEND else "rewrite"


_KIND_WORDS: Final[dict[TaskKind, str]] = {
    TaskKind.SING: "sing",
    TaskKind.INPAINT: "inpaint",
    TaskKind.EXTEND: "extend",
}


def server_queue(unfinished: Sequence[Task], guild_id: int) -> list[QueueEntry]:
    """The server's unfinished songs in order: those under way first (oldest first), then
    those waiting, by their place in the bot's whole line (`unfinished`: every server's)."""
    waiting = sorted((t for t in unfinished if t.status is TaskStatus.QUEUED), key=lambda t: t.id)
    place = {t.id: n for n, t in enumerate(waiting, start=1)}
    ours = [t for t in unfinished if t.guild_id == guild_id and not t.status.is_final]
    under_way = sorted((t for t in ours if t.id not in place), key=lambda t: t.id)
    in_line = sorted((t for t in ours if t.id in place), key=lambda t: place[t.id])
    return [
        *(QueueEntry(t, 0) for t in under_way),
        *(QueueEntry(t, place[t.id]) for t in in_line),
    ]


def entry_line(entry: QueueEntry, locale: LocaleLike = None) -> str:
    """One song's line; its kind is a command's or button's name, the same in every language."""
    task = entry.task
    if entry.waiting:
        where = gettext(locale, "⏳ waiting, #{place} in line", place=entry.position)
    else:
        where = gettext(locale, WHERE[task.status]) if task.status in WHERE else task.status
    asked = int(task.created_at)
    return _SEPARATOR.join(
        [
            f"**#{task.id}**",
            kind_word(task),
            f"<@{task.user_id}>",
            where,
            gettext(locale, "asked <t:{unix}:R>", unix=asked),
        ]
    )


def queue_text(
    entries: Sequence[QueueEntry], *, may_cancel_any: bool = False, locale: LocaleLike = None
) -> str:
    """The whole /queue answer, at most 2,000 characters, in the member's language."""
    if not entries:
        return gettext(locale, EMPTY)
    waiting = sum(e.waiting for e in entries)
    header = ngettext(
        locale,
        "**Songs here, in order**: {count} song under way, {waiting} waiting.",
        "**Songs here, in order**: {count} songs under way, {waiting} waiting.",
        len(entries) - waiting,
        waiting=waiting,
    )
    hint = CANCEL_HINT if may_cancel_any else OWN_CANCEL_HINT
    footer = gettext(locale, hint) if waiting else ""
    lines = [entry_line(e, locale) for e in entries]
    for shown_count in range(len(lines), -1, -1):
        left = len(lines) - shown_count
        more = [gettext(locale, "…and {count} more.", count=left)] if left else []
        text = "\n".join([header, *lines[:shown_count], *more, *([footer] if footer else [])])
        if len(text) <= MESSAGE_LIMIT:
            return text
    return header  # pragma: no cover - the header and footer alone always fit
