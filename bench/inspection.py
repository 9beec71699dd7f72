"""Figure 7: judging a 25 MB upload, through the bounded worker, as the intake does.

`inspect_audio_async` on a 25 MB WAV and on 25 MB MP3s (320 and 128 kbps: the lower the
bitrate, the more frames to demux), with the worker warm (the forkserver started, as the bot
does at start-up). Wall time is the median of 5 checks of each file; memory is the bot-side
process's peak growth (VmHWM, reset through /proc/self/clear_refs) and the worker child's
peak RSS (ru_maxrss, reported by a child that runs the same probe). An 8 MB AC3 converted to
FLAC is timed too, for the record (no goal: conversion happens once per such upload).

    .venv/bin/python -m bench --only 7
"""

from __future__ import annotations

import gc
import resource
import shutil
import statistics
import time
from pathlib import Path

from bench.common import Row
from bot.core.media import probe
from bot.core.media.inspect import CONVERT_LIMITS, PROBE_LIMITS, inspect_audio_async
from bot.core.media.worker import MediaWorker
from tests.standins.audio_gen import write_large_wav
from tests.support.media import RECIPES, Recipe, encode

MB = 1024 * 1024
SIZE = 25 * MB
GOAL_MS = 150
RUNS = 5


def _read_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def probe_with_peak(path: str) -> int:
    """Runs in the worker child: the probe, then the child's peak RSS in bytes."""
    probe.probe(path)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child_peak(path: str) -> int:
    """Runs in the worker child: its peak RSS without probing anything (the baseline)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def repeated(path: Path, recipe: Recipe, size: int) -> Path:
    """A file of `size` bytes made of one short encode repeated (MP3 frames chain freely).

    Encoding 25 minutes of audio would take a minute; repeating 20 s of frames gives the
    demuxer exactly the same work.
    """
    seed = encode(path.with_suffix(".seed"), recipe, seconds=20.0)
    block = seed.read_bytes()
    with path.open("wb") as out:
        written = 0
        while written < size:
            piece = block[: size - written]
            out.write(piece)
            written += len(piece)
    seed.unlink()
    return path


def _mp3(bit_rate: int) -> Recipe:
    # No ID3 tag, no Xing header: a bare stream of frames that can be repeated.
    return Recipe(
        "mp3",
        "libmp3lame",
        rate=44100,
        channels=2,
        bit_rate=bit_rate,
        options=(("id3v2_version", "0"), ("write_xing", "0")),
    )


async def _time(worker: MediaWorker, path: Path) -> tuple[float, float, str]:
    """Median and max wall time (ms) of RUNS checks of `path`, and what it was found to be."""
    times = []
    what = ""
    for _ in range(RUNS):
        started = time.perf_counter()
        info = await inspect_audio_async(path, max_bytes=SIZE + MB, worker=worker)
        times.append((time.perf_counter() - started) * 1000)
        what = f"{info.format}, {info.duration / 60:.1f} min"
    return statistics.median(times), max(times), what


async def measure(tmp: Path) -> list[Row]:
    files = {
        "WAV": write_large_wav(tmp / "big.wav", SIZE),
        "MP3 320k": repeated(tmp / "big320.mp3", _mp3(320_000), SIZE),
        "MP3 128k": repeated(tmp / "big128.mp3", _mp3(128_000), SIZE),
    }
    ac3 = repeated(tmp / "big.ac3", RECIPES["ac3"], 8 * MB)  # ~12 min at 96 kbps
    async with MediaWorker() as worker:
        await worker.start()
        await inspect_audio_async(files["WAV"], max_bytes=SIZE + MB, worker=worker)  # warm
        results = {name: await _time(worker, path) for name, path in files.items()}

        gc.collect()
        Path("/proc/self/clear_refs").write_text("5")
        before = _read_kb("VmRSS")
        for path in files.values():
            await inspect_audio_async(path, max_bytes=SIZE + MB, worker=worker)
        parent_growth = max(0, _read_kb("VmHWM") - before) / 1024

        async with worker.turn(0):
            baseline = await worker.call(child_peak, (str(files["WAV"]),), PROBE_LIMITS)
            peaks = {
                name: await worker.call(probe_with_peak, (str(path),), PROBE_LIMITS)
                for name, path in files.items()
            }
        started = time.perf_counter()
        converted = await inspect_audio_async(
            shutil.copy(ac3, tmp / "upload.ac3"), max_bytes=1024 * MB, worker=worker
        )
        convert_s = time.perf_counter() - started

    worst = max(median for median, _, _ in results.values())
    measured = "; ".join(
        f"{name} ({what}) median {median:.0f} ms, max {most:.0f} ms"
        for name, (median, most, what) in results.items()
    )
    memory = (
        f"bot process peak growth {parent_growth:.1f} MB; worker child peak RSS "
        + ", ".join(f"{name} {peak / MB:.0f} MB" for name, peak in peaks.items())
        + f" (a child that probes nothing: {baseline / MB:.0f} MB, mostly PyAV shared with "
        "the forkserver)"
    )
    return [
        Row(
            "7. Inspecting a 25 MB upload (worker, warm)",
            measured,
            f"< {GOAL_MS} ms",
            "-",
            f"inspect_audio_async through the MediaWorker (one forked child per file, "
            f"RLIMIT_CPU {PROBE_LIMITS.cpu_seconds} s, RLIMIT_AS +"
            f"{PROBE_LIMITS.memory_bytes // MB} MB), median of {RUNS}; MP3s are 20 s of "
            "LAME frames repeated to 25 MB (bench/inspection.py)",
            met=worst < GOAL_MS,
        ),
        Row("7b. Inspection memory", memory, "bounded", "-", "", met=None),
        Row(
            "7c. Converting to FLAC",
            f"{ac3.stat().st_size / MB:.0f} MB AC3 ({converted.duration / 60:.0f} min) to a "
            f"{converted.size / MB:.0f} MB FLAC in {convert_s:.1f} s",
            f"< {CONVERT_LIMITS.wall_seconds:.0f} s (the worker's bound)",
            "-",
            "",
            met=convert_s < CONVERT_LIMITS.wall_seconds,
        ),
    ]
