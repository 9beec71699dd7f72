"""What a status message says, as plain text: stage, queue position, ETA and a progress bar.

Kept apart from Discord so the wording and the arithmetic are tested on their own; `bot.discord.ui`
puts these strings into an embed. They are plain text, some of it the member's (the prompt, the
file name or link) or MusicGPT's (an error): whoever renders them escapes every one
(`bot.core.public_text`), and says who asked from `requester_id`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.models import Task, TaskKind, TaskStatus
from bot.core.servers.threads import refusal_of
from bot.core.songs.notify import dm_note
from bot.core.timecodes import format_timecode

BAR_WIDTH = 16
# A bar that reaches 100% before the song exists looks broken; it waits at 95%.
MAX_ESTIMATED_FRACTION = 0.95
# Said once, by whoever shows a failed song: the failure's own text never says it.
REFUNDED = "It doesn't count against your daily quota."
# What failure texts stored by earlier versions carried themselves (shown twice then).
_LEGACY_REFUNDED = "Your generation was refunded."
FAILED_UNSAID = "I couldn't make this song. Please try again."
# A status message's title, by what is being made.
TITLES = {
    TaskKind.SING: "🎤 Singing over your instrumental",
    TaskKind.INPAINT: "🎨 Inpainting",
    TaskKind.EXTEND: "⏩ Extending your song",
}


def song_ref(task_id: int) -> str:
    """How members read a task's number: "song #12" (the unit word, everywhere)."""
    return f"song #{task_id}"


def failure_text(task: Task) -> str:
    """Why a song failed, and whether the quota was given back, each said once."""
    reason = task.error or ""
    for said in (REFUNDED, _LEGACY_REFUNDED):  # whether it was refunded is the task's to say
        reason = reason.replace(said, "")
    reason = " ".join(reason.split()) or FAILED_UNSAID
    return f"{reason} {REFUNDED}" if task.quota_refunded else reason


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


def lineage_line(task: Task) -> str | None:
    """What a task made from another is, naming the parent as #N; None for a fresh one."""
    if task.parent_task_id is None:
        return None
    parent = f"#{task.parent_task_id}"
    if task.parent_output is None:
        return f"Again of {parent}"
    if task.kind is TaskKind.SING:  # "Sing over this" on one of our takes
        return f"Sung over {parent} take {task.parent_output}"
    if task.kind is TaskKind.EXTEND:  # "Extend" on one of our takes
        line = f"Extension of {parent} take {task.parent_output}"
        if task.extend_after is not None:
            line += f" from {format_timecode(task.extend_after)}"
        return line
    line = f"Rewrite of {parent} take {task.parent_output}"
    if task.replace_start is not None and task.replace_end is not None:
        line += f", {format_timecode(task.replace_start)}–{format_timecode(task.replace_end)}"
    return line


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
    details: list[tuple[str, str]] = [("Prompt", task.prompt)]
    if task.gender:
        details.append(("Voice", task.gender.value))
    if task.kind is TaskKind.INPAINT and task.replace_start is not None:
        span = f"{format_timecode(task.replace_start)} – {format_timecode(task.replace_end or 0)}"
        details.append(("Replacing", span))
        details.append(("Takes", str(task.num_outputs)))
    if task.kind is TaskKind.EXTEND and task.extend_after is not None:
        details.append(("New part from", format_timecode(task.extend_after)))
    source = task.audio_filename or task.audio_url
    if source and task.parent_output is None:  # a Rewrite's audio is named by its lineage
        details.append(("Audio", source))
    return tuple(details)


def _stage(task: Task, queue_position: int, now: float) -> tuple[str, str | None]:
    match task.status:
        case TaskStatus.QUEUED:
            where = f"#{queue_position} in line" if queue_position else "in line"
            return f"⏳ Waiting for a free MusicGPT slot ({where}).", None
        case TaskStatus.SUBMITTING:
            return "📤 Sending your audio to MusicGPT…", None
        case TaskStatus.SUBMITTED:
            left = remaining_seconds(task, now)
            if left is None:
                return "🎙️ MusicGPT is working on it.", None
            eta = "any moment now" if left < 1 else f"about {_duration(left)} left"
            return f"🎙️ MusicGPT is working on it: {eta}.", progress_bar(
                estimated_fraction(task, now)
            )
        case TaskStatus.COMPLETED | TaskStatus.DELIVERING:
            return "📬 Done! Posting your song…", progress_bar(1.0)
        case TaskStatus.DELIVERED:
            count = len(task.outputs)
            return f"✅ Posted {count} take{'s' if count != 1 else ''} below.", None
        case TaskStatus.FAILED:
            return f"❌ {failure_text(task)}", None
        case TaskStatus.CANCELLED:
            return "🚫 Cancelled before it went to MusicGPT; nothing was charged.", None
    return task.status.value, None  # pragma: no cover - every status is matched above


TAKES_DELETED = "🗑️ The takes were deleted."
CANCELLED_BY_STAGE = (
    "🚫 Cancelled by a moderator before it went to MusicGPT; nothing was charged to its requester."
)


def status_view(
    task: Task,
    queue_position: int,
    now: float,
    *,
    deleted_by: int | None = None,
    cancelled_by: int | None = None,
) -> StatusView:
    """`deleted_by`: who deleted the posted takes (Delete), if anyone did; `cancelled_by`: the
    member who cancelled someone else's song (a moderator)."""
    stage, progress = _stage(task, queue_position, now)
    if task.status is not TaskStatus.DELIVERED:
        deleted_by = None
    elif deleted_by is not None:
        stage = TAKES_DELETED
    if task.status is not TaskStatus.CANCELLED:
        cancelled_by = None
    elif cancelled_by is not None:
        stage = CANCELLED_BY_STAGE
    refused = refusal_of(task.thread_refusal)
    if refused and task.status not in (TaskStatus.FAILED, TaskStatus.CANCELLED):
        # In the stage, so the renderer (which compares stage and bar) shows it at once.
        stage = f"{stage} {refused.why}"
    if task.status is TaskStatus.DELIVERED and (note := dm_note(task.dm_state)):
        stage = f"{stage} {note}"  # the DM copy was refused: one quiet line, for the requester
    return StatusView(
        title=f"{TITLES[task.kind]} · {song_ref(task.id)}",
        stage=stage,
        details=request_details(task),
        progress=progress,
        finished=task.status is TaskStatus.DELIVERED,
        failed=task.status is TaskStatus.FAILED,
        requester_id=task.user_id,
        lineage=lineage_line(task),
        deleted_by=deleted_by,
        cancelled_by=cancelled_by,
    )


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s"
