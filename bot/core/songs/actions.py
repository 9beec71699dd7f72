"""What a result's buttons do, decided without Discord: Rewrite, Extend, Again, Delete,
Cancel, and Try again, Again with changes and Lyrics.

A button carries only a task id (and a take number); everything else comes from the parent
task's row, so a click months later, or after a restart, derives the same request. The
Discord side (`bot.discord.ui.buttons`, `bot.discord.songs.clicks`) reads the click, calls
these, and answers.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Final

import aiohttp

from bot.core.errors import UserFacingError
from bot.core.i18n import N_, LocaleLike, gettext
from bot.core.i18n.said import Said, said
from bot.core.models import Gender, Output, Request, Task, TaskKind, TaskStatus
from bot.core.public_text import visible
from bot.core.songs.forms import InpaintRange
from bot.core.songs.progress import song_ref
from bot.core.timecodes import (
    LENGTH_SLACK,
    BadTime,
    check_range,
    format_timecode,
    parse_timecode,
)

log = logging.getLogger(__name__)

REWRITE_OUTPUTS = 2  # a Rewrite always asks MusicGPT for two takes
EXTEND_OUTPUTS = 2  # MusicGPT's extend always makes two takes
# How long the check that MusicGPT still serves a take may take before we use our own copy.
LINK_CHECK_SECONDS = 5.0
NOT_KEPT = N_(
    "I no longer keep the audio {song} was made from, so I can't make it again, and nothing "
    "was charged. How long I keep uploads is the server owner's setting "
    "(`INPUT_RETENTION_DAYS`)."
)
# One whole sentence per button (a verb joined into one wouldn't translate).
NO_COPY: Final = {
    "rewrite": N_(
        "MusicGPT no longer serves take {take} of {song}, and I have no copy of it to send, so I "
        "can't rewrite it. Nothing was charged."
    ),
    "extend": N_(
        "MusicGPT no longer serves take {take} of {song}, and I have no copy of it to send, so I "
        "can't extend it. Nothing was charged."
    ),
}
END_PAST_TAKE: Final = N_("End ({end}) is past the end of take {take}, which is {length} long.")
AFTER_PAST_TAKE: Final = N_(
    "After ({after}) is past the end of take {take}, which is {length} long."
)
GONE = N_("I can't find {song} any more.")
NO_SUCH_TAKE = N_("{song} has no take {take}.")
CANCEL_NOT_YOURS = N_(
    "Only the member who asked for {song}, or someone who may manage messages here, can cancel it."
)
CANCEL_TOO_LATE = N_("{song} is already with MusicGPT, so it can't be cancelled.")
CANCEL_ALREADY = N_("{song} was already cancelled.")
CANCEL_FINISHED = N_("{song} is already finished, so there's nothing to cancel.")
CANCELLED = N_(
    "Cancelled {song}: it won't go to MusicGPT, and it doesn't count against your daily quota."
)
# A moderator cancelled someone else's song: what the moderator reads (privately), and the
# short public reply to the status that tells the requester (the one mention that pings).
CANCELLED_FOR = N_(
    "Cancelled {song}, asked by <@{requester}>: it won't go to MusicGPT, it doesn't count "
    "against their daily quota, and I told them under its status."
)
REQUESTER_TOLD = N_(
    "<@{requester}>, <@{by}> cancelled your {song} before it went to MusicGPT; it doesn't "
    "count against your daily quota."
)
DELETE_REFUSED = N_(
    "Only the member who asked for {song}, or someone who may manage messages here, can delete it."
)


class _SongName(Said):
    """ "Song #12" at a sentence's start, said in the reader's language."""

    __slots__ = ()

    def in_(self, locale: LocaleLike) -> str:
        return super().in_(locale).capitalize()


def _said_song(task_id: int, *, capital: bool = False) -> Said:
    """A song's name (`song_ref`) said later, in the language of the sentence it is in."""
    message = "song #{number}"  # song_ref's own message
    named = {"number": task_id}
    return _SongName(message, named=named) if capital else Said(message, named=named)


@dataclass(frozen=True, slots=True)
class Clicker:
    """Who clicked, and what their channel takes per message (Discord says)."""

    user_id: int
    upload_limit: int | None = None
    # Where they clicked: a take's buttons are on its result, so in the song's thread when it
    # has one, and what it starts is posted there too.
    channel_id: int | None = None


