"""Check that an uploaded file really is audio we can send, and how long it is.

The judging is FFmpeg's (through PyAV), in a bounded worker process: `bot.core.media.probe`
demuxes and decodes the file there, `bot.core.media.convert` turns audio MusicGPT doesn't take as
it is into FLAC, and `bot.core.media.worker` keeps both where a crafted file can't hurt the bot.
This module is what the intake calls, plus the size wording. Nothing here knows about Discord.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

from bot.core.errors import AudioRejected
from bot.core.i18n import N_
from bot.core.i18n.said import Said, said
from bot.core.media.names import ACCEPTED_FORMATS
from bot.core.media.worker import Limits, MediaWorker, WorkerFailed

log = logging.getLogger(__name__)
_T = TypeVar("_T")

__all__ = [
    "ACCEPTED_FORMATS",
    "CONVERT_LIMITS",
    "PROBE_LIMITS",
    "AudioInfo",
    "describe_size",
    "inspect_audio_async",
    "shared_worker",
    "too_big",
]

_MIB: Final = 1024 * 1024
# A 25 MB file is judged in well under a second of CPU; a crafted one gets a few seconds at
# most. Memory is what the job may add to the child's own (PyAV's libraries mapped).
PROBE_LIMITS: Final = Limits(cpu_seconds=3, wall_seconds=6, memory_bytes=512 * _MIB)
# Converting decodes and encodes the whole song: a long WMA takes seconds.
CONVERT_LIMITS: Final = Limits(cpu_seconds=60, wall_seconds=120, memory_bytes=512 * _MIB)

_MIME: Final = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
}
_EMPTY: Final = N_("That file is empty.")
_FAILED: Final[dict[str, str]] = {
    "cpu": N_("That file took too long to read; it may be damaged."),
    "wall": N_("That file took too long to read; it may be damaged."),
    "memory": N_("That file needed too much memory to read; it may be damaged."),
    "crash": N_("I couldn't read that audio file; it may be damaged."),
    "error": N_("I couldn't read that audio file; it may be damaged."),
}


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """An accepted file, ready to send: where it is, what it is, how long it plays."""

    format: str  # "mp3" | "wav" | "flac" | "ogg" | "m4a" | "aac"
    mime: str
    size: int  # bytes
    duration: float  # seconds, measured by demuxing to the real end
    path: Path  # the file to send: the upload itself, or the FLAC it was converted to


# --------------------------------------------------------------------------------------------
# Sizes


def describe_size(n: int) -> str:
    """A size for people: "812 bytes", "48.5 KB", "25 MB".

    Units are binary (1 MB = 1024 * 1024 bytes) but labelled KB/MB, as Discord does, so the
    limits we print match the ones users see in the Discord client.
    """
    return _describe_size(n)


def _describe_size(n: int, *, round_up: bool = False) -> str:
    # round_up is for the size of a rejected file, so that a file one byte over a 25 MB limit
    # reads "25.1 MB", never "25 MB; the limit is 25 MB".
    if n < 1024:
        return "1 byte" if n == 1 else f"{n} bytes"
    value = n / 1024
    unit = "KB"
    for bigger in ("MB", "GB", "TB"):
        # Move up a unit before the number would print as "1024 KB".
        if value < 1023.95:
            break
        value /= 1024
        unit = bigger
    if value >= 100:
        shown = str(math.ceil(value) if round_up else round(value))
    else:
        tenths = math.ceil(value * 10) if round_up else round(value * 10)
        shown = f"{tenths / 10:.1f}".removesuffix(".0")
    return f"{shown} {unit}"


def too_big(size: int, max_bytes: int) -> AudioRejected:
    """The refusal for a file of `size` bytes over a `max_bytes` limit (for the caller to raise)."""
    return AudioRejected(
        said(
            "That file is {size}; the limit is {limit}.",
            size=_describe_size(size, round_up=True),
            limit=describe_size(max_bytes),
        )
    )


# --------------------------------------------------------------------------------------------
# Inspecting a file

_shared: MediaWorker | None = None


def shared_worker() -> MediaWorker:
    """One worker for callers that don't bring their own (tools, tests)."""
    global _shared  # created on first use, not at import
    if _shared is None:
        _shared = MediaWorker()
    return _shared


async def inspect_audio_async(
    path: str | Path,
    *,
    max_bytes: int,
    member: int = 0,
    worker: MediaWorker | None = None,
) -> AudioInfo:
    """Judge the file at `path` in the worker; convert it to FLAC if MusicGPT needs that.

    Returns where the file to send is: `path` itself, or a new `.flac` beside it (`path` is
    then left for the caller to delete). Raises AudioRejected with a short message for the
    user. `member` is who uploaded it: one member's files are checked one at a time. An
    OSError (the file is missing) is our problem, not the user's, and propagates.
    """
    # Imported here: the verdict types live with the code that runs in the worker.
    from bot.core.media import convert, probe

    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise AudioRejected(said(_EMPTY))
    if size > max_bytes:
        raise too_big(size, max_bytes)
    worker = worker or shared_worker()
    async with worker.turn(member):
        verdict = await _call(worker, probe.probe, (str(path),), PROBE_LIMITS, probe.Verdict)
        if verdict.refusal:
            raise AudioRejected(Said.of_record(verdict.refusal))
        if verdict.format is not None:
            return AudioInfo(
                format=verdict.format,
                mime=_MIME[verdict.format],
                size=size,
                duration=verdict.duration,
                path=path,
            )
        flac = path.with_suffix(".flac")
        if flac == path:
            flac = path.with_suffix(".converted.flac")
        try:
            limits = Limits(
                CONVERT_LIMITS.cpu_seconds,
                CONVERT_LIMITS.wall_seconds,
                CONVERT_LIMITS.memory_bytes,
                file_bytes=max_bytes + _MIB,  # a FLAC header can't take more than that
            )
            args = (str(path), str(flac), verdict.stream, max_bytes)
            done = await _call(worker, convert.to_flac, args, limits, convert.Converted)
            if done.refusal:
                raise AudioRejected(Said.of_record(done.refusal))
        except BaseException:
            flac.unlink(missing_ok=True)
            raise
        log.info("converted %s (%s) to FLAC: %.1f s", path.name, verdict.what, done.duration)
        return AudioInfo(
            format="flac", mime=_MIME["flac"], size=done.size, duration=done.duration, path=flac
        )


async def _call(
    worker: MediaWorker,
    fn: Callable[..., object],
    args: tuple[object, ...],
    limits: Limits,
    into: Callable[..., _T],
) -> _T:
    """`fn(*args)` in the worker, its result rebuilt as `into`; a refusal if it was stopped."""
    try:
        result: _T = await worker.call(fn, args, limits, into)
        return result
    except WorkerFailed as failed:
        if failed.kind == "error":
            log.error("media worker raised on %s:\n%s", args[0], failed.detail)
        else:
            log.warning("media worker stopped on %s: %s", args[0], failed)
        raise AudioRejected(said(_FAILED[failed.kind])) from None
