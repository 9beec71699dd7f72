"""Turning what a user typed and attached into a queued task, refusing bad input early.

A request arrives in two steps, because Discord makes the lyrics modal the command's first
answer: `begin` runs when the command is used (cheap checks, quota, and the attachment's
download starts at once, since Discord's attachment URLs expire); `finish_sing` /
`finish_inpaint` run when the modal comes back (lyrics, content checks, quota charge).

Discord never says that a member closed a form, so forms are bounded instead of locked: a
member holds at most one open form per command (a newer one replaces the older, whose
download and file go at once), and a form is sent at most once (a repeat submit, from a
buggy or hostile client, answers with the request the first one made). Every attachment
download holds a reservation in the `Spool`, so the audio the bot holds has a global cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.core.config import DISCORD_CDN_ORIGINS, UrlOrigin
from bot.core.errors import AudioRejected, DiskFull, FormClosed, UserFacingError
from bot.core.media.download import DIR_MODE, check_audio_url, download_to_file
from bot.core.media.inspect import AudioInfo, describe_size, inspect_audio_async, shared_worker
from bot.core.media.names import plainly_not_audio
from bot.core.media.spool import PARTIAL_SUFFIX, Reservation, Spool, is_disk_full
from bot.core.media.worker import MediaWorker
from bot.core.metrics import Metrics
from bot.core.models import Gender, QuotaRefusal, Request, Task, TaskKind
from bot.core.servers.guild_settings import GuildSettingsService
from bot.core.songs.blocked_words import LYRICS_LABELS, check_request
from bot.core.songs.budget import Budget
from bot.core.songs.quota import QuotaService
from bot.core.timecodes import check_range
from bot.core.tracker import Tracker

log = logging.getLogger(__name__)

LYRICS_MAX = 2000  # MusicGPT's limit for both lyrics fields
PROMPT_MAX = 500  # MusicGPT's limit; also on the command option, so Discord enforces it
CHUNK = 256 * 1024  # fewer loop turns than 64 KB (bench figure 1), little memory (figure 2)
# Attachments downloading at once. A download only has to be done by the time the lyrics come
# back (tens of seconds later), and a burst of commands is acknowledged much faster when the
# event loop isn't also streaming a hundred files: bench figure 1's p99 was 600 ms with no
# limit, 330 ms with 4 and 225 ms with 2. A stalled transfer frees its slot after the
# session's read timeout (`bot.__main__`).
CONCURRENT_DOWNLOADS = 2
REPLACED = (
    "You opened a newer `/{command}` form after this one, so I dropped this one; please fill "
    "in the newest. Nothing was charged."
)
EXPIRED = "That lyrics form has expired. Please run the command again; nothing was charged."
ALREADY_SENT = "You already sent this form."


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
    thread_wanted: bool = (
        False  # a thread of its own (`bot.core.servers.threads.wants_thread` decided)
    )
    # The member's roles in the server: their quota is the largest override among them.
    role_ids: tuple[int, ...] = ()


class FormState(enum.Enum):
    OPEN = "open"  # waiting for the member's lyrics
    SENDING = "sending"  # submitted once; that submit is being checked and queued
    DONE = "done"  # submitted: queued as a task, or refused
    REPLACED = "replaced"  # the member opened a newer form for the same command
    ABANDONED = "abandoned"  # timed out, or the form never reached the member


@dataclass(eq=False)
class PendingAudio:
    """One lyrics form's request between the command and the submit: its audio (a download
    under way, or a URL) and whether it was sent."""

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

    async def ready(self) -> AudioInfo | None:
        """Wait for the download and content checks; None for a URL (MusicGPT fetches it)."""
        return await self.download if self.download else None

    @contextlib.contextmanager
    def discarded_on_error(self) -> Iterator[None]:
        """Whatever goes wrong before the tracker owns the file, the file goes too."""
        try:
            yield
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Drop the audio of a request that was abandoned, replaced or refused."""
        if self.download and not self.download.done():
            self.download.cancel()
        if self.path:
            self.path.unlink(missing_ok=True)
        if self.reservation:
            self.reservation.drop()
        self.close()

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


@dataclass(frozen=True, slots=True)
class InpaintRange:
    start: float
    end: float


