"""The answer to /history: a member's last requests, one line each, newest first.

Plain text for Discord, built without Discord: `#N`, kind, status in plain words, when it was
asked (`<t:UNIX:R>`, which each reader's client shows in their own time), a link to the result
(or else the status message), the parent `#M` of a derived request, and the prompt, escaped
(it is the member's own text, but still shouldn't render as markdown or ping) and cut so the
whole answer always fits one message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from bot.core.i18n import N_, LocaleLike, gettext, ngettext
from bot.core.models import Task, TaskStatus
from bot.core.public_text import shown

LIMIT: Final = 10  # requests shown
MESSAGE_LIMIT: Final = 2000  # Discord's, per message
NOTHING_YET: Final = N_("You haven't asked me for a song yet: try /sing or /inpaint.")
_PROMPT_MAX: Final = 80  # a prompt's share when the message has room to spare
_PROMPT_MIN: Final = 12  # below this a cut prompt says nothing; it is left out instead
_SEPARATOR: Final = " · "

STATUS_WORDS: Final[dict[TaskStatus, str]] = {
    TaskStatus.QUEUED: N_("waiting in my queue"),
    TaskStatus.SUBMITTING: N_("being sent to MusicGPT"),
    TaskStatus.SUBMITTED: N_("at MusicGPT"),
    TaskStatus.COMPLETED: N_("done, being posted"),
    TaskStatus.DELIVERING: N_("being posted"),
    TaskStatus.DELIVERED: N_("posted"),
    TaskStatus.FAILED: N_("failed"),
    TaskStatus.CANCELLED: N_("cancelled"),
}


def message_link(guild_id: int | None, channel_id: int, message_id: int) -> str:
    """A jump link to a message (`@me` for one outside a server)."""
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


def task_link(task: Task, locale: LocaleLike = None) -> str | None:
    """Markdown link to the task's first result post, else its status message, else None."""
    if task.delivered_message_ids:
        # The takes of a song with a thread are in the thread; its status is in the channel.
        posted_in = task.thread_id or task.channel_id
        url = message_link(task.guild_id, posted_in, task.delivered_message_ids[0])
        return gettext(locale, "[result]({url})", url=url)
    if task.status_message_id:
        url = message_link(task.guild_id, task.channel_id, task.status_message_id)
        return gettext(locale, "[status]({url})", url=url)
    return None


def _fixed_part(task: Task, locale: LocaleLike) -> str:
    parts = [
        f"**#{task.id}**",
        task.kind.value,
        gettext(locale, STATUS_WORDS[task.status]) if task.status in STATUS_WORDS else task.status,
        f"<t:{int(task.created_at)}:R>",
    ]
    link = task_link(task, locale)
    if link:
        parts.append(link)
    if task.parent_task_id is not None:
        parts.append(gettext(locale, "from #{number}", number=task.parent_task_id))
    return _SEPARATOR.join(parts)


def history_text(tasks: Sequence[Task], locale: LocaleLike = None) -> str:
    """The whole /history answer for `tasks` (newest first), at most 2000 characters, in the
    member's language (`locale`; the kind is the command's name, the same in every one)."""
    if not tasks:
        return gettext(locale, NOTHING_YET)
    count = len(tasks)
    header = _header(count, locale)
    lines = [_fixed_part(task, locale) for task in tasks]
    # What is left once the fixed parts are in, shared evenly among the prompts.
    used = len(header) + sum(len(line) + 1 for line in lines)  # +1: each line's newline
    share = (MESSAGE_LIMIT - used) // count - len(_SEPARATOR) - 2  # 2: the quotes
    share = min(_PROMPT_MAX, share)
    if share >= _PROMPT_MIN:
        lines = [
            f"{line}{_SEPARATOR}“{shown(task.prompt, share)}”" if task.prompt else line
            for line, task in zip(lines, tasks, strict=True)
        ]
    text = "\n".join([header, *lines])
    while len(text) > MESSAGE_LIMIT and len(lines) > 1:  # only with absurd ids: keep the newest
        lines.pop()
        text = "\n".join([_header(len(lines), locale), *lines])
    return text[:MESSAGE_LIMIT]


def _header(count: int, locale: LocaleLike) -> str:
    if count == 1:
        return gettext(locale, "Your last song:")
    return ngettext(
        locale,
        "Your last {count} song, newest first:",
        "Your last {count} songs, newest first:",
        count,
    )
