"""A form's state between the command that opened it and its one submit, and what it asks.

Every way of starting a song (/sing, /inpaint, Rewrite, Again, the message menus) holds one
`PendingAudio`: its audio (a download under way, a link, a kept file, or nothing yet when
the file is picked in the form) and whether the form was sent. `Intake.submit` is the one
entry that queues it, and the one place a form is sent once: a repeat submit (a double
click, a retry, a hostile client) answers with what the first one made.

`SongRequest` is what a form asks for, by kind; the intake adds who, where and the audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.errors import AudioRejected, DiskFull, FormClosed, SpoolFull, UserFacingError
from bot.core.i18n import N_
from bot.core.i18n.said import said
from bot.core.media.inspect import AudioInfo
from bot.core.media.spool import Reservation
from bot.core.models import Gender, Request, Task, TaskKind

REPLACED = N_(
    "You opened a newer `/{command}` form after this one, so I dropped this one; please fill "
    "in the newest. Nothing was charged."
)
EXPIRED = N_("That lyrics form has expired. Please run the command again; nothing was charged.")
ALREADY_SENT = N_("You already sent this form.")


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """The parts of a Discord attachment the intake needs."""

    url: str
    filename: str
    size: int
    content_type: str | None = None  # what Discord says the file is, when it says


@dataclass(frozen=True, slots=True)
class Origin:
    """Who asked, and where."""

    user_id: int
    guild_id: int | None
    channel_id: int
    upload_limit: int | None = None
    # A thread of its own (`bot.core.servers.threads.wants_thread` decided).
    thread_wanted: bool = False
    # The member's roles in the server: their quota is the largest override among them.
    role_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class InpaintRange:
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class SongRequest:
    """What a form asks for; its kind says which fields count. A new kind of song is a kind
    and the fields it needs here, and a form that fills them."""

    kind: TaskKind
    prompt: str
    lyrics: str | None = None  # an extend's: the words of the new part
    new_lyrics: str | None = None  # an inpaint's words for the replaced part
    gender: Gender | None = None
    span: InpaintRange | None = None  # an inpaint's range
    # An extend's `extend_after` as typed; None: the song's end, once measured (the intake).
    after: float | None = None
    num_outputs: int = 2
    # The song and take a message menu's file is, when it is one of ours.
    parent_task_id: int | None = None
    parent_output: int | None = None

    def request(self, origin: Origin, pending: PendingAudio) -> Request:
        span = self.span
        start = span.start if span else None
        if self.kind is TaskKind.EXTEND:
            start = self.after  # `extend_after` lives in replace_start (models.Request)
        return Request(
            kind=self.kind,
            user_id=origin.user_id,
            guild_id=origin.guild_id,
            channel_id=origin.channel_id,
            upload_limit=origin.upload_limit,
            thread_wanted=origin.thread_wanted,
            audio_url=pending.url,
            audio_filename=pending.filename,
            prompt=self.prompt,
            lyrics=self.lyrics,
            lyrics_section_to_replace=self.new_lyrics,
            gender=self.gender,
            replace_start=start,
            replace_end=span.end if span else None,
            num_outputs=self.num_outputs if self.num_outputs in (1, 2) else 2,
            parent_task_id=self.parent_task_id,
            parent_output=self.parent_output,
        )


def span_of(request: Request) -> InpaintRange | None:
    """The range an inpaint replaces, checked against the audio's length before the charge."""
    if request.kind is TaskKind.INPAINT and request.replace_start is not None:
        return InpaintRange(request.replace_start, request.replace_end or 0.0)
    return None


class FormState(enum.Enum):
    OPEN = "open"  # waiting for the member's submit
    SENDING = "sending"  # submitted once; that submit is being checked and queued
    DONE = "done"  # submitted: queued as a task, or refused
    REPLACED = "replaced"  # the member opened a newer form for the same command
    ABANDONED = "abandoned"  # timed out, or the form never reached the member


