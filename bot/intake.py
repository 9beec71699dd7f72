"""Turning what a user typed and attached into a queued task, refusing bad input early.

A request arrives in two steps, because Discord makes the lyrics modal the command's first
answer: `begin` runs when the command is used (cheap checks, quota, and the attachment's
download starts at once, since Discord's attachment URLs expire); `finish_sing` /
`finish_inpaint` run when the modal comes back (lyrics, content checks, quota charge).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.errors import AudioRejected, UserFacingError
from bot.media.download import check_audio_url, download_to_file
from bot.media.inspect import AudioInfo, describe_size, inspect_audio_async, shared_worker
from bot.media.worker import MediaWorker
from bot.models import Gender, QuotaRefusal, Request, Task, TaskKind
from bot.quota import QuotaService
from bot.timecodes import check_range
from bot.tracker import Tracker

log = logging.getLogger(__name__)

LYRICS_MAX = 2000  # MusicGPT's limit for both lyrics fields
CHUNK = 256 * 1024  # fewer loop turns than 64 KB (bench figure 1), little memory (figure 2)
# Attachments downloading at once. A download only has to be done by the time the lyrics come
# back (tens of seconds later), and a burst of commands is acknowledged much faster when the
# event loop isn't also streaming a hundred files: bench figure 1's p99 was 600 ms with no
# limit, 330 ms with 4 and 225 ms with 2. A stalled transfer frees its slot after the
# session's read timeout (`bot.__main__`).
CONCURRENT_DOWNLOADS = 2


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """The parts of a Discord attachment the intake needs."""

    url: str
    filename: str
    size: int


@dataclass(frozen=True, slots=True)
class Origin:
    """Who asked, and where."""

    user_id: int
    guild_id: int | None
    channel_id: int
    upload_limit: int | None = None


@dataclass(eq=False)
class PendingAudio:
    """The input audio between the command and the modal: a download under way, or a URL."""

    url: str | None = None
    filename: str | None = None
    path: Path | None = None
    download: asyncio.Task[AudioInfo] | None = field(default=None, repr=False)

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
        """Drop the audio of a request that was abandoned or refused."""
        if self.download and not self.download.done():
            self.download.cancel()
        if self.path:
            self.path.unlink(missing_ok=True)


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
        media: MediaWorker | None = None,
    ) -> None:
        self._session = session
        self._tracker = tracker
        self._quota = quota
        self._download_slots = asyncio.Semaphore(CONCURRENT_DOWNLOADS)
        self._audio_dir = audio_dir
        self._max_bytes = max_audio_bytes
        self._media = media or shared_worker()
        audio_dir.mkdir(parents=True, exist_ok=True)

    async def begin(
        self, user_id: int, *, attachment: AttachmentRef | None, audio_url: str | None
    ) -> PendingAudio:
        """Checks that need no download; starts the download. Raises UserFacingError."""
        audio_url = audio_url.strip() if audio_url else None
        if attachment is None and not audio_url:
            raise AudioRejected("Attach an audio file (`audio`) or give a link (`audio_url`).")
        if attachment is not None and audio_url:
            raise AudioRejected("Use either `audio` or `audio_url`, not both.")
        if attachment is not None and attachment.size > self._max_bytes:
            raise AudioRejected(
                f"That file is {describe_size(attachment.size)}; "
                f"the limit is {describe_size(self._max_bytes)}."
            )
        url = check_audio_url(audio_url) if audio_url else None
        await self._quota.check(user_id)
        if attachment is None:
            return PendingAudio(url=url)
        pending = PendingAudio(
            filename=attachment.filename, path=self._audio_dir / f"{uuid.uuid4().hex}.part"
        )
        pending.download = asyncio.create_task(self._fetch(attachment.url, pending, user_id))
        return pending

    async def _fetch(self, url: str, pending: PendingAudio, user_id: int) -> AudioInfo:
        assert pending.path is not None  # noqa: S101 - set by begin()
        try:
            async with self._download_slots:
                await download_to_file(
                    self._session, url, pending.path, max_bytes=self._max_bytes, chunk_size=CHUNK
                )
            info = await inspect_audio_async(
                pending.path, max_bytes=self._max_bytes, member=user_id, worker=self._media
            )
        except BaseException:
            pending.path.unlink(missing_ok=True)
            raise
        if info.path != pending.path:  # converted to FLAC: that file is the one to send
            pending.path.unlink(missing_ok=True)
            pending.path = info.path
        else:
            # MusicGPT sees the file's name: give it the extension its content deserves.
            pending.path = pending.path.rename(pending.path.with_suffix(f".{info.format}"))
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
    ) -> Task:
        with pending.discarded_on_error():
            lyrics = lyrics.strip()
            if not lyrics:
                raise UserFacingError("The lyrics can't be empty.")
            _check_length("Lyrics", lyrics)
        request = _request(
            TaskKind.SING, origin, pending, prompt=prompt, lyrics=lyrics, gender=gender
        )
        return await self._queue(request, pending)

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
    ) -> Task:
        lyrics, new_lyrics = (lyrics or "").strip() or None, (new_lyrics or "").strip() or None
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
        )
        return await self._queue(request, pending, span=span)

    async def _queue(
        self, request: Request, pending: PendingAudio, *, span: InpaintRange | None = None
    ) -> Task:
        try:
            request = dataclasses.replace(request, prompt=_clean_prompt(request.prompt))
            info = await pending.ready()
            duration = info.duration if info else None
            if span is not None:
                check_range(span.start, span.end, duration)
            created = await self._tracker.submit(
                request,
                limits=self._quota.limits,
                audio_path=pending.path,
                audio_duration=duration,
            )
            if isinstance(created, QuotaRefusal):
                raise self._quota.refused(created)
            return created
        except BaseException:
            # Refused or broken: the file must not linger. Once queued, the tracker owns it.
            pending.discard()
            raise

    def remove_orphans(self, keep: set[str]) -> int:
        """Delete audio files no unfinished task refers to (left by a crash mid-request)."""
        removed = 0
        for path in self._audio_dir.iterdir():
            if path.is_file() and str(path) not in keep:
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed += 1
        return removed


def _request(kind: TaskKind, origin: Origin, pending: PendingAudio, **specifics: Any) -> Request:
    return Request(
        kind=kind,
        user_id=origin.user_id,
        guild_id=origin.guild_id,
        channel_id=origin.channel_id,
        upload_limit=origin.upload_limit,
        audio_url=pending.url,
        audio_filename=pending.filename,
        **specifics,
    )


def _check_length(label: str, text: str | None) -> None:
    if text and len(text) > LYRICS_MAX:
        raise UserFacingError(
            f"{label} is {len(text)} characters; MusicGPT takes at most {LYRICS_MAX}."
        )


def _clean_prompt(prompt: str) -> str:
    prompt = " ".join(prompt.split())
    if not prompt:
        raise UserFacingError("The prompt can't be empty: describe the style, tone or genre.")
    if len(prompt) > 500:
        raise UserFacingError(f"The prompt is {len(prompt)} characters; keep it under 500.")
    return prompt
