"""Issue 9, "Parser exhaustion": files that cost the old parser gigabytes and tens of seconds.

Each must be refused or accepted within 2 s, while the calling process (the bot's, here the
test's) grows by less than 20 MB and its event loop keeps answering. Both bounds are the
issue's own.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.core.errors import AudioRejected
from bot.core.media.inspect import AudioInfo, inspect_audio_async
from bot.core.media.worker import MediaWorker
from tests.support.media import Fixtures, junk_wav, padded_flac, stuffed_moov

MIB = 1024 * 1024
LIMIT = 25 * MIB


def rss() -> int:
    """This process's resident memory now, in bytes (VmRSS)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


CRAFTED: dict[str, tuple[str, Callable[[bytes, int], bytes], int]] = {
    # ~3.25 million empty JUNK chunks (the old check: 32 s, +924 MB)
    "junk.wav": ("s16.wav", junk_wav, 25 * MIB),
    # ~6 million empty PADDING blocks (34 s, +660 MB)
    "padding.flac": ("flac", padded_flac, 25 * MIB - 8),
    # a moov of ~2 million empty child boxes (8 s, +510 MB)
    "stuffed.m4a": ("faststart.m4a", stuffed_moov, 17 * MIB),
}


@pytest.fixture
def crafted(media: Fixtures, tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for name, (seed, craft, size) in CRAFTED.items():
        path = tmp_path / name
        path.write_bytes(craft(media.bytes(seed), size))
        assert size - 16 <= path.stat().st_size <= 25 * MIB
        paths[name] = path
    return paths


async def test_crafted_files_cost_the_bot_nothing(
    worker: MediaWorker, crafted: dict[str, Path], media: Fixtures, tmp_path: Path
) -> None:
    # Warm up: the first check starts the forkserver, and the first use of everything here
    # allocates what every later check reuses.
    await inspect_audio_async(
        shutil.copy(media("mp3"), tmp_path / "warm.mp3"), max_bytes=LIMIT, worker=worker
    )
    before = rss()
    lag = 0.0
    stop = asyncio.Event()

    async def ticker() -> None:
        # How late the event loop answers while the checks run ("other commands").
        nonlocal lag
        while not stop.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            lag = max(lag, time.perf_counter() - start - 0.01)

    ticking = asyncio.create_task(ticker())
    verdicts: dict[str, str] = {}
    for member, (name, path) in enumerate(crafted.items()):
        start = time.perf_counter()
        try:
            info = await inspect_audio_async(path, max_bytes=LIMIT, member=member, worker=worker)
        except AudioRejected as refused:
            verdicts[name] = refused.user_message
        else:
            assert isinstance(info, AudioInfo)
            verdicts[name] = f"accepted, {info.duration:.1f} s"
        took = time.perf_counter() - start
        assert took < 2.0, (name, took)
    stop.set()
    await ticking
    grew = rss() - before
    assert grew < 20 * MIB, grew
    assert lag < 0.5, lag
    # What each got: no generation spent on 3 million JUNK chunks or 2 million boxes.
    assert "padded with thousands of empty chunks" in verdicts["junk.wav"]
    assert "stuffed with thousands of empty boxes" in verdicts["stuffed.m4a"]
    # Padding blocks are legal and FFmpeg skips them fast: the song behind them is accepted.
    assert verdicts["padding.flac"] == "accepted, 2.5 s"


async def test_crafted_files_in_parallel_stay_bounded(
    worker: MediaWorker, crafted: dict[str, Path]
) -> None:
    # Six at once from six members (the issue: "six such files at once can exhaust a small
    # host"): two run at a time, and all are answered.
    before = rss()
    paths = [*crafted.values(), *crafted.values()]

    async def one(member: int, path: Path) -> str:
        try:
            await inspect_audio_async(path, max_bytes=LIMIT, member=member, worker=worker)
        except AudioRejected as refused:
            return refused.user_message
        return "accepted"

    results = await asyncio.gather(*(one(m, p) for m, p in enumerate(paths)))
    assert len(results) == 6 and results.count("accepted") == 2
    assert rss() - before < 20 * MIB
