"""Shared pieces of the benchmark: timed stand-ins, the bot process, /proc readings, stats.

The stand-ins are the test suite's own (tests/standins), subclassed here only to record *when*
things happen on one clock (`time.monotonic()`, the clock the MusicGPT stand-in already uses):

* `TimedDiscord` notes when each HTTP request *starts* (headers in, before the body is read:
  the recorded `RecordedRequest.timestamp` is taken after the body, so it includes uploads)
  and when each interaction was sent over the gateway;
* `TimedMusicGPT` notes the start and end of each output download and can give every task
  its own `eta`.

`Bot` runs the real `python -m bot` configured only by environment variables, like the
end-to-end harness, with its output in a log file and its pid at hand for /proc readings.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import shutil
import signal
import sqlite3
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.standins.audio_gen import sine_wav_bytes
from tests.standins.discord import (
    ChannelSpec,
    DiscordStandIn,
    GuildSpec,
    InteractionHandle,
    RecordedRequest,
    UserSpec,
)
from tests.standins.discord_rest import RECORD
from tests.standins.musicgpt import MusicGPTStandIn, StandInOutput

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "audio"
MUSICGPT_KEY = "bench-musicgpt-key"
MB = 1024 * 1024
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# --- timed stand-ins ---------------------------------------------------------------------


@dataclass
class Hit:
    """One HTTP request the Discord stand-in received, on the monotonic clock."""

    method: str
    path: str
    start: float
    end: float | None = None
    record: RecordedRequest | None = None


class TimedDiscord(DiscordStandIn):
    """The Discord stand-in, also noting request start times and interaction send times."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("validate_openapi", False)  # checked by the suite, not timed here
        super().__init__(*args, **kwargs)
        self.hits: list[Hit] = []
        self.sent_at: dict[int, float] = {}  # interaction id -> when dispatched
        self.gateway_connects: list[float] = []  # when a gateway connection was opened

    async def start(self) -> TimedDiscord:
        # As DiscordStandIn.start, with a timing middleware in front of the stand-in's own.
        app = web.Application(
            client_max_size=1024**3, middlewares=[self._timing, self.rest.middleware]
        )
        self.rest.add_routes(app)
        app.router.add_get("/gateway", self.gateway.handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
        return self

    @web.middleware
    async def _timing(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/gateway":
            self.gateway_connects.append(time.monotonic())
            return await handler(request)
        hit = Hit(request.method, request.path, time.monotonic())
        self.hits.append(hit)
        try:
            return await handler(request)
        finally:
            hit.end = time.monotonic()
            hit.record = request.get(RECORD)  # type: ignore[assignment]

    async def _dispatch_interaction(self, rec: Any, timeout: float) -> InteractionHandle:
        await self.wait_ready(timeout)
        self.sent_at[rec.id] = time.monotonic()
        return await super()._dispatch_interaction(rec, timeout)

    def callback_start(self, interaction_id: int) -> float | None:
        """When the bot's first callback to this interaction reached the stand-in."""
        pattern = re.compile(rf"/interactions/{interaction_id}/[^/]+/callback$")
        return next((h.start for h in self.hits if pattern.search(h.path)), None)


class _NoValidation:
    """The suite checks requests against the OpenAPI spec; here it would only cost CPU in the
    process that also plays Discord, and delay what the bot is timed on."""

    def check_submit(self, *args: Any) -> None:
        return None

    def check_by_id(self, *args: Any) -> None:
        return None


@functools.cache
def _tone(step: int, seconds: float) -> bytes:
    return sine_wav_bytes(seconds=seconds, frequency=220.0 * 2 ** (step / 12))


class TimedMusicGPT(MusicGPTStandIn):
    """The MusicGPT stand-in, timing output downloads, with cheaper outputs and no spec checks.

    `eta_of` (StandInTask -> seconds) overrides the eta a submit is answered with. Outputs are
    48 cached tones instead of one freshly computed per output (computing them takes ~10 ms of
    this process's CPU per task, which would slow the stand-ins, not the bot).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._validator = _NoValidation()  # type: ignore[assignment]
        self.file_times: list[tuple[str, float, float]] = []  # (name, start, end)
        self.eta_of: Callable[[Any], int] | None = None  # StandInTask -> eta seconds

    async def stop(self) -> None:
        # A task finishing as we stop may still be writing its outputs in a thread; don't let
        # that make the temporary directory's removal fail.
        self._stopping = True
        try:
            await super().stop()
        except OSError:
            if self._tmp is not None:
                shutil.rmtree(self._tmp.name, ignore_errors=True)
                self._tmp = None

    def _make_outputs(self, task: Any) -> list[StandInOutput]:
        if getattr(self, "_stopping", False):
            return []
        outputs = []
        for n, conversion_id in enumerate(task.conversion_ids, start=1):
            name = f"{conversion_id}.wav"
            data = _tone(next(self._tone_counter) % 48, self.output_seconds)
            (self._files_dir / name).write_bytes(data)
            title = f"Stand-in {task.kind.value} {n}"
            outputs.append(StandInOutput(conversion_id, name, self.output_seconds, title))
        return outputs

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        """As the stand-in's, but sent from memory here, so the end of the transfer is known."""
        start = time.monotonic()
        name = request.match_info["name"]
        path = self._files_dir / name
        if not re.fullmatch(r"[\w.-]+", name) or not path.is_file():
            return await super()._handle_file(request)
        self.file_requests.append(name)
        response = web.Response(body=path.read_bytes(), content_type="audio/wav")
        await response.prepare(request)
        await response.write_eof()
        self.file_times.append((name, start, time.monotonic()))
        return response

    def _receipt(self, task: Any) -> dict[str, Any]:
        answer = super()._receipt(task)
        if self.eta_of is not None:
            answer["eta"] = self.eta_of(task)
        return answer


# --- the bot process ---------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_env(
    dc: DiscordStandIn,
    mg: MusicGPTStandIn | None,
    tmp: Path,
    port: int,
    *,
    webhooks: bool,
    mg_base: str | None = None,
    **overrides: str,
) -> dict[str, str]:
    """What an operator would put in .env, pointing at the stand-ins. LOG_LEVEL=INFO: the
    suite runs at DEBUG, which logs every Discord request and costs CPU we'd be measuring."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "DISCORD_TOKEN": dc.token,
        "MUSICGPT_API_KEY": MUSICGPT_KEY,
        "MUSICGPT_API_BASE": mg_base or (mg.base_url if mg else "http://127.0.0.1:9/api/public"),
        "DISCORD_API_BASE": dc.api_base,
        "DISCORD_GATEWAY_URL": dc.gateway_url,
        "DEV_GUILD_ID": str(dc.guild_id),
        "DATABASE_PATH": str(tmp / "data" / "bot.sqlite3"),
        "WEBHOOK_HOST": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
        "LOG_LEVEL": "INFO",
    }
    if webhooks:
        env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    env.update(overrides)
    return {k: v for k, v in env.items() if v != ""}


class Bot:
    """A subprocess (`python -m bot` by default), output to a log file, pid for /proc."""

    def __init__(
        self, env: dict[str, str], cwd: Path, *, module: str = "bot", log: Path | None = None
    ) -> None:
        self.env = env
        self.cwd = cwd
        self.module = module
        self.log_path = log or cwd / f"{module.replace('.', '-')}.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.started_at = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.started_at = time.monotonic()
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                self.module,
                cwd=self.cwd,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def stop(self, timeout: float = 10) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


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


async def healthz(port: int, session: aiohttp.ClientSession) -> int | None:
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with session.get(
            f"http://127.0.0.1:{port}/healthz", timeout=aiohttp.ClientTimeout(total=2)
        ) as response:
            return response.status
    return None


async def wait_healthy(bot: Bot, port: int, timeout: float = 30) -> float:
    """Until the bot's /healthz answers 200; the monotonic time it did."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            if await healthz(port, session) == 200:
                return time.monotonic()
            if not bot.running:
                raise RuntimeError(f"the bot exited:\n{bot.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"/healthz never said 200:\n{bot.log_tail()}")
            await asyncio.sleep(0.01)


@dataclass
class World:
    dc: TimedDiscord
    mg: TimedMusicGPT
    tmp: Path
    env: dict[str, str]
    bot: Bot
    port: int
    users: list[UserSpec] = field(default_factory=list)
    # Lyrics submits whose first answer was not the deferral: lost to the bot (see README).
    lost_submits: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def database(self) -> Path:
        return Path(self.env["DATABASE_PATH"])

    def tasks(self) -> list[dict[str, Any]]:
        with contextlib.closing(sqlite3.connect(self.database, timeout=10)) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute("SELECT * FROM tasks ORDER BY id")]


@contextlib.asynccontextmanager
async def world(
    tmp: Path,
    *,
    users: int,
    webhooks: bool,
    mg_options: dict[str, Any] | None = None,
    start: bool = True,
    **env: str,
) -> AsyncIterator[World]:
    """The real bot between the two stand-ins, with `users` members in one guild."""
    port = free_port()
    specs = [UserSpec(f"user-{n}") for n in range(users)]
    options = {"api_key": MUSICGPT_KEY, "delay": 0.3, **(mg_options or {})}
    async with (
        TimedMusicGPT(**options) as mg,
        TimedDiscord(guilds=[GuildSpec(channels=[ChannelSpec()])], users=specs) as dc,
    ):
        the_env = bot_env(dc, mg, tmp, port, webhooks=webhooks, **env)
        the_world = World(dc, mg, tmp, the_env, Bot(the_env, tmp), port, specs)
        try:
            if start:
                await start_bot(the_world)
            yield the_world
        except BaseException:
            print(f"--- bot log (tail):\n{the_world.bot.log_tail()}", file=sys.stderr)
            raise
        finally:
            await the_world.bot.stop()


async def launch(w: World, *, timeout: float = 30) -> float:
    """Start `python -m bot`; the monotonic time its /healthz first said 200.

    The webhook port is picked free beforehand, so something else can take it in between;
    the bot then exits at once, and gets another port and another try.
    """
    for attempt in range(3):
        w.dc.command_syncs.clear()
        w.bot = Bot(w.env, w.tmp, log=w.bot.log_path)
        await w.bot.start()
        try:
            return await wait_healthy(w.bot, w.port, timeout=timeout)
        except RuntimeError as error:
            if "address already in use" not in str(error) or attempt == 2:
                raise
            w.port = free_port()
            w.env["WEBHOOK_PORT"] = str(w.port)
            if "PUBLIC_BASE_URL" in w.env:
                w.env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{w.port}"
    raise AssertionError("unreachable")


async def start_bot(w: World) -> None:
    await launch(w)
    await w.dc.wait_commands_synced(w.dc.guild_id, timeout=10)


async def sing(
    w: World,
    user: UserSpec,
    attachment: dict[str, Any],
    lyrics: str = "la la la",
    typing: float = 1.0,
) -> tuple[InteractionHandle, InteractionHandle]:
    """One user's /sing: the command, the lyrics modal, its submit.

    The bot's first answer to the submit must be a deferral (type 5). When it is anything
    else the request was lost (see `World.lost_submits`), and the user tries again.
    """
    for _ in range(3):
        ix = await w.dc.invoke_command(
            "sing", {"prompt": "warm soul vocal", "audio": attachment}, user_id=user.id
        )
        callback = await ix.wait_callback(timeout=30)
        if callback.type != 9:
            raise RuntimeError(f"expected the lyrics modal, got {callback}:\n{w.bot.log_tail()}")
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
        w.lost_submits += 1
    raise RuntimeError(f"three lyrics submits in a row were lost:\n{w.bot.log_tail()}")


# --- /proc readings ----------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


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


@dataclass
class Result:
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
