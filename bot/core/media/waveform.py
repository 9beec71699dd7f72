"""A PNG of a song's waveform, with the range an inpaint replaces marked and a time axis.

The file is decoded by FFmpeg (through PyAV) in the bounded media worker, like the checks in
`bot.core.media.probe`: it is user audio, and a crafted file may cost a decoder seconds or
gigabytes. Decoding streams: each frame is downmixed to 16-bit mono, and its min and max are
folded into at most two bins per pixel column (`PeakAccumulator`), so a 25 MB file costs
a few KB of peaks, never its PCM. The child draws the picture with Pillow and writes it to a
path the parent gives (results come back as JSON, never as bytes or pickles); the parent
reads the PNG back. `draw_waveform` draws from peaks alone, for tests and the demo.

    python -m bot.core.media.waveform --demo docs/waveform.png   # the README's picture
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
import math
import os
import resource
import tempfile
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Final

import av
import av.error
from PIL import Image, ImageDraw, ImageFont

from bot.core.errors import UserFacingError
from bot.core.media.probe import clock, decoded_frames
from bot.core.media.worker import Limits, MediaWorker, WorkerFailed

log = logging.getLogger(__name__)

_MIB: Final = 1024 * 1024
WIDTH: Final = 800
HEIGHT: Final = 200
MIN_WIDTH: Final = 400
# Decoding a 27-minute MP3 (25 MB at 128 kbps) is most of the cost: seconds, not minutes.
# The PNG is ~10 KB; the file limit only stops a runaway writer.
WAVEFORM_LIMITS: Final = Limits(
    cpu_seconds=20, wall_seconds=30, memory_bytes=256 * _MIB, file_bytes=4 * _MIB
)
# Samples a second kept for the peaks (about; see `_Decimator`): a column of a 10 s song
# still gets 50 of them, and one of a tone at 440 Hz is within 6% of its true peak.
_RATE: Final = 4000
_FULL_SCALE: Final = 32768
# Peaks are scaled to the song's loudest one, but never by more than this: a nearly silent
# file stays a flat line instead of showing its noise floor at full height.
_MAX_GAIN: Final = 64

# Colours: Discord's blurple on a dark ground that reads in both of Discord's themes.
BACKGROUND: Final = (30, 31, 34)  # #1E1F22
WAVE: Final = (88, 101, 242)  # #5865F2, blurple
BAND: Final = (46, 50, 87)  # blurple at 22% over the background: the replaced range
BAND_WAVE: Final = (254, 231, 92)  # #FEE75C, Discord's yellow: the part being replaced
EDGE: Final = (254, 231, 92)
AXIS: Final = (181, 186, 193)  # #B5BAC1, Discord's muted text
AXIS_HEIGHT: Final = 22  # the strip under the waveform holding tick marks and labels
MARGIN: Final = 6  # above and below the waveform, so the band shows past its peaks
# Tick steps, seconds: the smallest that leaves at most one label per `_LABEL_SPACING` px.
_STEPS: Final = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
_LABEL_SPACING: Final = 90

_DAMAGED: Final = "I couldn't decode that song to draw its waveform; it may be damaged."
_FAILED: Final[dict[str, str]] = {
    "cpu": "Drawing that song's waveform took too long; the file may be damaged.",
    "wall": "Drawing that song's waveform took too long; the file may be damaged.",
    "memory": "Drawing that song's waveform needed too much memory; the file may be damaged.",
    "crash": _DAMAGED,
    "error": "I couldn't draw that song's waveform.",
}


class WaveformFailed(UserFacingError):
    """No picture: the file doesn't decode, or the job was stopped by a limit."""


# --------------------------------------------------------------------------------------------
# Peaks


