"""Running media work where a crafted file can't hurt the bot: one bounded process per job.

A file is parsed by FFmpeg in a short-lived child process with a CPU-time limit
(`RLIMIT_CPU`) and an address-space limit (`RLIMIT_AS`), killed if it outlives a wall-clock
bound. However much a parser is made to allocate, that memory dies with the child, and the
bot's own process only ever holds a small result read back over a pipe.

Children are forked from a forkserver that imported PyAV once (`set_forkserver_preload`), so
a job costs a fork, not an interpreter start and an import; the rlimits are set in the child
after the fork, so the CPU limit counts that one file only.

At most `slots` jobs run at once overall, and a member's jobs run one after another: a
member's second upload waits for their first to be checked (`turn`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.context
import multiprocessing.forkserver
import multiprocessing.popen_forkserver
import multiprocessing.process
import os
import resource
import signal
import traceback
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

log = logging.getLogger(__name__)

# What a child runs (this module's `_child`, the probe, the converter, the waveform drawer):
# imported once, in the forkserver, before it forks anything, so a child imports nothing
# (asyncio alone is ~50 ms).
PRELOAD: Final = [
    "bot.core.media.worker",
    "bot.core.media.inspect",
    "bot.core.media.probe",
    "bot.core.media.convert",
    "bot.core.media.waveform",  # the waveform pictures' job (decodes with PyAV, draws with Pillow)
]
SLOTS: Final = 2  # jobs at once, overall: the host has few cores, and the bot needs one


@dataclass(frozen=True, slots=True)
class Limits:
    cpu_seconds: int
    wall_seconds: float
    memory_bytes: int  # address space the job may add to what the forked child already maps
    file_bytes: int | None = None  # the largest file the job may write


FailureKind = Literal["cpu", "wall", "memory", "crash", "error"]
_FAILURES: Final = frozenset({"cpu", "wall", "memory", "crash", "error"})
_MAX_RESULT_BYTES: Final = 1024 * 1024  # a verdict is a few hundred bytes; a traceback, KBs
_T = TypeVar("_T")


class WorkerFailed(Exception):
    """The job didn't return: killed by a limit, crashed, or raised (`kind` says which)."""

    def __init__(self, kind: FailureKind, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


class MediaWorker:
    def __init__(self, *, slots: int = SLOTS) -> None:
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(PRELOAD)
        self._slots = asyncio.Semaphore(slots)
        # member id -> (their lock, how many of their jobs hold or wait for it)
        self._members: dict[int, tuple[asyncio.Lock, int]] = {}
        self._running: set[multiprocessing.process.BaseProcess] = set()
        self._reaping: set[asyncio.Future[None]] = set()  # referenced until done
        self._closed = False

    async def __aenter__(self) -> MediaWorker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Start the forkserver (it imports PyAV), off the event loop; later jobs only fork."""
        try:
            await asyncio.to_thread(multiprocessing.forkserver.ensure_running)
        except OSError:
            # Not fatal: the first job tries again, and says what went wrong if it can't.
            log.exception("could not start the media worker's forkserver")

    @contextlib.asynccontextmanager
    async def turn(self, member: int) -> AsyncIterator[None]:
        """Wait for the member's earlier jobs, then for a free slot; hold both inside."""
        lock, users = self._members.get(member, (asyncio.Lock(), 0))
        self._members[member] = (lock, users + 1)
        try:
            async with lock, self._slots:
                yield
        finally:
            lock, users = self._members[member]
            if users <= 1:
                del self._members[member]
            else:
                self._members[member] = (lock, users - 1)

    async def call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        limits: Limits,
        into: Callable[..., _T] | None = None,
    ) -> Any:
        """Run `fn(*args)` in a bounded child and return what it returned.

        The result comes back as JSON, never as a pickle: the child parses hostile input,
        and if a parser were ever exploited, a pickle would carry that into the bot. A
        dataclass result arrives as its fields, rebuilt here with `into(**fields)`; other
        results as plain JSON values. Call inside `turn()`. Raises WorkerFailed when the
        child doesn't return a result.
        """
        if self._closed:
            raise RuntimeError("the media worker is closed")
        reader, writer = self._ctx.Pipe(duplex=False)
        process = _Process(target=_child, args=(writer, fn, args, limits), daemon=True)
        try:
            await _start(process)
            self._running.add(process)
            writer.close()
            try:
                async with asyncio.timeout(limits.wall_seconds):
                    await _readable(reader.fileno())
                outcome = json.loads(reader.recv_bytes(_MAX_RESULT_BYTES))
            except TimeoutError:
                raise WorkerFailed("wall", f"over {limits.wall_seconds:g} s") from None
            except (ValueError, OSError) as error:  # not JSON, or longer than any verdict
                raise WorkerFailed("crash", f"unreadable result: {error}") from None
            except EOFError:
                # The child died without a word: SIGXCPU from RLIMIT_CPU, or killed.
                await _exited(process)
                code = process.exitcode
                if code == -signal.SIGXCPU or code == -signal.SIGKILL:
                    raise WorkerFailed("cpu", f"exit code {code}") from None
                raise WorkerFailed("crash", f"exit code {code}") from None
        finally:
            writer.close()
            reader.close()
            if process.pid is not None:
                # Shielded: a caller cancelled now (a replaced form) must not leave the child
                # unreaped or counted as running; the reaping goes on without it.
                reaping = asyncio.ensure_future(self._reap(process))
                self._reaping.add(reaping)
                reaping.add_done_callback(self._reaping.discard)
                await asyncio.shield(reaping)
        kind, value = outcome
        if kind != "ok":
            raise WorkerFailed(kind if kind in _FAILURES else "crash", str(value))
        return into(**value) if into is not None else value

    async def _reap(self, process: multiprocessing.process.BaseProcess) -> None:
        if process.is_alive():
            process.kill()
        await _exited(process)
        self._running.discard(process)
        process.close()

    async def close(self) -> None:
        """Kill the jobs still running (with the bot). The forkserver itself exits when the
        bot's process does: it watches a pipe from it."""
        self._closed = True
        for process in list(self._running):
            with contextlib.suppress(ValueError, OSError):
                process.kill()


