"""Figure 2: bot memory while 4 users each send a 25 MB attachment at once.

The whole path runs: the command (the bot starts downloading the attachment from the Discord
stand-in's CDN), the lyrics modal, the content check, the queue, and the multipart upload to
the MusicGPT stand-in (MUSICGPT_MAX_PARALLEL=4, so all four go out together). Measured from
outside the bot process: after a warm-up request, VmHWM is reset (`5` > /proc/<pid>/clear_refs)
and VmRSS read; once MusicGPT has received all four uploads, VmHWM minus that VmRSS is the
peak growth. VmRSS is also sampled every 5 ms as a cross-check.

Naive way, measured the same way: `bench.naive_forward`, a small script that reads each
attachment into memory and posts it from bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

from bench.common import (
    MB,
    MUSICGPT_KEY,
    Row,
    RssSampler,
    problems_note,
    reset_peak,
    sing,
    status_kb,
    wait_for,
    world,
)
from tests.standins.audio_gen import write_large_wav, write_sine_wav
from tests.standins.musicgpt import HOLD

USERS = 4
FILE_BYTES = 25 * MB
GOAL_BYTES = 10 * MB


def _growth(pid: int, baseline_kb: int, sampler: RssSampler) -> tuple[int, int]:
    hwm = status_kb(pid, "VmHWM")
    return (hwm - baseline_kb) * 1024, (sampler.peak_kb - baseline_kb) * 1024


async def run_real(tmp: Path, big: Path, small: Path) -> dict:
    async with world(
        tmp,
        users=USERS + 1,
        webhooks=False,
        mg_options={"delay": HOLD},
        MUSICGPT_MAX_PARALLEL=str(USERS + 1),
    ) as (w, _):
        pid = w.bot.pid
        warm, *users = w.users
        await sing(w, warm, w.dc.add_attachment("warm.wav", small))
        await wait_for(lambda: any(s.status == 200 for s in w.mg.submits), 30, "the warm-up")
        await asyncio.sleep(0.5)
        attachments = [w.dc.add_attachment(f"big-{n}.wav", big) for n in range(USERS)]
        exact = reset_peak(pid)
        baseline = status_kb(pid, "VmRSS")
        with RssSampler(pid) as sampler:
            await asyncio.gather(*(sing(w, u, a) for u, a in zip(users, attachments, strict=True)))
            await wait_for(
                lambda: sum(1 for s in w.mg.submits if s.status == 200) == USERS + 1,
                120,
                "four uploads at MusicGPT",
            )
            hwm, sampled = _growth(pid, baseline, sampler)
        sizes = [s.upload.size for s in w.mg.submits[1:] if s.upload is not None]
        assert sizes == [FILE_BYTES] * USERS, sizes
        return {
            "hwm": hwm,
            "sampled": sampled,
            "exact": exact,
            "baseline": baseline,
            "problems": w.problems,
        }


async def run_naive(tmp: Path, big: Path, small: Path) -> dict:
    async with world(tmp, users=1, webhooks=False, start=False, mg_options={"delay": HOLD}) as (
        w,
        _,
    ):
        mg = w.mg
        urls = [w.dc.add_attachment(f"big-{n}.wav", big)["url"] for n in range(USERS)]
        warm = w.dc.add_attachment("warm.wav", small)["url"]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.naive_forward",
            mg.base_url,
            MUSICGPT_KEY,
            warm,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            ready = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert ready.strip() == b"ready", ready
            await asyncio.sleep(0.5)
            exact = reset_peak(proc.pid)
            baseline = status_kb(proc.pid, "VmRSS")
            with RssSampler(proc.pid) as sampler:
                proc.stdin.write((" ".join(urls) + "\n").encode())
                await proc.stdin.drain()
                done = await asyncio.wait_for(proc.stdout.readline(), 120)
                hwm, sampled = _growth(proc.pid, baseline, sampler)
            assert done.strip() == f"done {USERS}".encode(), done
            return {"hwm": hwm, "sampled": sampled, "exact": exact, "baseline": baseline}
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


async def measure(tmp: Path) -> list[Row]:
    big = write_large_wav(tmp / "instrumental.wav", FILE_BYTES)
    small = write_sine_wav(tmp / "warm.wav", seconds=0.5)
    (tmp / "real").mkdir()
    (tmp / "naive").mkdir()
    real = await run_real(tmp / "real", big, small)
    naive = await run_naive(tmp / "naive", big, small)

    def describe(r: dict) -> str:
        note = "" if r["exact"] else " (VmHWM not resettable: lower bound)"
        return f"{r['hwm'] / MB:.1f} MB (5 ms VmRSS samples: {r['sampled'] / MB:.1f} MB){note}"

    return [
        Row(
            f"2. Forwarding memory ({USERS} x {FILE_BYTES // MB} MB at once)",
            describe(real),
            f"< {GOAL_BYTES // MB} MB in all",
            f"{describe(naive)} (file read into bytes)",
            "bot process VmHWM after the 4 uploads reached MusicGPT minus VmRSS before "
            "(peak reset via /proc/<pid>/clear_refs after a warm-up request)"
            + problems_note(real["problems"]),
            met=real["hwm"] < GOAL_BYTES,
        )
    ]


if __name__ == "__main__":
    import tempfile

    async def _main() -> None:
        with tempfile.TemporaryDirectory(prefix="bench-forwarding-") as tmp:
            for row in await measure(Path(tmp)):
                print(f"{row.figure}: {row.measured} | naive {row.naive}")

    asyncio.run(_main())
