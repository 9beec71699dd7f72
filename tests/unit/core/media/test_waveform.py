"""Waveform pictures: peaks, drawing, and decoding every accepted format in the worker."""

from __future__ import annotations

import io
import math
import random
import struct
import tempfile
import tracemalloc
import wave
from pathlib import Path

import pytest
from PIL import Image

from bot.core.media import waveform
from bot.core.media.waveform import (
    BACKGROUND,
    BAND,
    EDGE,
    HEIGHT,
    WIDTH,
    PeakAccumulator,
    WaveformFailed,
    draw_waveform,
    render_waveform,
    tick_step,
    ticks,
    x_of,
)
from bot.core.media.worker import Limits, MediaWorker
from tests.standins.audio_gen import write_large_wav
from tests.support import worker_jobs
from tests.support.media import Fixtures

MIB = 1024 * 1024
WAVE_BOTTOM = HEIGHT - waveform.AXIS_HEIGHT - 1


def picture(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    image.load()  # decodes it whole: a truncated PNG fails here
    return image.convert("RGB")


def painted(image: Image.Image, x: int) -> int:
    """How many pixels of column `x` of the waveform area are neither ground nor band."""
    return sum(image.getpixel((x, y)) not in (BACKGROUND, BAND) for y in range(1, WAVE_BOTTOM - 1))


def loud_then_silent_wav(path: Path, loud: float, silent: float, rate: int = 8000) -> Path:
    """A WAV of a full-scale-ish tone for `loud` seconds, then `silent` seconds of silence."""
    tone = [round(25000 * math.sin(2 * math.pi * 330 * i / rate)) for i in range(int(loud * rate))]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(struct.pack(f"<{len(tone)}h", *tone))
        out.writeframes(b"\0\0" * int(silent * rate))
    return path


# --------------------------------------------------------------------------------------------
# Peaks


@pytest.mark.parametrize("chunk", [1, 7, 1152, 4096])
def test_peaks_match_a_direct_min_and_max(chunk: int) -> None:
    rng = random.Random(chunk)
    samples = [rng.randint(-32768, 32767) for _ in range(65_536)]
    peaks = PeakAccumulator(40, bin_size=4)
    for i in range(0, len(samples), chunk):
        peaks.add(samples[i : i + chunk])
    assert peaks.samples == len(samples)
    # 2 ** 16 samples end in whole bins (4 samples, doubled each merge): with a column per
    # bin, each column is exactly the min and max of its samples.
    assert peaks.bin_size == 1024 and len(peaks.lows) == 64
    columns = peaks.columns(64)
    for c, (lo, hi) in enumerate(columns):
        part = samples[c * peaks.bin_size : (c + 1) * peaks.bin_size]
        assert (lo, hi) == (min(part), max(part))


def test_peak_memory_stays_o_of_the_width_however_long_the_song() -> None:
    chunk = [(i % 200) - 100 for i in range(4096)]
    peaks = PeakAccumulator(WIDTH)
    tracemalloc.start()
    try:
        for _ in range(2500):  # 10 million samples: 20 MB of 16-bit PCM
            peaks.add(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(peaks.lows) <= 2 * WIDTH and len(peaks.highs) <= 2 * WIDTH
    assert peak < 200_000  # two arrays of 1,600 ints and their merges, not 20 MB
    assert peaks.columns(WIDTH)[0] == (-100, 99)


def test_nothing_added_gives_no_columns() -> None:
    assert PeakAccumulator(10).columns(10) == []


# --------------------------------------------------------------------------------------------
# Drawing from peaks


def test_the_picture_is_a_png_at_least_400_px_wide() -> None:
    image = picture(draw_waveform([(-0.5, 0.5)] * WIDTH, duration=30.0))
    assert image.size == (WIDTH, HEIGHT) and image.width >= 400
    with pytest.raises(ValueError, match="400"):
        draw_waveform([], duration=30.0, width=300)


def test_the_replaced_range_is_shaded_and_edged_at_its_columns() -> None:
    duration, start, end = 100.0, 30.0, 60.0
    image = picture(draw_waveform([(-0.2, 0.2)] * WIDTH, duration=duration, start=start, end=end))
    left, right = x_of(start, duration, WIDTH), x_of(end, duration, WIDTH)
    assert (left, right) == (240, 479)  # 30% and 60% of 799 columns
    top = 2  # above the waveform's reach (its margin)
    assert image.getpixel((left, top)) == EDGE
    assert image.getpixel((right, top)) == EDGE
    for x in (left + 1, (left + right) // 2, right - 1):
        assert image.getpixel((x, top)) == BAND
    for x in (left - 2, 10, right + 2, WIDTH - 10):
        assert image.getpixel((x, top)) == BACKGROUND
    # Inside the band the waveform itself is drawn in the band's colour, outside in blurple.
    middle = WAVE_BOTTOM // 2
    assert image.getpixel((350, middle)) == waveform.BAND_WAVE
    assert image.getpixel((100, middle)) == waveform.WAVE


def test_an_extends_new_part_is_shaded_from_its_start_to_the_end() -> None:
    image = picture(draw_waveform([(-0.2, 0.2)] * WIDTH, duration=100.0, start=30.0, end=None))
    left = x_of(30.0, 100.0, WIDTH)
    assert image.getpixel((left, 2)) == EDGE
    assert image.getpixel((WIDTH - 1, 2)) == EDGE
    assert image.getpixel((left - 2, 2)) == BACKGROUND
    assert image.getpixel((WIDTH - 10, 2)) == BAND


def test_no_range_no_band() -> None:
    image = picture(draw_waveform([(-0.2, 0.2)] * WIDTH, duration=100.0))
    assert all(image.getpixel((x, 2)) == BACKGROUND for x in range(0, WIDTH, 7))


def test_loud_columns_are_taller_than_quiet_ones() -> None:
    columns = [(-0.05, 0.05)] * (WIDTH // 2) + [(-0.9, 0.9)] * (WIDTH // 2)
    image = picture(draw_waveform(columns, duration=20.0))
    quiet, loud = painted(image, 100), painted(image, 700)
    assert quiet < 15 < 100 < loud


@pytest.mark.parametrize(
    ("duration", "step", "labels"),
    [
        (10.0, 2, ["0:00", "0:02", "0:04", "0:06", "0:08", "0:10"]),
        (180.0, 30, ["0:00", "0:30", "1:00", "1:30", "2:00", "2:30", "3:00"]),
        (600.0, 120, ["0:00", "2:00", "4:00", "6:00", "8:00", "10:00"]),
        (3.5, 1, ["0:00", "0:01", "0:02", "0:03"]),
    ],
)
def test_time_axis_ticks_suit_the_length(duration: float, step: int, labels: list[str]) -> None:
    assert tick_step(duration) == step
    assert [label for _, label in ticks(duration)] == labels
    assert all(seconds % step == 0 for seconds, _ in ticks(duration))


def test_tick_marks_are_drawn_on_the_axis_at_their_columns() -> None:
    image = picture(draw_waveform([(-0.2, 0.2)] * WIDTH, duration=180.0))
    mark_y = WAVE_BOTTOM + 3  # the short tick under the axis line
    for seconds, _ in ticks(180.0):
        assert image.getpixel((x_of(seconds, 180.0, WIDTH), mark_y)) == waveform.AXIS
    assert image.getpixel((x_of(15.0, 180.0, WIDTH), mark_y)) == BACKGROUND  # no tick there


# --------------------------------------------------------------------------------------------
# Decoding in the worker

FORMATS = ["s16.wav", "mp3", "flac", "vorbis.ogg", "opus.ogg", "aac.m4a", "alac.m4a", "adts.aac"]
OTHERS = ["wma", "aiff", "ima.wav", "webm", "mka", "ac3", "video.mp4"]


@pytest.mark.parametrize("name", FORMATS + OTHERS)
async def test_every_accepted_format_draws(name: str, media: Fixtures, worker: MediaWorker) -> None:
    png = await render_waveform(media(name, 4.0), start=1.0, end=2.0, worker=worker, member=1)
    image = picture(png)
    assert image.size == (WIDTH, HEIGHT)
    # The fixtures are a steady tone: the waveform is tall on both sides of the band.
    assert painted(image, 100) > 60 and painted(image, 700) > 60
    assert image.getpixel((x_of(1.5, 4.0, WIDTH), 2)) == BAND


async def test_a_decoded_song_shows_loud_and_silent_parts(
    tmp_path: Path, worker: MediaWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = loud_then_silent_wav(tmp_path / "half.wav", loud=3.0, silent=3.0)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    image = picture(await render_waveform(path, start=None, end=None, worker=worker))
    assert list(tmp_path.glob("waveform-*")) == []  # the child's PNG, read back and removed
    assert painted(image, x_of(1.5, 6.0, WIDTH)) > 100
    assert painted(image, x_of(4.5, 6.0, WIDTH)) <= 2  # a flat line


async def test_the_band_lands_where_the_range_is_in_a_decoded_song(
    tmp_path: Path, worker: MediaWorker
) -> None:
    path = loud_then_silent_wav(tmp_path / "tone.wav", loud=20.0, silent=0.0)
    image = picture(await render_waveform(path, start=5.0, end=12.0, worker=worker))
    assert image.getpixel((x_of(5.0, 20.0, WIDTH), 2)) == EDGE
    assert image.getpixel((x_of(12.0, 20.0, WIDTH), 2)) == EDGE
    assert image.getpixel((x_of(8.0, 20.0, WIDTH), 2)) == BAND
    assert image.getpixel((x_of(3.0, 20.0, WIDTH), 2)) == BACKGROUND
    assert image.getpixel((x_of(15.0, 20.0, WIDTH), 2)) == BACKGROUND


@pytest.mark.parametrize(
    "content",
    [
        b"this is not audio at all\n" * 200,
        bytes(random.Random(5).randrange(256) for _ in range(20_000)),
    ],
    ids=["text", "noise"],
)
async def test_an_undecodable_file_is_a_clear_error(
    content: bytes, tmp_path: Path, worker: MediaWorker
) -> None:
    path = tmp_path / "bad.mp3"
    path.write_bytes(content)
    with pytest.raises(WaveformFailed) as failed:
        await render_waveform(path, start=0.0, end=1.0, worker=worker)
    assert "waveform" in failed.value.user_message


async def test_a_file_with_no_audio_is_a_clear_error(media: Fixtures, worker: MediaWorker) -> None:
    with pytest.raises(WaveformFailed, match="no audio to draw"):
        await render_waveform(media("video-only.mp4"), start=0.0, end=1.0, worker=worker)


async def test_a_25_mb_file_is_drawn_in_bounded_memory(tmp_path: Path, worker: MediaWorker) -> None:
    small = write_large_wav(tmp_path / "small.wav", 256 * 1024)
    big = write_large_wav(tmp_path / "big.wav", 25 * MIB)
    dest = tmp_path / "out.png"

    async def peak(path: Path) -> waveform.Rendered:
        async with worker.turn(1):
            done: waveform.Rendered = await worker.call(
                waveform.render_file,
                (str(path), str(dest), 10.0, 20.0, WIDTH, HEIGHT),
                waveform.WAVEFORM_LIMITS,
                waveform.Rendered,
            )
        assert done.refusal is None
        return done

    async with worker.turn(1):
        baseline = await worker.call(worker_jobs.peak_rss, (), waveform.WAVEFORM_LIMITS)
    few_seconds, whole = await peak(small), await peak(big)
    assert whole.duration == pytest.approx((25 * MIB - 44) / 2 / 44100, rel=0.001)
    assert picture(dest.read_bytes()).width == WIDTH
    # Decoding and drawing cost the child a fixed ~10 MB (codec, Pillow, its font) over one
    # that does nothing; the 25 MB file's PCM, held, would add 25 MB more.
    assert baseline < few_seconds.peak_rss < baseline + 32 * MIB
    assert whole.peak_rss - few_seconds.peak_rss < 6 * MIB, (whole, few_seconds)


async def test_a_job_stopped_by_its_bounds_is_a_clear_error(
    tmp_path: Path, worker: MediaWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = write_large_wav(tmp_path / "big.wav", 25 * MIB)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # 20 ms can't decode 25 MB (forking the child alone takes ~10 ms).
    monkeypatch.setattr(
        waveform,
        "WAVEFORM_LIMITS",
        Limits(cpu_seconds=5, wall_seconds=0.02, memory_bytes=256 * MIB),
    )
    with pytest.raises(WaveformFailed, match="took too long"):
        await render_waveform(big, start=0.0, end=1.0, worker=worker)
    assert worker._running == set()  # the child was killed and reaped
    assert list(tmp_path.glob("waveform-*")) == []  # and its PNG path removed
