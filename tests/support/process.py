"""The real bot as a subprocess: `python -m bot`, configured only by its environment."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (something else may take it before it's used)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BotProcess:
    """`python -m <module>` (the bot by default) in a subprocess.

    Its output (stdout and stderr) goes to `log_path`, appended to by every start, so a
    restarted bot's log keeps the first run's; `log_text()` reads it for assertions and
    failure reports. `pid` is there for /proc readings.
    """

    def __init__(
        self, env: dict[str, str], cwd: Path, *, module: str = "bot", log_path: Path | None = None
    ) -> None:
        self.env = env
        self.cwd = cwd
        self.module = module
        self.log_path = log_path or cwd / f"{module.replace('.', '-')}.log"
        self.started_at = 0.0  # time.monotonic() at the last start
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.started_at = time.monotonic()
            self._proc = await asyncio.create_subprocess_exec(
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
    def pid(self) -> int:
        assert self._proc is not None, "the process was never started"
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def stop(self, *, kill: bool = False, timeout: float = 15) -> int | None:
        """SIGTERM (SIGKILL with `kill=True`), then SIGKILL if it's still there after
        `timeout` seconds; its exit code."""
        if self._proc is None:
            return None
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                await asyncio.wait_for(self._proc.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self._proc.kill()
                await self._proc.wait()
        return self._proc.returncode

    def log_text(self, tail: int | None = None) -> str:
        """What the process printed (the last `tail` characters of it)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-tail:] if tail else text