class _Popen(multiprocessing.popen_forkserver.Popen):
    """The forkserver's Popen, minus re-running the bot's main module in every child.

    multiprocessing tells each child to import the parent's `__main__` first (for pickled
    functions defined there). Ours are all in `bot.core.media`, preloaded; `python -m bot` is
    skipped by that rule anyway, but a test runner or a script as main would be imported
    again for every file checked (pytest's: ~0.2 s). Same steps as the stdlib's `_launch`.
    """

    def _launch(self, process_obj: multiprocessing.process.BaseProcess) -> None:
        from multiprocessing import context, forkserver, reduction, spawn, util

        prep_data = spawn.get_preparation_data(process_obj.name)
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        buf = io.BytesIO()
        context.set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            context.set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)  # type: ignore[attr-defined]
        parent_w = os.dup(w)
        close_fds = util.close_fds  # type: ignore[attr-defined]
        self.finalizer = util.Finalize(self, close_fds, (parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _Process(multiprocessing.context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: multiprocessing.process.BaseProcess) -> _Popen:
        return _Popen(process_obj)


async def _start(process: multiprocessing.process.BaseProcess) -> None:
    """`process.start()` off the loop (it talks to the forkserver, and starts it the first
    time), finished even if the caller is cancelled meanwhile: until it returns, the thread
    is handing the pipe's descriptor to the forkserver, and closing the pipe under it would
    give the child a dead descriptor, or worse, a reused number that is someone else's."""
    starting = asyncio.ensure_future(asyncio.to_thread(process.start))
    cancelled = False
    while not starting.done():
        try:
            await asyncio.shield(starting)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    starting.result()


async def _readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


async def _exited(process: multiprocessing.process.BaseProcess) -> None:
    """Wait for the child's exit without blocking the loop (its sentinel becomes readable)."""
    if process.pid is None:
        return
    with contextlib.suppress(ValueError, OSError):
        await _readable(process.sentinel)
    process.join(0)


# --------------------------------------------------------------------------------------------
# In the child


def _child(
    conn: multiprocessing.connection.Connection,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    limits: Limits,
) -> None:
    try:
        _limit(limits)
        result = fn(*args)
        if dataclasses.is_dataclass(result) and not isinstance(result, type):
            result = dataclasses.asdict(result)
        message = json.dumps(["ok", result])
    except MemoryError:
        message = json.dumps(["memory", ""])
    except BaseException:  # a bug in our own code: the parent logs it
        message = json.dumps(["error", traceback.format_exc(limit=-8)])
    try:
        conn.send_bytes(message.encode())
    finally:
        conn.close()


def _limit(limits: Limits) -> None:
    # The soft CPU limit sends SIGXCPU (which kills); the hard one a second later, SIGKILL.
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    mapped = _mapped_bytes()
    budget = mapped + limits.memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (budget, budget))
    if limits.file_bytes is not None:
        # Writing past it fails with EFBIG instead of killing the child with SIGXFSZ.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))


def _mapped_bytes() -> int:
    """The child's address space now (VmSize): PyAV's libraries are already mapped."""
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmSize:"):
                return int(line.split()[1]) * 1024
    return 0
