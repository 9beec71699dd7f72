"""The playground in a subprocess and driven from headless Chromium: shared by the browser
tests (tests/browser/) and `make playground-screenshot`, so the picture is what is tested.

Debian's Chromium (`apt-get install chromium`, or CHROMIUM_PATH): Playwright's own browser
download cannot work here.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.env import FIXTURES
from tests.support.process import free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
# The flow waits on the real bot and the MusicGPT stand-in's task delay (3 s): generous.
SLOW = 60_000


def chromium_missing() -> str | None:
    """Why the browser cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -r requirements-dev.txt)"
    return None


class Playground:
    """`python -m playground` on a free port; stopped with SIGINT, as Ctrl-C would."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.log = log
        env = {**os.environ, "PLAYGROUND_PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        self._out = self.log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "playground"],
            cwd=ROOT,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}/"

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the playground exited:\n{self.log.read_text()}")
            if "playground ready" in self.log.read_text():
                # Our own http://127.0.0.1 URL, never a user's.
                state = self.url + "api/state"
                with urllib.request.urlopen(state, timeout=5) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            time.sleep(0.2)
        raise AssertionError(f"the playground never said ready:\n{self.log.read_text()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()
        return self.process.returncode


def launch(pw: Any) -> Any:
    """Headless Debian Chromium (no sandbox: CI runs as root)."""
    return pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])


def run_command(page: Any, name: str, **options: str) -> None:
    """Pick /name in the command bar, fill its options (a path for a file input), Run."""
    page.locator("#command").select_option(name)
    for option, value in options.items():
        field = page.locator(f'#options [name="{option}"]')
        if field.get_attribute("type") == "file":
            field.set_input_files(value)
        elif field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    page.locator("#run").click()


def sing(page: Any) -> None:
    """/sing with tone.wav uploaded and the lyrics typed in the form; watches the status
    advance and returns once both takes are posted with their audio players."""
    from playwright.sync_api import expect

    expect(page.locator("#command option", has_text="/sing")).to_have_count(1)
    run_command(page, "sing", prompt="warm soul vocal", audio=str(FIXTURES / "tone.wav"))
    modal = page.locator("#modal")
    expect(modal).to_be_visible()
    modal.get_by_label("Lyrics").first.fill("la la la")
    page.locator("#modal-submit").click()
    status = page.locator(".embed", has_text="Singing over your instrumental")
    expect(status).to_contain_text("MusicGPT is working on it", timeout=SLOW)
    expect(status).to_contain_text("Posted 2 takes", timeout=SLOW)
    result = page.locator(".message", has_text="your song is ready")
    expect(result.locator("audio")).to_have_count(2, timeout=SLOW)
