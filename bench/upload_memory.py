"""How much memory does MusicGPTClient need to upload a 25 MB instrumental?

The client must stream uploads from disk; reading the file whole would cost 25 MB or more per
concurrent submit. This benchmark starts the MusicGPT stand-in in a subprocess (so its own
buffers don't count), uploads a 25 MB WAV through `MusicGPTClient.submit_sing`, and reports
the client process's peak memory growth during the upload, two ways:

- RSS: the kernel's peak resident set (VmHWM in /proc/self/status), reset just before the
  upload through /proc/self/clear_refs so the figure is the upload's own peak;
- Python: tracemalloc's peak of Python allocations (a second upload, since tracing itself
  costs memory and would inflate the RSS figure).

Goal: both under 5 MB. Exit status 1 if the goal is missed.

    .venv/bin/python -m bench.upload_memory
"""

from __future__ import annotations

import asyncio
import gc
import re
import signal
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from bot.core.models import AudioSource
from bot.core.musicgpt.client import MusicGPTClient
from tests.standins.audio_gen import write_large_wav, write_sine_wav

MB = 1024 * 1024
UPLOAD_BYTES = 25 * MB
GOAL_BYTES = 5 * MB
API_KEY = "bench-key"


def read_status_kb(field: str) -> int | None:
    """A `kB` field of /proc/self/status (VmRSS, VmHWM), or None off Linux."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def reset_peak_rss() -> bool:
    """Make VmHWM start again from the current RSS (Linux ≥ 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def start_standin() -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.standins.musicgpt",
        "--api-key",
        API_KEY,
        "--delay",
        "0.1",
        "--no-webhooks",
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    match = re.search(r"(http://\S+)", line)
    if match is None:
        process.terminate()
        raise RuntimeError(f"stand-in did not print its base URL: {line!r}")
    return process, match.group(1)


async def stop_standin(process: asyncio.subprocess.Process) -> None:
    """SIGINT, so the stand-in shuts down cleanly and removes its temporary files."""
    if process.returncode is None:
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def measure_rss(upload: Callable[[], Awaitable[object]]) -> tuple[int | None, bool]:
    """Peak RSS growth (bytes) during `upload`, and whether the peak could be reset."""
    gc.collect()
    exact = reset_peak_rss()
    before = read_status_kb("VmRSS" if exact else "VmHWM")
    await upload()
    after = read_status_kb("VmHWM")
    if before is None or after is None:
        return None, exact
    return max(0, after - before) * 1024, exact


async def measure_python(upload: Callable[[], Awaitable[object]]) -> int:
    """Peak growth (bytes) of Python allocations during `upload`."""
    gc.collect()
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        await upload()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - baseline


async def upload_figures() -> dict[str, float | int | bool | None]:
    """Upload 25 MB through the client; its peak RSS and Python allocation growth."""
    with tempfile.TemporaryDirectory(prefix="upload-bench-") as tmp:
        big = write_large_wav(Path(tmp) / "instrumental.wav", UPLOAD_BYTES)
        small = write_sine_wav(Path(tmp) / "warmup.wav", seconds=0.5)
        process, base_url = await start_standin()
        try:
            async with aiohttp.ClientSession() as session:
                client = MusicGPTClient(session, base_url, API_KEY)

                async def submit(path: Path) -> object:
                    return await client.submit_sing(
                        prompt="Benchmark vocals",
                        lyrics="la la la",
                        gender=None,
                        audio=AudioSource(path=str(path)),
                        webhook_url=None,
                    )

                # Warm up: imports, the connection pool and aiohttp's file-reading threads.
                await submit(small)
                started = time.perf_counter()
                rss_growth, exact = await measure_rss(lambda: submit(big))
                elapsed = time.perf_counter() - started
                python_growth = await measure_python(lambda: submit(big))
        finally:
            await stop_standin(process)
    return {"rss": rss_growth, "exact": exact, "python": python_growth, "seconds": elapsed}


async def run() -> bool:
    figures = await upload_figures()
    rss_growth, python_growth = figures["rss"], int(figures["python"] or 0)
    size_mb = UPLOAD_BYTES / MB
    print(f"Uploaded {size_mb:.0f} MB via MusicGPTClient.submit_sing in {figures['seconds']:.2f} s")
    print(f"  goal: peak memory growth < {GOAL_BYTES / MB:.0f} MB")
    ok = python_growth < GOAL_BYTES
    print(f"  Python allocations (tracemalloc peak): {python_growth / MB:6.2f} MB")
    if rss_growth is None:
        print("  RSS peak: not available (no /proc/self/status)")
    else:
        note = "" if figures["exact"] else " (VmHWM could not be reset: a lower bound)"
        print(f"  RSS peak growth (VmHWM):               {rss_growth / MB:6.2f} MB{note}")
        ok = ok and rss_growth < GOAL_BYTES
    print(f"  {'PASS' if ok else 'FAIL'}: {size_mb:.0f} MB upload vs {GOAL_BYTES / MB:.0f} MB goal")
    return ok


async def measure(tmp: Path | None = None) -> list:
    """The figure as a row of `python -m bench`'s table."""
    from bench.common import Row

    figures = await upload_figures()
    rss, python = figures["rss"], int(figures["python"] or 0)
    rss_text = "n/a" if rss is None else f"{rss / MB:.1f} MB RSS"
    if rss is not None and not figures["exact"]:
        rss_text += " (lower bound)"
    return [
        Row(
            "6. Client upload memory (one 25 MB submit)",
            f"{rss_text}, {python / MB:.2f} MB Python allocations",
            f"< {GOAL_BYTES / MB:.0f} MB",
            "- (figure 2 measures the naive way end to end)",
            "MusicGPTClient.submit_sing in this process against the stand-in in a subprocess; "
            "VmHWM growth (reset via /proc/self/clear_refs), then tracemalloc peak on a second "
            "upload (bench/upload_memory.py)",
            met=python < GOAL_BYTES and (rss is None or rss < GOAL_BYTES),
        )
    ]


def main() -> None:
    sys.exit(0 if asyncio.run(run()) else 1)


if __name__ == "__main__":
    main()
