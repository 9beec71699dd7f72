"""`python -m playground` on a port it can't have: one line naming PLAYGROUND_PORT, exit 2,
before the bot or the stand-ins start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def run_playground(port: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PLAYGROUND_PORT": port}
    return subprocess.run(
        [sys.executable, "-m", "playground"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_taken_port_is_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_playground(str(port))
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"PLAYGROUND_PORT {port} ")
    assert "taken" in line and "Traceback" not in done.stderr


@pytest.mark.parametrize("value", ["eighty", "70000"])
def test_a_port_that_is_no_number_is_one_line_and_exit_2(value: str) -> None:
    done = run_playground(value)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line == f"PLAYGROUND_PORT {value!r} is not a port number (0-65535)"
