"""What a status message says, as plain text: stage, queue position, ETA and a progress bar.

Kept apart from Discord so the wording and the arithmetic are tested on their own; `bot.discord.ui`
puts these strings into an embed. They are plain text, some of it the member's (the prompt, the
file name or link) or MusicGPT's (an error): whoever renders them escapes every one
(`bot.core.public_text`), and says who asked from `requester_id`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.i18n import N_, LocaleLike, decimal, gettext, ngettext
from bot.core.models import Task, TaskKind, TaskStatus
from bot.core.servers.threads import refusal_of
from bot.core.songs.failures import said_again
from bot.core.songs.notify import dm_note
from bot.core.timecodes import format_timecode

BAR_WIDTH = 16
# A bar that reaches 100% before the song exists looks broken; it waits at 95%.
MAX_ESTIMATED_FRACTION = 0.95
# Said once, by whoever shows a failed song: the failure's own text never says it.
REFUNDED = N_("It doesn't count against your daily quota.")
# What failure texts stored by earlier versions carried themselves (shown twice then).
_LEGACY_REFUNDED = "Your generation was refunded."
FAILED_UNSAID = N_("I couldn't make this song. Please try again.")
# A status message's title, by what is being made.
TITLES = {
    TaskKind.SING: N_("🎤 Singing over your instrumental"),
    TaskKind.INPAINT: N_("🎨 Inpainting"),
    TaskKind.EXTEND: N_("⏩ Extending your song"),
}


def song_ref(task_id: int, locale: LocaleLike = None) -> str:
    """How members read a task's number: "song #12" (the unit word, everywhere)."""
    return gettext(locale, "song #{number}", number=task_id)


def failure_text(task: Task, locale: LocaleLike = None) -> str:
    """Why a song failed, and whether the quota was given back, each said once."""
    reason = task.error or ""
    for said in (REFUNDED, _LEGACY_REFUNDED):  # whether it was refunded is the task's to say
        reason = reason.replace(said, "")
    # MusicGPT's reason stays in its words; only mine are translated (`said_again`).
    reason = " ".join(reason.split())
    reason = said_again(reason, locale) if reason else gettext(locale, FAILED_UNSAID)
    return f"{reason} {gettext(locale, REFUNDED)}" if task.quota_refunded else reason


@dataclass(frozen=True, slots=True)
class StatusView:
    title: str
    stage: str
    details: tuple[tuple[str, str], ...]
    progress: str | None
    finished: bool
    failed: bool
    requester_id: int  # the member who asked, named (never pinged) in the public status
    lineage: str | None = None  # "Rewrite of #12 take 2, 0:30-0:45": the bot's own words
    deleted_by: int | None = None  # who deleted the takes (named, never pinged)
    cancelled_by: int | None = None  # a moderator who cancelled it, named beside the requester


def lineage_line(task: Task, locale: LocaleLike = None) -> str | None:
    """What a task made from another is, naming the parent as #N; None for a fresh one."""
    if task.parent_task_id is None:
        return None
    parent, take = task.parent_task_id, task.parent_output
    if take is None:
        return gettext(locale, "Again of #{parent}", parent=parent)
    if task.kind is TaskKind.SING:  # "Sing over this" on one of our takes
        return gettext(locale, "Sung over #{parent} take {take}", parent=parent, take=take)
    if task.kind is TaskKind.EXTEND:  # "Extend" on one of our takes
        if task.extend_after is not None:
            return gettext(
                locale,
                "Extension of #{parent} take {take} from {start}",
                parent=parent,
                take=take,
                start=format_timecode(task.extend_after),
            )
        return gettext(locale, "Extension of #{parent} take {take}", parent=parent, take=take)
    if task.replace_start is not None and task.replace_end is not None:
        return gettext(
            locale,
            "Rewrite of #{parent} take {take}, {start}–{end}",
            parent=parent,
            take=take,
            start=format_timecode(task.replace_start),
            end=format_timecode(task.replace_end),
        )
    return gettext(locale, "Rewrite of #{parent} take {take}", parent=parent, take=take)


def progress_bar(fraction: float, width: int = BAR_WIDTH) -> str:
    fraction = min(max(fraction, 0.0), 1.0)
    filled = round(fraction * width)
    return "█" * filled + "░" * (width - filled) + f" {round(fraction * 100)}%"


def estimated_fraction(task: Task, now: float) -> float:
    if task.submitted_at is None or not task.eta_seconds:
        return 0.0
    elapsed = max(0.0, now - task.submitted_at)
    return min(elapsed / task.eta_seconds, MAX_ESTIMATED_FRACTION)


def remaining_seconds(task: Task, now: float) -> float | None:
    if task.submitted_at is None or task.eta_seconds is None:
        return None
    return max(0.0, task.submitted_at + task.eta_seconds - now)


def describe_length(seconds: float | None) -> str:
    return format_timecode(seconds) if seconds is not None else "unknown length"