@dataclass(eq=False)
class PendingAudio:
    """One form's request between the command and the submit: its audio (a download under
    way, a URL, or none yet) and whether it was sent."""

    url: str | None = None
    filename: str | None = None
    path: Path | None = None
    download: asyncio.Task[AudioInfo] | None = field(default=None, repr=False)
    state: FormState = FormState.OPEN
    # The length when known without a download (a take MusicGPT measured, a kept input).
    duration: float | None = None
    reservation: Reservation | None = field(default=None, repr=False)
    # What the one submit made: a repeat submit answers with it.
    outcome: asyncio.Future[Task] | None = field(default=None, repr=False)
    # Called once the form stops being the member's open form (Intake forgets it then).
    on_close: Callable[[PendingAudio], None] | None = field(default=None, repr=False)
    # A form whose refusal offers Edit and retry keeps its audio when refused for what was
    # typed (`held`), until the retry is sent or expires (`bot.discord.songs.door`).
    retryable: bool = False
    held: bool = False

    async def ready(self) -> AudioInfo | None:
        """Wait for the download and content checks; None for a URL (MusicGPT fetches it)."""
        return await self.download if self.download else None

    @contextlib.contextmanager
    def discarded_on_error(self) -> Iterator[None]:
        """Whatever goes wrong before the tracker owns the file, the file goes too (unless
        it is held for an Edit and retry: `drop`)."""
        try:
            yield
        except BaseException as error:
            self.drop(error)
            raise

    def drop(self, error: BaseException) -> None:
        """After a refused submit: hold the audio when the member may edit what they typed
        and retry (a refusal of what was typed, not of the file, the disk or a repeat);
        otherwise discard it."""
        if self.retryable and _retry_helps(error):
            self.held = True
            self.close()
        else:
            self.discard()

    def reopen(self) -> None:
        """Edit and retry: the same form's audio, ready for one more submit."""
        self.state, self.outcome, self.held = FormState.OPEN, None, False

    def release(self) -> None:
        """The Edit and retry expired: audio still held goes."""
        if self.held:
            self.held = False
            self.discard()

    def discard(self) -> None:
        """Drop the audio of a request that was abandoned, replaced or refused."""
        if self.download and not self.download.done():
            self.download.cancel()
        if self.path:
            self.path.unlink(missing_ok=True)
        if self.reservation:
            self.reservation.drop()
        self.close()

    def drop_file(self) -> None:
        """Forget a downloaded file (and its reservation) before fetching another."""
        if self.path:
            self.path.unlink(missing_ok=True)
            self.path = None
        if self.reservation:
            self.reservation.drop()
            self.reservation = None

    def abandon(self) -> None:
        """The form timed out (or never opened): its audio goes, unless it was sent."""
        if self.state is FormState.OPEN:
            self.state = FormState.ABANDONED
            self.discard()

    def close(self) -> None:
        """No longer the member's open form: a new command won't replace it."""
        if self.on_close:
            on_close, self.on_close = self.on_close, None
            on_close(self)


def _retry_helps(error: BaseException) -> bool:
    return isinstance(error, UserFacingError) and not isinstance(
        error, FormClosed | AudioRejected | DiskFull | SpoolFull
    )


async def refuse_repeat(pending: PendingAudio, kind: TaskKind) -> None:
    """Raise FormClosed if this form can't be sent (again); return at once if it can."""
    if pending.state is FormState.REPLACED:
        raise FormClosed(said(REPLACED, command=kind.value))
    if pending.outcome is not None:
        # Sent before (or being sent right now): answer with what that submit made.
        outcome = pending.outcome
        await asyncio.wait([outcome])  # never raises what the first submit raised
        if outcome.cancelled():
            raise FormClosed(said(ALREADY_SENT))
        error = outcome.exception()
        if isinstance(error, UserFacingError):
            raise FormClosed(
                said(
                    "You already sent this form, and I couldn't take it: {reason}",
                    reason=error.said or error.user_message,
                )
            )
        if error is not None:
            raise FormClosed(said(ALREADY_SENT))
        raise FormClosed(
            said("You already sent this form: song #{number}.", number=outcome.result().id)
        )
    if pending.state is not FormState.OPEN:
        raise FormClosed(said(EXPIRED))


@contextlib.contextmanager
def one_submit(pending: PendingAudio) -> Iterator[asyncio.Future[Task]]:
    """Make this the form's one submit (after `refuse_repeat`, with no await between); the
    future receives what it made."""
    outcome: asyncio.Future[Task] = asyncio.get_running_loop().create_future()
    # A repeat may never come to read a refusal: don't let asyncio call it unretrieved.
    outcome.add_done_callback(lambda f: f.cancelled() or f.exception())
    pending.outcome, pending.state = outcome, FormState.SENDING
    pending.close()  # a new command now opens a form of its own, replacing nothing
    try:
        yield outcome
    except Exception as error:
        outcome.set_exception(error)
        raise
    except BaseException:
        outcome.cancel()
        raise
    finally:
        pending.state = FormState.DONE