class PeakAccumulator:
    """The min and max of a stream of samples in at most `2 * columns` bins of equal size.

    Bins start `bin_size` samples long; when they are all full, neighbours merge and bins
    double, so memory is O(columns) however long the song, and nobody needs to know its
    length beforehand (headers lie). Each bin costs one `min` and one `max` over a slice, in
    C: a few thousand Python steps per song, not one per sample.
    """

    def __init__(self, columns: int, bin_size: int = 16) -> None:
        if columns < 1 or bin_size < 1:
            raise ValueError("columns and bin_size must be positive")
        self.capacity = 2 * columns  # even, so bins merge in pairs
        self.bin_size = bin_size
        self.lows: array[int] = array("i")
        self.highs: array[int] = array("i")
        self.samples = 0
        self._fill = 0  # samples in the last bin, 0 when it is full (or there is none)

    def add(self, chunk: Sequence[int]) -> None:
        i, n = 0, len(chunk)
        while i < n:
            if self._fill == 0:
                if len(self.lows) == self.capacity:
                    self._merge()
                take = min(self.bin_size, n - i)
                piece = chunk[i : i + take]
                self.lows.append(min(piece))
                self.highs.append(max(piece))
            else:
                take = min(self.bin_size - self._fill, n - i)
                piece = chunk[i : i + take]
                self.lows[-1] = min(self.lows[-1], min(piece))
                self.highs[-1] = max(self.highs[-1], max(piece))
            self._fill = (self._fill + take) % self.bin_size
            self.samples += take
            i += take

    def _merge(self) -> None:
        # Only called with every bin full, so the merged ones are full at the doubled size.
        lows, highs = self.lows, self.highs
        self.lows = array("i", map(min, lows[0::2], lows[1::2]))
        self.highs = array("i", map(max, highs[0::2], highs[1::2]))
        self.bin_size *= 2

    def columns(self, count: int) -> list[tuple[int, int]]:
        """(min, max) of each of `count` equal slices of everything added; [] if nothing was."""
        total = self.samples
        if total == 0:
            return []
        out = []
        for c in range(count):
            first = c * total // count
            last = max(first, (c + 1) * total // count - 1)
            a, b = first // self.bin_size, last // self.bin_size + 1
            out.append((min(self.lows[a:b]), max(self.highs[a:b])))
        return out


def normalized(columns: Sequence[tuple[int, int]]) -> list[tuple[float, float]]:
    """16-bit peaks as -1..1, scaled to the loudest (by at most `_MAX_GAIN`)."""
    loudest = max((max(-lo, hi) for lo, hi in columns), default=0)
    scale = max(loudest, _FULL_SCALE / _MAX_GAIN)
    return [(max(-1.0, lo / scale), min(1.0, hi / scale)) for lo, hi in columns]


# --------------------------------------------------------------------------------------------
# Drawing (pure: peaks in, PNG bytes out)


def x_of(seconds: float, duration: float, width: int) -> int:
    """The pixel column of a moment of the song."""
    if duration <= 0:
        return 0
    return min(width - 1, max(0, round(seconds / duration * (width - 1))))


def tick_step(duration: float, width: int = WIDTH) -> int:
    """Seconds between labelled ticks: the smallest step that keeps labels apart."""
    most = max(2, width // _LABEL_SPACING)
    for step in _STEPS:
        if duration / step <= most:
            return step
    return _STEPS[-1] * math.ceil(duration / _STEPS[-1] / most)


def ticks(duration: float, width: int = WIDTH) -> list[tuple[float, str]]:
    """(seconds, label) of every tick: 0:00, 0:30, 1:00, ..."""
    step = tick_step(duration, width)
    return [(float(t), clock(t)) for t in range(0, int(duration) + 1, step)]


def draw_waveform(
    columns: Sequence[tuple[float, float]],
    *,
    duration: float,
    start: float | None = None,
    end: float | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> bytes:
    """A PNG of `columns` ((min, max) in -1..1, one per pixel column, resampled if not),
    `duration` seconds long, with [start, end] shaded and edged when `start` is given (to the
    end of the song when `end` is None: an extend's new part)."""
    if width < MIN_WIDTH:
        raise ValueError(f"a waveform is at least {MIN_WIDTH} px wide")
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    wave_bottom = height - AXIS_HEIGHT - 1
    band: tuple[int, int] | None = None
    if start is not None and duration > 0:
        last = duration if end is None else max(start, end)
        band = (x_of(start, duration, width), x_of(last, duration, width))
        draw.rectangle((band[0], 0, band[1], wave_bottom), fill=BAND)
    middle = (wave_bottom + 1) / 2
    reach = middle - MARGIN
    for x in range(width):
        if columns:
            lo, hi = columns[x * len(columns) // width]
        else:
            lo = hi = 0.0
        top = round(middle - hi * reach)
        bottom = max(top, round(middle - lo * reach))
        inside = band is not None and band[0] <= x <= band[1]
        draw.line((x, top, x, bottom), fill=BAND_WAVE if inside else WAVE)
    if band is not None:
        for x in band:
            draw.line((x, 0, x, wave_bottom), fill=EDGE, width=1)
    _axis(draw, duration, width, wave_bottom + 1)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def _axis(draw: ImageDraw.ImageDraw, duration: float, width: int, top: int) -> None:
    font = ImageFont.load_default(size=12)
    draw.line((0, top, width - 1, top), fill=AXIS)
    for seconds, label in ticks(duration, width):
        x = x_of(seconds, duration, width)
        draw.line((x, top, x, top + 4), fill=AXIS)
        left, _, right, _ = draw.textbbox((0, 0), label, font=font)
        text_x = min(width - (right - left) - 1, max(0, x - (right - left) // 2))
        draw.text((text_x, top + 6), label, fill=AXIS, font=font)


# --------------------------------------------------------------------------------------------
# In the worker child


@dataclass(frozen=True, slots=True)
class Rendered:
    """What the child did: the PNG written, or why not."""

    refusal: str | None = None
    duration: float = 0.0  # seconds decoded
    peak_rss: int = 0  # the child's peak resident memory, bytes (ru_maxrss)


def render_file(
    src: str, dest: str, start: float | None, end: float | None, width: int, height: int
) -> Rendered:
    """Decode the first audio stream of `src`, draw its waveform, write the PNG to `dest`.

    A packet that doesn't decode is skipped, as a player would; a file with nothing that
    decodes is refused.
    """
    peaks = PeakAccumulator(width)
    rate = 0
    try:
        with av.open(src, metadata_errors="ignore") as container:
            if not container.streams.audio:
                return Rendered(refusal="That file has no audio to draw a waveform of.")
            stream = container.streams.audio[0]
            stream.codec_context.thread_count = 1  # threads reserve address space (RLIMIT_AS)
            rate = stream.codec_context.sample_rate
            if rate <= 0:
                return Rendered(refusal=_DAMAGED)
            decimate = _Decimator(max(1, rate // _RATE))
            resampler = av.AudioResampler(format="s16", layout="mono")  # rate: as it is
            for frame in decoded_frames(container, stream):
                for mono in resampler.resample(frame):
                    peaks.add(decimate(mono))
            for mono in resampler.resample(None):
                peaks.add(decimate(mono))
    except (av.error.FFmpegError, ValueError):
        # ValueError: PyAV's resampler meeting a frame whose format changed mid-stream.
        if peaks.samples == 0:
            return Rendered(refusal=_DAMAGED)
    if peaks.samples == 0:
        return Rendered(refusal=_DAMAGED)
    duration = decimate.seen / rate
    png = draw_waveform(
        normalized(peaks.columns(width)),
        duration=duration,
        start=start,
        end=end,
        width=width,
        height=height,
    )
    Path(dest).write_bytes(png)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return Rendered(duration=duration, peak_rss=peak)


class _Decimator:
    """Every `stride`-th sample of a run of mono 16-bit frames, in step across frames.

    The peaks of a picture 800 px wide don't need 44,100 samples a second, and Python's
    `min` and `max` cost ~40 ns a sample: keeping about `_RATE` a second takes a third off
    the time of a long MP3. A slice with a step is done in C; resampling to a lower rate
    with a low-pass filter cost more than decoding (PyAV's per-frame overhead), and a peak
    in music is broad enough to survive the gaps.
    """

    def __init__(self, stride: int) -> None:
        self.stride = stride
        self.seen = 0  # samples before decimation: the song's length at its own rate
        self._phase = 0  # where the next frame's first kept sample is

    def __call__(self, frame: av.AudioFrame) -> array[int]:
        samples = array("h")
        samples.frombytes(bytes(frame.planes[0])[: frame.samples * 2])  # the plane is padded
        self.seen += len(samples)
        if self.stride == 1:
            return samples
        kept = samples[self._phase :: self.stride]
        self._phase = (self._phase - len(samples)) % self.stride
        return kept


# --------------------------------------------------------------------------------------------
# In the bot


async def render_waveform(
    path: Path,
    *,
    start: float | None,
    end: float | None,
    worker: MediaWorker,
    member: int | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> bytes:
    """PNG bytes of the waveform of the audio at `path`, [start, end] marked.

    Runs in `worker` (one child, `WAVEFORM_LIMITS`), queued behind `member`'s other media
    jobs. Raises WaveformFailed, whose message is fit for the user, when there is no picture.
    """
    if width < MIN_WIDTH:
        raise ValueError(f"a waveform is at least {MIN_WIDTH} px wide")
    fd, dest = tempfile.mkstemp(prefix="waveform-", suffix=".png")
    os.close(fd)
    try:
        args = (str(path), dest, start, end, width, height)
        async with worker.turn(member if member is not None else 0):
            try:
                done = await worker.call(render_file, args, WAVEFORM_LIMITS, Rendered)
            except WorkerFailed as failed:
                if failed.kind == "error":
                    log.error("waveform job raised on %s:\n%s", path, failed.detail)
                else:
                    log.warning("waveform job stopped on %s: %s", path, failed)
                raise WaveformFailed(_FAILED[failed.kind]) from None
        if done.refusal:
            raise WaveformFailed(done.refusal)
        return await asyncio.to_thread(Path(dest).read_bytes)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(dest)


# --------------------------------------------------------------------------------------------
# The README's picture, from a test tone


def demo_tone(path: Path, seconds: float = 150.0, rate: int = 8000) -> Path:
    """A FLAC of a 220 Hz tone shaped like a song: a quiet intro, verses and louder choruses
    with a beat, a break of silence and a fade-out."""
    with av.open(str(path), "w", format="flac") as out:
        stream = out.add_stream("flac", rate=rate)
        if not isinstance(stream, av.AudioStream):
            raise TypeError("FFmpeg's FLAC encoder gave no audio stream")
        stream.codec_context.layout = "mono"
        stream.codec_context.format = "s16"
        block = rate // 10
        for first in range(0, int(seconds * rate), block):
            chunk = array("h")
            for i in range(first, first + block):
                t = i / rate
                chunk.append(round(30000 * _loudness(t, seconds) * math.sin(2 * math.pi * 220 * t)))
            frame = av.AudioFrame(format="s16", layout="mono", samples=block)
            frame.planes[0].update(chunk.tobytes())
            frame.sample_rate = rate
            frame.pts = first
            frame.time_base = Fraction(1, rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _loudness(t: float, seconds: float) -> float:
    if 88 <= t < 92:
        return 0.0  # a break
    section = 0.35 if t < 15 else 0.55 if (t // 30) % 2 == 0 else 0.9
    beat = 0.3 + 0.7 * math.exp(-6 * (t % 0.75))  # 80 bpm, each beat decaying
    swell = 0.85 + 0.15 * math.sin(2 * math.pi * t / 7.5)
    fade = min(1.0, (seconds - t) / 10)
    return section * beat * swell * fade


async def _demo() -> bytes:
    # Through the module by its name: run as `python -m`, this file is `__main__`, which the
    # worker's children don't import, so a job must be named `bot.core.media.waveform.render_file`.
    from bot.core.media import waveform

    with tempfile.TemporaryDirectory() as tmp:
        tone = await asyncio.to_thread(waveform.demo_tone, Path(tmp) / "tone.flac")
        async with MediaWorker() as worker:
            return await waveform.render_waveform(tone, start=60.0, end=90.0, worker=worker)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Draw the README's waveform picture.")
    parser.add_argument("--demo", type=Path, required=True, help="where to write the PNG")
    dest: Path = parser.parse_args(argv).demo
    png = asyncio.run(_demo())
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(png)
    print(f"wrote {dest} ({len(png)} bytes): a 2:30 test tone, 1:00-1:30 marked")


if __name__ == "__main__":
    main()