class Intake:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        tracker: Tracker,
        quota: QuotaService,
        *,
        audio_dir: Path,
        max_audio_bytes: int,
        spool: Spool,
        attachment_origins: Collection[UrlOrigin] = DISCORD_CDN_ORIGINS,
        media: MediaWorker | None = None,
        metrics: Metrics | None = None,
        guild_settings: GuildSettingsService | None = None,
        budget: Budget | None = None,
    ) -> None:
        self._session = session
        self._metrics = metrics or Metrics()
        # Each server's blocked words and daily credit budget; without them (unit tests that
        # don't need them), nothing is blocked and there is no budget.
        self._guild_settings = guild_settings
        self.budget = budget
        self._tracker = tracker
        self._quota = quota
        self._download_slots = asyncio.Semaphore(CONCURRENT_DOWNLOADS)
        self._audio_dir = audio_dir
        self._max_bytes = max_audio_bytes
        self.spool = spool  # its cap is AUDIO_SPOOL_MB, whose default lives in Settings
        self._attachment_origins = frozenset(attachment_origins)
        self._media = media or shared_worker()
        # Each member's open form per command, the only one whose submit can still queue.
        self._forms: dict[tuple[int, TaskKind], PendingAudio] = {}
        audio_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        audio_dir.chmod(DIR_MODE)  # also when an older version made it readable to all

    def open_forms(self) -> int:
        return len(self._forms)

    async def begin(
        self,
        user_id: int,
        *,
        kind: TaskKind,
        attachment: AttachmentRef | None,
        audio_url: str | None,
        guild_id: int | None = None,
        role_ids: Collection[int] = (),
    ) -> PendingAudio:
        """Checks that need no download; starts the download; replaces the member's older
        form for this command. Raises UserFacingError."""
        with self._metrics.refusals(kind):
            return await self._begin(
                user_id,
                kind=kind,
                attachment=attachment,
                audio_url=audio_url,
                guild_id=guild_id,
                role_ids=role_ids,
            )

    async def _begin(
        self,
        user_id: int,
        *,
        kind: TaskKind,
        attachment: AttachmentRef | None,
        audio_url: str | None,
        guild_id: int | None,
        role_ids: Collection[int],
    ) -> PendingAudio:
        audio_url = audio_url.strip() if audio_url else None
        if attachment is None and not audio_url:
            raise AudioRejected("Attach an audio file (`audio`) or give a link (`audio_url`).")
        if attachment is not None and audio_url:
            raise AudioRejected("Use either `audio` or `audio_url`, not both.")
        if attachment is not None:
            not_audio = plainly_not_audio(attachment.filename, attachment.content_type)
            if not_audio:  # before the form opens: nobody types lyrics for a PNG
                raise AudioRejected(not_audio)
        if attachment is not None and attachment.size > self._max_bytes:
            raise AudioRejected(
                f"That file is {describe_size(attachment.size)}; "
                f"the limit is {describe_size(self._max_bytes)}."
            )
        url = check_audio_url(audio_url) if audio_url else None
        await self._quota.check(user_id, guild_id=guild_id, role_ids=role_ids)
        # Before the form opens and the download starts. Advisory (bot.core.songs.budget): songs
        # still
        # queued have no price yet, so a burst may overshoot a little; `_queue` checks again.
        await self.check_budget(guild_id)
        key = (user_id, kind)
        older = self._forms.get(key)
        if attachment is None:
            pending = PendingAudio(url=url)
        else:
            # Refused here, at command time, before a byte is downloaded.
            reservation = self.spool.reserve(
                attachment.size, replacing=older.reservation if older else None
            )
            pending = PendingAudio(
                filename=attachment.filename,
                path=self._audio_dir / f"{uuid.uuid4().hex}{PARTIAL_SUFFIX}",
                reservation=reservation,
            )
            pending.download = asyncio.create_task(self._fetch(attachment.url, pending, user_id))
            # A form abandoned after its check refused the file never awaits the download:
            # retrieve its outcome so asyncio doesn't log "Task exception was never retrieved".
            pending.download.add_done_callback(_retrieve)
        if older is not None:
            older.state = FormState.REPLACED
            older.discard()
        self._forms[key] = pending
        pending.on_close = lambda closed: self._forget(key, closed)
        return pending

    async def check_budget(self, guild_id: int | None) -> None:
        """Refuse early once the server spent today's credits (bot.core.songs.budget: advisory)."""
        if self.budget is not None:
            await self.budget.check(guild_id)

    # --- requests that start from a button, with no command attachment ---------------------

    async def copy_of(self, user_id: int, attachment: AttachmentRef) -> PendingAudio:
        """A file on Discord's CDN (a take the bot posted) downloaded into the spool and
        checked like an upload, for a request that starts from it rather than from a form."""
        pending = PendingAudio(
            filename=attachment.filename,
            path=self._audio_dir / f"{uuid.uuid4().hex}{PARTIAL_SUFFIX}",
            reservation=self.spool.reserve(attachment.size),
        )
        info = await self._fetch(attachment.url, pending, user_id)  # cleans up if it fails
        pending.duration = info.duration
        return pending

    @staticmethod
    def kept_file(path: Path, *, filename: str | None, duration: float | None) -> PendingAudio:
        """A file already in the audio folder (a kept input's fresh copy), for a new task."""
        return PendingAudio(path=path, filename=filename, duration=duration)

    async def submit_derived(
        self,
        request: Request,
        pending: PendingAudio | None = None,
        *,
        span: InpaintRange | None = None,
        role_ids: Collection[int] = (),
    ) -> Task:
        """Queue a request made from an earlier task (Rewrite, Again), with the checks and
        the one-transaction charge of a form's submit, against the limits of the clicker's
        `role_ids`. Without `pending` the audio is the request's `audio_url`. Raises
        UserFacingError; a refused request's file goes."""
        pending = pending or PendingAudio(url=request.audio_url)
        with self._metrics.refusals(request.kind):
            with pending.discarded_on_error():
                _check_length(LYRICS_LABELS[request.kind], request.lyrics)
                _check_length("New lyrics for the replaced part", request.lyrics_section_to_replace)
            return await self._queue(request, pending, span=span, role_ids=role_ids)

    def _forget(self, key: tuple[int, TaskKind], pending: PendingAudio) -> None:
        if self._forms.get(key) is pending:
            del self._forms[key]

    async def _fetch(self, url: str, pending: PendingAudio, user_id: int) -> AudioInfo:
        assert pending.path is not None and pending.reservation is not None  # noqa: S101
        try:
            async with self._download_slots:
                # The disk may have filled while this waited for a slot.
                self.spool.check_room(pending.reservation.size)
                await download_to_file(
                    self._session,
                    url,
                    pending.path,
                    max_bytes=self._max_bytes,
                    chunk_size=CHUNK,
                    allowed_origins=self._attachment_origins,
                )
            info = await inspect_audio_async(
                pending.path, max_bytes=self._max_bytes, member=user_id, worker=self._media
            )
        except BaseException as error:
            pending.path.unlink(missing_ok=True)
            pending.reservation.drop()
            if is_disk_full(error):
                raise DiskFull() from error
            raise
        if info.path != pending.path:  # converted to FLAC: that file is the one to send
            pending.path.unlink(missing_ok=True)
            pending.path = info.path
        else:
            # MusicGPT sees the file's name: give it the extension its content deserves.
            pending.path = pending.path.rename(pending.path.with_suffix(f".{info.format}"))
        pending.reservation.land(pending.path.stat().st_size)
        return info

    @staticmethod
    def check_span(start: float, end: float) -> InpaintRange:
        """Checked at command time, so reversed times are caught before the modal opens."""
        check_range(start, end, None)
        return InpaintRange(start, end)

    async def finish_sing(
        self,
        origin: Origin,
        pending: PendingAudio,
        *,
        prompt: str,
        lyrics: str,
        gender: Gender | None,
        parent_task_id: int | None = None,
        parent_output: int | None = None,
    ) -> Task:
        """`parent_*`: the song and take a context menu's file is, when it is one of ours."""
        await self._refuse_repeat(pending, TaskKind.SING)
        with self._one_submit(pending) as outcome, self._metrics.refusals(TaskKind.SING):
            with pending.discarded_on_error():
                lyrics = lyrics.strip()
                if not lyrics:
                    raise UserFacingError(
                        "The lyrics can't be empty: type the words for me to sing."
                    )
                _check_length("Lyrics", lyrics)
            request = _request(
                TaskKind.SING,
                origin,
                pending,
                prompt=prompt,
                lyrics=lyrics,
                gender=gender,
                parent_task_id=parent_task_id,
                parent_output=parent_output,
            )
            outcome.set_result(await self._queue(request, pending, role_ids=origin.role_ids))
        return await outcome

    async def finish_inpaint(
        self,
        origin: Origin,
        pending: PendingAudio,
        *,
        prompt: str,
        span: InpaintRange,
        lyrics: str | None,
        new_lyrics: str | None,
        gender: Gender | None,
        num_outputs: int,
        parent_task_id: int | None = None,
        parent_output: int | None = None,
    ) -> Task:
        lyrics, new_lyrics = (lyrics or "").strip() or None, (new_lyrics or "").strip() or None
        await self._refuse_repeat(pending, TaskKind.INPAINT)
        with self._one_submit(pending) as outcome, self._metrics.refusals(TaskKind.INPAINT):
            with pending.discarded_on_error():
                _check_length("Lyrics of the whole song", lyrics)
                _check_length("New lyrics for the replaced part", new_lyrics)
            request = _request(
                TaskKind.INPAINT,
                origin,
                pending,
                prompt=prompt,
                lyrics=lyrics,
                lyrics_section_to_replace=new_lyrics,
                gender=gender,
                replace_start=span.start,
                replace_end=span.end,
                num_outputs=num_outputs if num_outputs in (1, 2) else 2,
                parent_task_id=parent_task_id,
                parent_output=parent_output,
            )
            outcome.set_result(
                await self._queue(request, pending, span=span, role_ids=origin.role_ids)
            )
        return await outcome

    @staticmethod
    async def _refuse_repeat(pending: PendingAudio, kind: TaskKind) -> None:
        """Raise FormClosed if this form can't be sent (again); return at once if it can."""
        if pending.state is FormState.REPLACED:
            raise FormClosed(REPLACED.format(command=kind.value))
        if pending.outcome is not None:
            # Sent before (or being sent right now): answer with what that submit made.
            outcome = pending.outcome
            await asyncio.wait([outcome])  # never raises what the first submit raised
            if outcome.cancelled():
                raise FormClosed(ALREADY_SENT)
            error = outcome.exception()
            if isinstance(error, UserFacingError):
                raise FormClosed(
                    f"You already sent this form, and I couldn't take it: {error.user_message}"
                )
            if error is not None:
                raise FormClosed(ALREADY_SENT)
            raise FormClosed(f"You already sent this form: song #{outcome.result().id}.")
        if pending.state is not FormState.OPEN:
            raise FormClosed(EXPIRED)

    @staticmethod
    @contextlib.contextmanager
    def _one_submit(pending: PendingAudio) -> Iterator[asyncio.Future[Task]]:
        """Make this the form's one submit (after `_refuse_repeat`, with no await between);
        the future receives what it made."""
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

    async def _queue(
        self,
        request: Request,
        pending: PendingAudio,
        *,
        span: InpaintRange | None = None,
        role_ids: Collection[int] = (),
    ) -> Task:
        try:
            request = dataclasses.replace(request, prompt=_clean_prompt(request.prompt))
            # Every path to MusicGPT (/sing, /inpaint, Rewrite, Again) comes through here, so
            # these hold for all of them, an Again of a request made before a word was
            # blocked or the budget spent included; checked before anything is charged.
            if self._guild_settings is not None:
                words = (await self._guild_settings.get(request.guild_id)).blocked_words
                check_request(words, request)
            await self.check_budget(request.guild_id)
            info = await pending.ready()
            duration = info.duration if info else pending.duration
            if span is not None:
                check_range(span.start, span.end, duration)
            # Read again at the charge: an owner may have changed the quota since the command.
            limits = (await self._quota.limits_for(request.guild_id, role_ids)).limits
            created = await self._tracker.submit(
                request,
                limits=limits,
                audio_path=pending.path,
                audio_duration=duration,
            )
            if isinstance(created, QuotaRefusal):
                raise self._quota.refused(created, limits)
        except BaseException as error:
            # Refused or broken: the file must not linger. Once queued, the tracker owns it.
            pending.discard()
            if is_disk_full(error) and not isinstance(error, DiskFull):
                raise DiskFull() from error  # the database couldn't take it: nothing charged
            raise
        pending.reservation = None  # the file is the queued task's now, counted on disk
        return created

    def remove_orphans(self, keep: set[str]) -> int:
        """Delete audio files no unfinished task refers to (left by a crash mid-request)."""
        removed = 0
        for path in self._audio_dir.iterdir():
            if path.is_file() and str(path) not in keep:
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed += 1
        return removed


def _retrieve(task: asyncio.Task[AudioInfo]) -> None:
    if not task.cancelled():
        task.exception()


def _request(kind: TaskKind, origin: Origin, pending: PendingAudio, **specifics: Any) -> Request:
    return Request(
        kind=kind,
        user_id=origin.user_id,
        guild_id=origin.guild_id,
        channel_id=origin.channel_id,
        upload_limit=origin.upload_limit,
        thread_wanted=origin.thread_wanted,
        audio_url=pending.url,
        audio_filename=pending.filename,
        **specifics,
    )


def _check_length(label: str, text: str | None) -> None:
    if text and len(text) > LYRICS_MAX:
        raise UserFacingError(
            f"{label} is {len(text)} characters; MusicGPT takes at most {LYRICS_MAX}, "
            "so please shorten it."
        )


def _clean_prompt(prompt: str) -> str:
    prompt = " ".join(prompt.split())
    if not prompt:
        raise UserFacingError("`prompt` can't be empty: describe the style, tone or genre.")
    if len(prompt) > PROMPT_MAX:  # Discord enforces the option's max_length; a client may not
        raise UserFacingError(
            f"`prompt` is {len(prompt)} characters; keep it to {PROMPT_MAX} or fewer."
        )
    return prompt