def posted_in(parent: Task, clicker: Clicker) -> int:
    """The channel a song started from a button goes to: the clicked message's (a thread,
    for a take posted in the song's thread), else where the parent's takes went."""
    return clicker.channel_id or parent.thread_id or parent.channel_id


def song_here(task: Task | None, guild_id: int | None) -> Task | None:
    """The task a click names as seen from where it was clicked (`guild_id`: the server, None
    in DMs): None when it is gone or belongs elsewhere (another server, a DM), so a button
    (even a forged custom_id) only ever acts on its own server's songs."""
    return task if task is not None and task.guild_id == guild_id else None


def gone(task_id: int) -> Said:
    """A song a click names that I no longer have (or that isn't this server's)."""
    return said(GONE, song=_said_song(task_id))


def parent_of(task: Task | None, task_id: int) -> Task:
    """The task a button names, or a refusal if it is gone (a database reset, say)."""
    if task is None:
        raise UserFacingError(gone(task_id))
    return task


def take_of(task: Task, take: int) -> Output:
    """Output `take` (1-based) of a task."""
    if not 1 <= take <= len(task.outputs):
        raise UserFacingError(said(NO_SUCH_TAKE, song=_said_song(task.id, capital=True), take=take))
    return task.outputs[take - 1]


def rewrite_span(task: Task, take: int, start_text: str, end_text: str) -> InpaintRange:
    """Start and End as typed in the Rewrite form, checked against the take's length when
    MusicGPT reported it; raises (BadTime) before anything is charged."""
    span = typed_span(start_text, end_text)
    length = take_of(task, take).duration
    if length is not None and span.end > length + LENGTH_SLACK:
        raise BadTime(
            said(
                END_PAST_TAKE,
                end=format_timecode(span.end),
                take=take,
                length=format_timecode(length),
            )
        )
    return span


def typed_span(start_text: str, end_text: str) -> InpaintRange:
    """Start and End as typed in a Rewrite form, in order; raises BadTime. (The audio's own
    length is checked once it is known.)"""
    start = parse_timecode(start_text, field="Start")
    end = parse_timecode(end_text, field="End")
    check_range(start, end, None)
    return InpaintRange(start, end)


def rewrite_request(
    parent: Task,
    take: int,
    clicker: Clicker,
    *,
    span: InpaintRange,
    prompt: str,
    lyrics: str | None,
    new_lyrics: str | None,
) -> Request:
    """An inpaint of the parent's take `take`, as MusicGPT gave it (its URL, unchanged)."""
    return _take_request(
        TaskKind.INPAINT,
        parent,
        take,
        clicker,
        prompt=prompt,
        lyrics=lyrics,
        new_lyrics=new_lyrics,
        start=span.start,
        end=span.end,
        num_outputs=REWRITE_OUTPUTS,
    )


def _take_request(
    kind: TaskKind,
    parent: Task,
    take: int,
    clicker: Clicker,
    *,
    prompt: str,
    lyrics: str | None,
    start: float | None,
    num_outputs: int,
    new_lyrics: str | None = None,
    end: float | None = None,
) -> Request:
    """A Rewrite's or Extend's request: the parent's take `take` as MusicGPT gave it (its
    URL, unchanged), in the parent's voice, charged to the clicker and posted where the
    button was clicked (on the parent's result, in its thread if any)."""
    return Request(
        kind=kind,
        user_id=clicker.user_id,
        guild_id=parent.guild_id,
        channel_id=posted_in(parent, clicker),
        prompt=prompt,
        lyrics=(lyrics or "").strip() or None,
        lyrics_section_to_replace=(new_lyrics or "").strip() or None,
        gender=parent.gender,
        audio_url=take_of(parent, take).audio_url,
        replace_start=start,
        replace_end=end,
        num_outputs=num_outputs,
        upload_limit=clicker.upload_limit,
        parent_task_id=parent.id,
        parent_output=take,
    )


def extend_after(task: Task, take: int, after_text: str) -> float | None:
    """After as typed in the Extend form, in seconds (None when left blank: the take's end),
    checked against the take's length when MusicGPT reported it; raises BadTime before
    anything is charged."""
    take_of(task, take)
    if not after_text.strip():
        return None
    after = parse_timecode(after_text, field="After")
    length = take_of(task, take).duration
    if length is not None and after > length + LENGTH_SLACK:
        raise BadTime(
            said(
                AFTER_PAST_TAKE,
                after=format_timecode(after),
                take=take,
                length=format_timecode(length),
            )
        )
    return after


