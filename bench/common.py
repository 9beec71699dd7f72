"""What the figures share beyond tests/support: timing hooks, /proc readings, stats.

The world (stand-ins, the real `python -m bot`, its environment) is the end-to-end tests' own,
`tests.support.world`; `world()` here adds the benchmark's hooks to both stand-ins, which
record *when* things happen on one clock (`time.monotonic()`, the clock the MusicGPT stand-in
already uses):

* `Timing.hits`: each HTTP request to the Discord stand-in, from when it *starts* (headers in,
  before the body is read: the recorded `RecordedRequest.timestamp` is taken after the body,
  so it includes uploads) to when it was answered; `Timing.sent_at`: when each interaction
  went out on the gateway (the stand-in's `on_interaction_sent`);
* `Timing.file_times`: the start and end of each output download from the MusicGPT stand-in
  (its `on_file_sent`).

The stand-ins' OpenAPI checks are off (the suite makes them; here they would only cost CPU in
the process that also plays both services, and delay what the bot is timed on), the bot logs
at INFO (the suite's DEBUG logs every Discord request), and MusicGPT's outputs are 48 cached
tones instead of one freshly computed per output (~10 ms of this process's CPU per task).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import re
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.typedefs import Handler

from bot.core.models import Task
from bot.core.store import Store
from bot.core.store.rows import fetch_tasks
from tests.standins.audio_gen import sine_wav_bytes
from tests.standins.discord import RECORD, InteractionHandle, RecordedRequest, UserSpec
from tests.standins.musicgpt import StandInTask
from tests.support import world as support
from tests.support.postgres import admin_url, fresh_database
from tests.support.world import World

MUSICGPT_KEY = "bench-musicgpt-key"
MB = 1024 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# --- timing hooks --------------------------------------------------------------------------


@dataclass
class Hit:
    """One HTTP request the Discord stand-in received, on the monotonic clock."""

    method: str
    path: str
    start: float
    end: float | None = None
    record: RecordedRequest | None = None


class Timing:
    """The benchmark's hooks into both stand-ins, and what they recorded."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.sent_at: dict[int, float] = {}  # interaction id -> when dispatched
        self.gateway_connects: list[float] = []  # when a gateway connection was opened
        self.file_times: list[tuple[str, float, float]] = []  # MusicGPT output downloads

    @web.middleware
    async def discord_middleware(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        if request.path == "/gateway":
            self.gateway_connects.append(time.monotonic())
            return await handler(request)
        hit = Hit(request.method, request.path, time.monotonic())
        self.hits.append(hit)
        try:
            return await handler(request)
        finally:
            hit.end = time.monotonic()
            hit.record = request.get(RECORD)

    def interaction_sent(self, interaction_id: int) -> None:
        self.sent_at[interaction_id] = time.monotonic()

    def _file_done(self, name: str, start: float, end: float) -> None:
        self.file_times.append((name, start, end))

    def discord_options(self) -> dict[str, Any]:
        return {
            "middlewares": [self.discord_middleware],
            "on_interaction_sent": self.interaction_sent,
            "validate_openapi": False,
        }

    def musicgpt_options(self) -> dict[str, Any]:
        return {
            "on_file_sent": self._file_done,
            "validate": False,
            "outputs": cached_tones(),
        }

    def callback_start(self, interaction_id: int) -> float | None:
        """When the bot's first callback to this interaction reached the stand-in."""
        pattern = re.compile(rf"/interactions/{interaction_id}/[^/]+/callback$")
        return next((h.start for h in self.hits if pattern.search(h.path)), None)


@functools.cache
def _tone(step: int, seconds: float) -> bytes:
    return sine_wav_bytes(seconds=seconds, frequency=220.0 * 2 ** (step / 12))


def cached_tones(seconds: float = 2.0) -> Callable[[StandInTask], list[bytes]]:
    """An `outputs=` factory for the MusicGPT stand-in: 48 tones a semitone apart, made once."""
    steps = itertools.count()
    return lambda task: [_tone(next(steps) % 48, seconds) for _ in task.conversion_ids]


@contextlib.asynccontextmanager
async def world(
    tmp: Path,
    *,
    users: int,
    webhooks: bool,
    mg_options: dict[str, Any] | None = None,
    start: bool = True,
    env: Mapping[str, str] | None = None,
    **variables: str,
) -> AsyncIterator[tuple[World, Timing]]:
    """The real bot between the two stand-ins, with `users` members in one guild, and the
    timing hooks; `env` and `variables` are the bot's environment variables. On failure the
    bot's log tail goes to stderr."""
    timing = Timing()
    mg = {
        "api_key": MUSICGPT_KEY,
        "eta": None,
        **timing.musicgpt_options(),
        **(mg_options or {}),
    }
    async with support.world(
        tmp,
        users=[f"user-{n}" for n in range(users)],
        webhooks=webhooks,
        mg_options=mg,
        dc_options=timing.discord_options(),
        start=False,
        log_level="INFO",
        **(env or {}),
        **variables,
    ) as w:
        try:
            if start:
                await w.start_bot(timeout=30)
            yield w, timing
        except BaseException:
            print(f"--- bot log (tail):\n{w.bot.log_text(4000)}", file=sys.stderr)
            raise


async def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.01) -> Any:
    """`check()` once truthy, re-checked every `every` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(every)


async def sing(
    w: World,
    user: UserSpec,
    attachment: dict[str, Any],
    lyrics: str = "la la la",
    typing: float = 1.0,
    channel_id: int | None = None,
) -> tuple[InteractionHandle, InteractionHandle]:
    """One user's /sing (in `channel_id`, else the first server's first channel): the
    command, the lyrics modal, its submit.

    The bot's first answer to the submit must be a deferral (type 5). When it is anything
    else the request was lost (noted in `w.problems`), and the user tries again.
    """
    for _ in range(3):
        ix = await w.dc.invoke_command(
            "sing",
            {"prompt": "warm soul vocal", "audio": attachment},
            user_id=user.id,
            channel_id=channel_id,
        )
        callback = await ix.wait_callback(timeout=30)
        if callback.type != 9:
            raise RuntimeError(
                f"expected the lyrics modal, got {callback}:\n{w.bot.log_text(4000)}"
            )
        # A person takes seconds to type lyrics. Submitting within milliseconds can beat the
        # bot's own bookkeeping of the modal it just opened (discord.py registers it only
        # once Discord answered the callback), which no user can do.
        await asyncio.sleep(typing)
        submit = await ix.submit_modal({"Lyrics": lyrics}, user_id=user.id, timeout=30)
        try:
            first = await submit.wait_callback(timeout=15)
        except TimeoutError:
            w.problems.append(f"no answer to lyrics submit {submit.id} within 15 s")
            continue
        if first.type == 5:
            return ix, submit
        w.problems.append(f"lyrics submit {submit.id} answered with type {first.type}")
    raise RuntimeError(f"three lyrics submits in a row were lost:\n{w.bot.log_text(4000)}")


# --- the bot's database ------------------------------------------------------------------

TaskReader = Callable[[], Awaitable[list[Task]]]


@contextlib.asynccontextmanager
async def task_reader(database: Path | str) -> AsyncIterator[TaskReader]:
    """Reads of the bot's tasks through one store held open for the whole run. The suite's
    `tests.support.state` opens a connection per read: on PostgreSQL a server backend each
    time, CPU taken from the processes being timed."""
    async with Store.open(database, migrate=False) as store:

        async def read() -> list[Task]:
            return await fetch_tasks(store._db, "t.id > $1 ORDER BY t.id", (0,))

        yield read


async def wait_tasks(
    read: TaskReader, check: Callable[[list[Task]], bool], timeout: float, what: str
) -> list[Task]:
    """The tasks once `check(tasks)` holds, read every 20 ms."""
    deadline = time.monotonic() + timeout
    while True:
        tasks = await read()
        if check(tasks):
            return tasks
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def postgres_database(template: str | None = None) -> AsyncIterator[str]:
    """A new PostgreSQL database on the tests' server (tests/support/postgres.py), a copy of
    the database named `template` if given, dropped afterwards; its URL."""
    async with fresh_database(admin_url(), template) as url:
        yield url


class Backends:
    """CPU of PostgreSQL's server processes serving one database (`pg_stat_activity`,
    /proc/<pid>/stat): the database's share of the work, which the bot's own CPU leaves out.
    Without a URL (SQLite) every reading is empty."""

    def __init__(self, url: str | None) -> None:
        self.url = url

    async def cpu(self) -> dict[int, float]:
        if not self.url:
            return {}
        connection = await asyncpg.connect(self.url)
        try:
            rows = await connection.fetch(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await connection.close()
        found = {}
        for row in rows:
            with contextlib.suppress(OSError):
                found[row["pid"]] = cpu_seconds(row["pid"])
        return found

    @staticmethod
    def spent(before: dict[int, float], after: dict[int, float]) -> float:
        """CPU seconds between two readings; a backend born in between counts in full."""
        return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


# --- /proc readings ----------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and all its descendants: each one's utime + stime, plus cutime +
    cstime, what its children that have exited and were waited for used (the bot's media
    checks run in short-lived children of its forkserver, which `cpu_seconds` leaves out)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = text[text.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = sum(int(f) for f in fields[11:15]) / CLK_TCK
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, of in parents.items() if of == parent]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(member, 0.0) for member in tree)


def status_kb(pid: int, name: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{name}:\s+(\d+) kB", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no {name} in /proc/{pid}/status")
    return int(match.group(1))


def reset_peak(pid: int) -> bool:
    """Make VmHWM start again from the current RSS (Linux >= 4.0)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class RssSampler:
    """VmRSS of a process every `every` seconds, as a cross-check of VmHWM."""

    def __init__(self, pid: int, every: float = 0.005) -> None:
        self.pid = pid
        self.every = every
        self.peak_kb = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(OSError, RuntimeError):
                self.peak_kb = max(self.peak_kb, status_kb(self.pid, "VmRSS"))
            await asyncio.sleep(self.every)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


async def wait_cpu_idle(pid: int, *, quiet: float = 0.3, timeout: float = 30) -> float:
    """Until the process used under 2 % CPU for `quiet` seconds; its CPU seconds then."""
    deadline = time.monotonic() + timeout
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet)
        now = cpu_seconds(pid)
        if now - last <= 0.02 * quiet + 1 / CLK_TCK:
            return now
        last = now
    return cpu_seconds(pid)


# --- numbers -----------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def spread(values: Sequence[float], *, unit: Callable[[float], str] = ms) -> str:
    """p50 / p99 / max of latencies."""
    if not values:
        return "n/a"
    return (
        f"p50 {unit(statistics.median(values))}, p99 {unit(percentile(values, 99))}, "
        f"max {unit(max(values))}"
    )


def problems_note(problems: Sequence[str]) -> str:
    """Text for a row's "how" when some lyrics submits had to be repeated."""
    if not problems:
        return ""
    return f"; {len(problems)} lyrics submit(s) repeated ({problems[0]})"


@dataclass
class Row:
    """One line of the table."""

    figure: str
    measured: str
    goal: str
    naive: str
    how: str
    met: bool | None = None  # None: no goal