def request_details(task: Task) -> tuple[tuple[str, str], ...]:
    # The labels are English here (the card compares "Prompt"); the card translates them.
    details: list[tuple[str, str]] = [(N_("Prompt"), task.prompt)]
    if task.gender:
        details.append((N_("Voice"), task.gender.value))
    if task.kind is TaskKind.INPAINT and task.replace_start is not None:
        span = f"{format_timecode(task.replace_start)} – {format_timecode(task.replace_end or 0)}"
        details.append((N_("Replacing"), span))
        details.append((N_("Takes"), str(task.num_outputs)))
    if task.kind is TaskKind.EXTEND and task.extend_after is not None:
        details.append((N_("New part from"), format_timecode(task.extend_after)))
    source = task.audio_filename or task.audio_url
    if source and task.parent_output is None:  # a Rewrite's audio is named by its lineage
        details.append((N_("Audio"), source))
    return tuple(details)


def _stage(
    task: Task, queue_position: int, now: float, locale: LocaleLike = None
) -> tuple[str, str | None]:
    match task.status:
        case TaskStatus.QUEUED:
            if queue_position:
                text = gettext(
                    locale,
                    "⏳ Waiting for a free MusicGPT slot (#{position} in line).",
                    position=queue_position,
                )
            else:
                text = gettext(locale, "⏳ Waiting for a free MusicGPT slot (in line).")
            return text, None
        case TaskStatus.SUBMITTING:
            return gettext(locale, "📤 Sending your audio to MusicGPT…"), None
        case TaskStatus.SUBMITTED:
            left = remaining_seconds(task, now)
            if left is None:
                return gettext(locale, "🎙️ MusicGPT is working on it."), None
            if left < 1:
                text = gettext(locale, "🎙️ MusicGPT is working on it: any moment now.")
            else:
                text = gettext(
                    locale,
                    "🎙️ MusicGPT is working on it: about {duration} left.",
                    duration=_duration(left, locale),
                )
            return text, progress_bar(estimated_fraction(task, now))
        case TaskStatus.COMPLETED | TaskStatus.DELIVERING:
            return gettext(locale, "📬 Done! Posting your song…"), progress_bar(1.0)
        case TaskStatus.DELIVERED:
            count = len(task.outputs)
            return ngettext(
                locale, "✅ Posted {count} take below.", "✅ Posted {count} takes below.", count
            ), None
        case TaskStatus.FAILED:
            return f"❌ {failure_text(task, locale)}", None
        case TaskStatus.CANCELLED:
            return gettext(
                locale, "🚫 Cancelled before it went to MusicGPT; nothing was charged."
            ), None
    return task.status.value, None  # pragma: no cover - every status is matched above


TAKES_DELETED = N_("🗑️ The takes were deleted.")
CANCELLED_BY_STAGE = N_(
    "🚫 Cancelled by a moderator before it went to MusicGPT; nothing was charged to its requester."
)


def status_view(
    task: Task,
    queue_position: int,
    now: float,
    locale: LocaleLike = None,
    *,
    deleted_by: int | None = None,
    cancelled_by: int | None = None,
) -> StatusView:
    """The status as text in `locale` (the server's: `SingingBot.public_locale`).
    `deleted_by`: who deleted the posted takes (Delete), if anyone did; `cancelled_by`: the
    member who cancelled someone else's song (a moderator)."""
    stage, progress = _stage(task, queue_position, now, locale)
    if task.status is not TaskStatus.DELIVERED:
        deleted_by = None
    elif deleted_by is not None:
        stage = gettext(locale, TAKES_DELETED)
    if task.status is not TaskStatus.CANCELLED:
        cancelled_by = None
    elif cancelled_by is not None:
        stage = gettext(locale, CANCELLED_BY_STAGE)
    refused = refusal_of(task.thread_refusal)
    if refused and task.status not in (TaskStatus.FAILED, TaskStatus.CANCELLED):
        # In the stage, so the renderer (which compares stage and bar) shows it at once.
        stage = f"{stage} {refused.why_in(locale)}"
    if task.status is TaskStatus.DELIVERED and (note := dm_note(task.dm_state)):
        # The DM copy was refused: one quiet line, for the requester.
        stage = f"{stage} {gettext(locale, note)}"
    return StatusView(
        title=f"{gettext(locale, TITLES[task.kind])} · {song_ref(task.id, locale)}",
        stage=stage,
        details=request_details(task),
        progress=progress,
        finished=task.status is TaskStatus.DELIVERED,
        failed=task.status is TaskStatus.FAILED,
        requester_id=task.user_id,
        lineage=lineage_line(task, locale),
        deleted_by=deleted_by,
        cancelled_by=cancelled_by,
    )


def _duration(seconds: float, locale: LocaleLike = None) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return gettext(locale, "{seconds} s", seconds=decimal(locale, seconds))
    minutes, seconds = divmod(seconds, 60)
    return gettext(
        locale,
        "{minutes} min {seconds} s",
        minutes=decimal(locale, minutes),
        seconds=f"{seconds:02d}",
    )