def extend_request(
    parent: Task,
    take: int,
    clicker: Clicker,
    *,
    after: float | None,
    prompt: str,
    lyrics: str | None,
) -> Request:
    """An extend of the parent's take `take`, as MusicGPT gave it (its URL, unchanged), in
    the parent's voice, from `after` (None: the take's end, which the intake fills in from
    the take's length)."""
    return _take_request(
        TaskKind.EXTEND,
        parent,
        take,
        clicker,
        prompt=prompt,
        lyrics=lyrics,
        start=after,  # `extend_after` (models.Request)
        num_outputs=EXTEND_OUTPUTS,
    )


def from_file(request: Request, filename: str) -> Request:
    """The same request, with the take's own bytes (a file) instead of its link."""
    return dataclasses.replace(request, audio_url=None, audio_filename=filename)


def again_request(parent: Task, clicker: Clicker) -> Request:
    """The parent's request once more, charged to whoever clicked; same input audio."""
    return Request(
        kind=parent.kind,
        user_id=clicker.user_id,
        guild_id=parent.guild_id,
        channel_id=posted_in(parent, clicker),
        prompt=parent.prompt,
        lyrics=parent.lyrics,
        gender=parent.gender,
        audio_url=parent.audio_url,
        audio_filename=parent.audio_filename,
        replace_start=parent.replace_start,
        replace_end=parent.replace_end,
        lyrics_section_to_replace=parent.lyrics_section_to_replace,
        num_outputs=parent.num_outputs,
        upload_limit=clicker.upload_limit,
        parent_task_id=parent.id,
        parent_output=None,
    )


def needs_kept_input(parent: Task) -> bool:
    """Again of an upload needs the kept file; a link is simply given to MusicGPT again."""
    return parent.audio_url is None


def not_kept(parent: Task) -> UserFacingError:
    return UserFacingError(said(NOT_KEPT, song=_said_song(parent.id)))


def no_copy(parent: Task, take: int, *, verb: str = "rewrite") -> UserFacingError:
    return UserFacingError(said(NO_COPY[verb], take=take, song=_said_song(parent.id)))


def may_delete(task: Task | None, user_id: int, *, manage_messages: bool) -> bool:
    """The requester, or a member who may manage messages in the channel."""
    return manage_messages or (task is not None and task.user_id == user_id)


def delete_refusal(task_id: int) -> Said:
    """Raised (`UserFacingError`): the error boundary says it in the member's language."""
    return said(DELETE_REFUSED, song=_said_song(task_id))


def cancel_refusal(
    task: Task | None, task_id: int, user_id: int, *, manage_messages: bool = False
) -> Said | None:
    """Why this member can't cancel this task now, or None: they may (its requester, or a
    member who may manage messages where it was asked). Raised (`UserFacingError`), it is
    said in the member's language; `str()` is the English."""
    song = _said_song(task_id, capital=True)
    if task is None:
        return said(GONE, song=_said_song(task_id))
    if task.user_id != user_id and not manage_messages:
        return said(CANCEL_NOT_YOURS, song=_said_song(task_id))
    if task.status is TaskStatus.QUEUED:
        return None
    if task.status is TaskStatus.CANCELLED:
        return said(CANCEL_ALREADY, song=song)
    if task.status in (TaskStatus.SUBMITTING, TaskStatus.SUBMITTED):
        return said(CANCEL_TOO_LATE, song=song)
    return said(CANCEL_FINISHED, song=song)


def too_late(task_id: int) -> Said:
    return said(CANCEL_TOO_LATE, song=_said_song(task_id, capital=True))


def cancelled_text(task_id: int, locale: LocaleLike = None) -> str:
    """The requester's private answer to their cancel (`interaction.locale`)."""
    return gettext(locale, CANCELLED, song=song_ref(task_id, locale))


def cancelled_for_others(task: Task, user_id: int) -> bool:
    """Whether this cancel was someone else's (a moderator's): the requester is told."""
    return task.user_id != user_id


def cancelled_for_text(task: Task, locale: LocaleLike = None) -> str:
    """The moderator's private answer (`interaction.locale`)."""
    return gettext(locale, CANCELLED_FOR, song=song_ref(task.id, locale), requester=task.user_id)


