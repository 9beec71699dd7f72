"""Turning what a user typed and attached into a queued task, refusing bad input early:
the one door every song goes through.

A request arrives in two steps, because Discord makes a form the command's first answer:
`precheck` (quota, budget, a range already known) runs before any form opens, and `begin`
(the attachment's checks, and its download at once, since Discord's attachment URLs expire)
for a command that carries audio; `submit` runs when the form comes back (lyrics, content
checks, blocked words, quota charge) and is the only way into the tracker's queue.

Discord never says that a member closed a form, so forms are bounded instead of locked: a
member holds at most one open form per command (a newer one replaces the older, whose
download and file go at once), and a form is sent at most once (`bot.core.songs.forms`: a
repeat submit answers with the request the first one made). Every attachment download holds
a reservation in the `Spool`, so the audio the bot holds has a global cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Collection
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiohttp

from bot.core.config import DISCORD_CDN_ORIGINS, UrlOrigin, origin_of
from bot.core.errors import AudioRejected, DiskFull, UserFacingError
from bot.core.i18n import N_
from bot.core.i18n.said import said
from bot.core.media.download import DIR_MODE, check_audio_url, download_to_file
from bot.core.media.inspect import AudioInfo, describe_size, inspect_audio_async, shared_worker
from bot.core.media.names import plainly_not_audio
from bot.core.media.spool import PARTIAL_SUFFIX, Spool, is_disk_full
from bot.core.media.worker import MediaWorker
from bot.core.metrics import Metrics
from bot.core.models import QuotaRefusal, Request, Task, TaskKind
from bot.core.servers.guild_settings import GuildSettingsService
from bot.core.songs.blocked_words import LYRICS_LABELS, check_request
from bot.core.songs.budget import Budget
from bot.core.songs.forms import (
    AttachmentRef,
    FormState,
    InpaintRange,
    PendingAudio,
    one_submit,
    refuse_repeat,
    span_of,
)
from bot.core.songs.quota import QuotaService
from bot.core.timecodes import NO_LENGTH, BadTime, check_range, extend_point
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

    async def precheck(
        self,
        user_id: int,
        *,
        guild_id: int | None,
        role_ids: Collection[int] = (),
        span: InpaintRange | None = None,
    ) -> None:
        """Before a form opens, for every way of starting a song: the range when it is
        already known (reversed times), the member's quota, the server's budget. Raises
        UserFacingError. Advisory (`bot.core.songs.budget`): songs still queued have no price
        yet, so a burst may overshoot a little; `submit` checks both again."""
        if span is not None:
            check_range(span.start, span.end, None)
        await self._member_may_start(user_id, guild_id, role_ids)

    async def _member_may_start(
        self, user_id: int, guild_id: int | None, role_ids: Collection[int]
    ) -> None:
        await self._quota.check(user_id, guild_id=guild_id, role_ids=role_ids)
        await self._check_budget(guild_id)

    async def begin(
        self,
        user_id: int,
        *,
        kind: TaskKind,
        attachment: AttachmentRef | None,
        audio_url: str | None,
        guild_id: int | None = None,
        role_ids: Collection[int] = (),
        span: InpaintRange | None = None,
        after: float | None = None,
    ) -> PendingAudio:
        """A command's form, with its audio: the pre-check, the checks that need no download;
        starts the download; replaces the member's older form for this command. `after`: an
        extend's point as typed (None: the song's end). Raises UserFacingError."""
        with self._metrics.refusals(kind):
            if span is not None:  # first: the times are what the member typed last
                check_range(span.start, span.end, None)
            audio_url = audio_url.strip() if audio_url else None
            if attachment is None and not audio_url:
                raise AudioRejected(
                    said("Attach an audio file (`audio`) or give a link (`audio_url`).")
                )
            if attachment is not None and audio_url:
                raise AudioRejected(said("Use either `audio` or `audio_url`, not both."))
            url = check_audio_url(audio_url) if audio_url else None
            if kind is TaskKind.EXTEND and url is not None:
                fetched = self._extend_link(url, after)
                if fetched is not None:  # the bot's to download, like an attachment
                    attachment, url = fetched, None
            if attachment is not None:
                self._check_attachment(attachment)
            await self._member_may_start(user_id, guild_id, role_ids)
            return self._open(user_id, kind, attachment, url)

    def _extend_link(self, url: str, after: float | None) -> AttachmentRef | None:
        """An extend's link, when the bot may read it (a file on Discord's CDN): downloaded
        now like an attachment, so the song is measured (`after` checked, or the song's end
        found) and MusicGPT gets those very bytes, before the CDN link expires. Any other
        link goes to MusicGPT as it is, with `after` as typed: the bot doesn't fetch hosts
        only it may reach (`bot.core.media.waveform_jobs` says the same), so without `after`
        it is refused here, before the form opens. Its size is unknown: the spool sets the
        most a download may be aside."""
        if _on(url, self._attachment_origins):
            name = unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or "audio"
            return AttachmentRef(url=url, filename=name, size=self._max_bytes)
        if after is None:
            raise BadTime(NO_LENGTH)
        return None

    def _check_attachment(self, attachment: AttachmentRef) -> None:
        not_audio = plainly_not_audio(attachment.filename, attachment.content_type)
        if not_audio:  # before the form opens: nobody types lyrics for a PNG
            raise AudioRejected(not_audio)
        if attachment.size > self._max_bytes:
            raise AudioRejected(
                said(
                    "That file is {size}; the limit is {limit}.",
                    size=describe_size(attachment.size),
                    limit=describe_size(self._max_bytes),
                )
            )

    def _open(
        self, user_id: int, kind: TaskKind, attachment: AttachmentRef | None, url: str | None
    ) -> PendingAudio:
        key = (user_id, kind)
        older = self._forms.get(key)
        if attachment is None:
            pending = PendingAudio(url=url)
        else:
            # Refused here, at command time, before a byte is downloaded.
            pending = self._reserve(attachment, replacing=older)
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

    def _reserve(
        self,
        attachment: AttachmentRef,
        *,
        into: PendingAudio | None = None,
        replacing: PendingAudio | None = None,
    ) -> PendingAudio:
        pending = into or PendingAudio()
        pending.reservation = self.spool.reserve(
            attachment.size, replacing=replacing.reservation if replacing else None
        )
        pending.filename = attachment.filename
        pending.path = self._audio_dir / f"{uuid.uuid4().hex}{PARTIAL_SUFFIX}"
        return pending

    async def _check_budget(self, guild_id: int | None) -> None:
        if self.budget is not None:
            await self.budget.check(guild_id)

    @staticmethod
    def kept_file(path: Path, *, filename: str | None, duration: float | None) -> PendingAudio:
        """A file already in the audio folder (a kept input's fresh copy), for a new task."""
        return PendingAudio(path=path, filename=filename, duration=duration)

    async def submit(
        self,
        request: Request,
        pending: PendingAudio,
        *,
        role_ids: Collection[int] = (),
        fetch: AttachmentRef | None = None,
    ) -> Task:
        """The one way into the queue, and a form's one submit: lyrics, the file's content
        checks, blocked words, budget, the range against the audio's length, and the charge
        against the limits of `role_ids`, in one transaction. `fetch`: a file on Discord's
        CDN to download into the form now (a message's file picked in the form, a take
        whose link MusicGPT no longer serves), checked like an upload. Raises
        UserFacingError (FormClosed for a repeat); a refused request's file goes."""
        await refuse_repeat(pending, request.kind)
        with one_submit(pending) as outcome, self._metrics.refusals(request.kind):
            with pending.discarded_on_error():
                request = _checked_lyrics(request)
                if fetch is not None:  # checked like a command's file, before its download
                    await self._member_may_start(request.user_id, request.guild_id, role_ids)
                    self._check_attachment(fetch)
                    pending.drop_file()  # an earlier, refused submit's copy: fetched afresh
                    self._reserve(fetch, into=pending)
                    info = await self._fetch(fetch.url, pending, request.user_id)
                    pending.duration = info.duration
                    request = dataclasses.replace(
                        request, audio_url=None, audio_filename=fetch.filename
                    )
            queued = await self._queue(request, pending, span=span_of(request), role_ids=role_ids)
            outcome.set_result(queued)
        return await outcome

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
            await self._check_budget(request.guild_id)
            info = await pending.ready()
            duration = info.duration if info else pending.duration
            if span is not None:
                check_range(span.start, span.end, duration)
            if request.kind is TaskKind.EXTEND:  # as typed, else the end just measured
                after = extend_point(request.extend_after, duration)
                request = dataclasses.replace(request, replace_start=after)
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
            # Refused or broken: the file must not linger (or waits for an Edit and retry,
            # `PendingAudio.drop`). Once queued, the tracker owns it.
            pending.drop(error)
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


def _on(url: str, origins: Collection[UrlOrigin]) -> bool:
    try:
        return origin_of(url) in origins
    except ValueError:  # a malformed port
        return False


def _retrieve(task: asyncio.Task[AudioInfo]) -> None:
    if not task.cancelled():
        task.exception()


def _checked_lyrics(request: Request) -> Request:
    """The lyrics as the kind of song wants them: a sung song's are required."""
    if request.kind is TaskKind.SING:
        sung = (request.lyrics or "").strip()
        if not sung:
            raise UserFacingError(said("The lyrics can't be empty: type the words for me to sing."))
        _check_length(N_("Lyrics"), sung)
        return dataclasses.replace(request, lyrics=sung)
    whole = (request.lyrics or "").strip() or None
    new_lyrics = (request.lyrics_section_to_replace or "").strip() or None
    _check_length(LYRICS_LABELS[request.kind], whole)
    _check_length(N_("New lyrics for the replaced part"), new_lyrics)
    return dataclasses.replace(request, lyrics=whole, lyrics_section_to_replace=new_lyrics)


def _check_length(label: str, text: str | None) -> None:
    if text and len(text) > LYRICS_MAX:
        raise UserFacingError(
            said(
                "{label} is {length} characters; MusicGPT takes at most {limit}, "
                "so please shorten it.",
                label=said(label),  # marked where it is named (LYRICS_LABELS, _LABELS)
                length=len(text),
                limit=LYRICS_MAX,
            )
        )


def _clean_prompt(prompt: str) -> str:
    prompt = " ".join(prompt.split())
    if not prompt:
        raise UserFacingError(said("`prompt` can't be empty: describe the style, tone or genre."))
    if len(prompt) > PROMPT_MAX:  # Discord enforces the option's max_length; a client may not
        raise UserFacingError(
            said(
                "`prompt` is {length} characters; keep it to {limit} or fewer.",
                length=len(prompt),
                limit=PROMPT_MAX,
            )
        )
    return prompt
