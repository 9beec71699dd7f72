"""What travels on the wire to and from MusicGPT: a submit's multipart body, its audio
streamed from disk in small pieces, and an answer read within a bound (with its Retry-After).

`bot.core.musicgpt.client` decides what to send and what an answer means; this module only
builds the bytes and reads them back. This module must not import discord.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import mimetypes
import os
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

import aiohttp
import aiohttp.payload
from aiohttp.abc import AbstractStreamWriter

from bot.core.models import AudioSource
from bot.core.musicgpt.parse import trim

log = logging.getLogger("bot.core.musicgpt.client")  # the client's lines, as before the split

# An upload's read size: small enough that several submits at once hold little (see FilePart).
UPLOAD_CHUNK: Final = 64 * 1024
MAX_ANSWER_BYTES: Final = 1 << 20  # answers are small JSON; refuse to buffer a hostile flood


# --- request building -------------------------------------------------------------------


def form_fields(**values: str | None) -> dict[str, str]:
    """The multipart text fields, leaving out the optional ones that were not given."""
    return {name: str(value) for name, value in values.items() if value is not None}


def decimal(value: float, name: str) -> str:
    """A number as a plain decimal string to the millisecond ("12.5", "20"), never "1e-05"."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number")
    text = f"{number:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


async def build_form(
    fields: Mapping[str, str] | None, audio: AudioSource | None, stack: AsyncExitStack
) -> aiohttp.FormData:
    """A submit's multipart body: its text fields, then the audio as a link or a file streamed
    from disk (opened on `stack`, so it closes with the attempt)."""
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in (fields or {}).items():
        form.add_field(name, value)
    if audio is not None and audio.url is not None:
        form.add_field("audio_url", audio.url)
    elif audio is not None and audio.path is not None:
        path = Path(audio.path)
        handle = await asyncio.to_thread(path.open, "rb")
        stack.callback(handle.close)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        size = (await asyncio.to_thread(os.fstat, handle.fileno())).st_size
        part = FilePart(handle, size, content_type=content_type)
        form.add_field("audio_file", part, filename=path.name)
    return form


class FilePart(aiohttp.payload.Payload):
    """An open file sent as a multipart part with a known length (so the request carries a
    Content-Length, not a chunked body), read in `UPLOAD_CHUNK` pieces from a worker thread.

    Why not hand aiohttp the file object itself: aiohttp 3.14 reads it 256 KB a time, each
    a fresh buffer in whichever executor thread ran the read, and with several submits at
    once those megabytes stayed in the threads' malloc arenas: part of what took bench figure
    2 (four 25 MB uploads at once) from 3.9 MB to ~10 MB. The file is never read whole."""

    def __init__(self, handle: BinaryIO, size: int, *, content_type: str) -> None:
        super().__init__(handle, content_type=content_type)
        self._size = self._length = size  # `size` (the base class's) sets the Content-Length

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("an audio file is not text")

    async def write(self, writer: AbstractStreamWriter) -> None:
        remaining = self._length  # never more than the Content-Length promised
        while remaining > 0:
            chunk = await asyncio.to_thread(self._value.read, min(UPLOAD_CHUNK, remaining))
            if not chunk:
                return  # the file shrank (the task owns it, so it never should)
            remaining -= len(chunk)
            await writer.write(chunk)


# --- answer reading ---------------------------------------------------------------------


async def read_body(resp: aiohttp.ClientResponse) -> bytes | None:
    """The answer's body, or None if it was too big or broke off (the status still counts)."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in resp.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                log.warning("MusicGPT answer larger than %d bytes; ignoring it", MAX_ANSWER_BYTES)
                return None
            chunks.append(chunk)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("MusicGPT answer (HTTP %d) broke off: %s", resp.status, describe(exc))
        return None
    return b"".join(chunks)


async def body_fully_sent(tracker: aiohttp.UploadTracker) -> bool:
    """Whether the whole request body left us; when unsure, say yes (the cautious answer)."""
    done, _ = await asyncio.wait({tracker.upload_complete}, timeout=5.0)
    if not done:
        return True
    return tracker.upload_complete.exception() is None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP-date); None if absent/bad."""
    raw = headers.get("Retry-After")
    if not raw:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return trim(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, 200)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes | None  # None when the body could not be read
    retry_after: float | None

    def json(self) -> Any:
        """The decoded JSON body, or None if there is none."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            return None