def requester_told_text(task: Task, by: int, locale: LocaleLike = None) -> str:
    """The public reply under the status, in the server's language (the caller passes
    `await bot.public_locale(task.guild_id)`)."""
    return gettext(
        locale, REQUESTER_TOLD, song=song_ref(task.id, locale), requester=task.user_id, by=by
    )


async def link_works(session: aiohttp.ClientSession, url: str) -> bool:
    """Whether MusicGPT still serves a take at `url`: a short GET whose body is not read."""
    try:
        timeout = aiohttp.ClientTimeout(total=LINK_CHECK_SECONDS)
        async with session.get(url, timeout=timeout) as response:
            return response.status < 400
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        log.info("a take's link didn't answer (%s); using the posted copy", type(error).__name__)
        return False


# --- Try again, Again with changes, Lyrics, Delete's words ---------------------------

NOT_FAILED = N_("{song} didn't fail, so there's nothing to try again; use Again on its result.")
NO_LYRICS = N_("{song} was made without lyrics of its own, so there's nothing to show.")
LYRICS_HEAD = N_("What was sung in {song}:")
LYRICS_FILE_HEAD = N_("What was sung in {song} is long, so here it is as a file:")
DELETED = N_("Deleted {song}'s takes.")
# Discord's limit for a message's content.
MESSAGE_MAX = 2000


def try_again_refusal(task: Task) -> Said | None:
    """Try again is for a failed song (its status carries the button); None: it may.
    Raised (`UserFacingError`), it is said in the member's language."""
    if task.status is TaskStatus.FAILED:
        return None
    return said(NOT_FAILED, song=_said_song(task.id, capital=True))


def again_with_changes_request(
    parent: Task, clicker: Clicker, *, prompt: str, lyrics: str | None, gender: str | None
) -> Request:
    """Again, with the style (prompt), lyrics and voice as edited in the prefilled form; the
    voice "" (or anything unknown) means any voice."""
    voice = Gender(gender) if gender in {g.value for g in Gender} else None
    return dataclasses.replace(
        again_request(parent, clicker),
        prompt=prompt,
        lyrics=(lyrics or "").strip() or None,
        gender=voice,
    )


@dataclass(frozen=True, slots=True)
class LyricsAnswer:
    """What the Lyrics button answers: a message, and the lyrics as a file when they don't
    fit in one (`file_text` None: they are in `text`)."""

    text: str
    file_text: str | None = None
    filename: str = ""


def lyrics_answer(task: Task, locale: LocaleLike = None) -> LyricsAnswer:
    """The lyrics sung, made safe (invisible characters out; in a code block, where nothing
    is markdown, with backticks that can't close it), or as a .txt file when too long; its
    words in the member's language (`interaction.locale`)."""
    song = song_ref(task.id, locale)
    sung = [part for part in (task.lyrics, task.lyrics_section_to_replace) if part]
    if not sung:
        return LyricsAnswer(gettext(locale, NO_LYRICS, song=song.capitalize()))
    lines = [visible(part, one_line=False) for part in sung]
    if task.lyrics_section_to_replace and task.lyrics:
        new_part = gettext(locale, "(the new part)")
        lines = [lines[0], f"{new_part}\n{lines[1]}"]
    body = "\n\n".join(lines)
    head = gettext(locale, LYRICS_HEAD, song=song)
    text = f"{head}\n```\n{body.replace('`', 'ˋ')}\n```"
    if len(text) <= MESSAGE_MAX:
        return LyricsAnswer(text)
    return LyricsAnswer(
        gettext(locale, LYRICS_FILE_HEAD, song=song),
        file_text=body,
        filename=f"song-{task.id}-lyrics.txt",
    )


def deleted_text(task_id: int, locale: LocaleLike = None) -> str:
    """The private answer to Delete (`interaction.locale`)."""
    return gettext(locale, DELETED, song=song_ref(task_id, locale))


def deleted_key(task_id: int) -> str:
    """The bot value that records who deleted a song's takes (their user id)."""
    return f"takes_deleted:{task_id}"


def cancelled_key(task_id: int) -> str:
    """The bot value that records who cancelled someone else's song (a moderator's user id;
    empty when that cancel came too late), so a redraw after a restart still names them."""
    return f"cancelled_by:{task_id}"
