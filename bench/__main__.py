"""`python -m bench` (`make bench`): every figure of issue 5 in one table.

Each figure runs the real bot (`python -m bot`) against the local stand-ins, in a temporary
directory removed afterwards, under its own time limit; a figure that fails prints its error in
the table and the rest still run. This is a benchmark, not a test: it exits 0 when every figure
was measured, whether or not it met its goal (1 if a figure could not be measured).

    python -m bench                 # all figures, a Markdown table on stdout
    python -m bench --only 1,4      # some of them (1-11; 4pg, 5pg: on PostgreSQL)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import (
    ack,
    bookkeeping,
    claims,
    delivery,
    forwarding,
    inspection,
    on_postgres,
    polls,
    scale_out,
    upload_memory,
    votes,
    waveform,
)
from bench.common import Row

FIGURES: dict[str, tuple[str, Callable[[Path], Awaitable[list[Row]]], float]] = {
    "1": ("Acknowledgement latency", ack.measure, 300),
    "2": ("Forwarding memory", forwarding.measure, 300),
    "3": ("Polls per task", polls.measure, 300),
    "4": ("Completion to post", delivery.measure, 300),
    "5": ("Scale of bookkeeping", bookkeeping.measure, 400),
    "6": ("Client upload memory", upload_memory.measure, 120),
    "7": ("Inspecting a 25 MB upload", inspection.measure, 300),
    "8": ("Waveform picture of a 25 MB upload", waveform.measure, 300),
    "9": ("Vote clicks on one result", votes.measure, 200),
    "4pg": ("Completion to post on PostgreSQL", on_postgres.measure_delivery, 500),
    "5pg": ("Scale of bookkeeping on PostgreSQL", on_postgres.measure_bookkeeping, 500),
    "10": ("Three processes against one", scale_out.measure, 900),
    "11": ("Claims under contention", claims.measure, 300),
}


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpus} CPUs (nproc), {model}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, "
        f"{dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}"
    )


def load() -> str:
    with contextlib.suppress(OSError):
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return "n/a"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(rows: list[Row]) -> str:
    lines = [
        "| Figure | Measured | Goal | Met | Naive way, same run |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        met = {True: "yes", False: "**no**", None: "-"}[row.met]
        lines.append(
            f"| {cell(row.figure)} | {cell(row.measured)} | {cell(row.goal)} | {met} "
            f"| {cell(row.naive)} |"
        )
    return "\n".join(lines)


def how(rows: list[Row]) -> str:
    return "\n".join(f"- {cell(row.figure)}: {cell(row.how)}" for row in rows if row.how)


async def run(selected: list[str]) -> tuple[list[Row], bool]:
    rows: list[Row] = []
    ok = True
    for key in selected:
        name, measure, limit = FIGURES[key]
        started = time.monotonic()
        print(f"[bench] {key}. {name} ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix=f"bench-{key}-") as tmp:
            try:
                found = await asyncio.wait_for(measure(Path(tmp)), limit)
            except Exception as error:  # one figure failing must not hide the others
                traceback.print_exc(file=sys.stderr)
                found = [Row(f"{key}. {name}", f"not measured: {error!r}"[:300], "", "", "")]
                ok = False
        rows.extend(found)
        # Figures 1 and 2 write ~2 GB of attachments; flush it now, not in the next figure.
        await asyncio.to_thread(os.sync)
        print(
            f"[bench] {key}. done in {time.monotonic() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    return rows, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated figure numbers, e.g. 1,4")
    args = parser.parse_args(argv)
    selected = [f.strip() for f in args.only.split(",")] if args.only else list(FIGURES)
    unknown = [f for f in selected if f not in FIGURES]
    if unknown:
        parser.error(f"no figure {', '.join(unknown)}; figures are {', '.join(FIGURES)}")

    load_before = load()
    started = time.monotonic()
    rows, ok = asyncio.run(run(selected))
    minutes = (time.monotonic() - started) / 60
    print(f"Machine: {machine()}")
    print(
        f"Load average (1/5/15 min) before: {load_before}; after: {load()}; ran {minutes:.1f} min"
    )
    print()
    print(table(rows))
    print()
    print("How each figure was measured:")
    print()
    print(how(rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
