"""The container's health check against the real bot: healthy once it is ready, not after."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.support.env import ROOT
from tests.support.world import world


async def healthcheck(env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """`python -m bot.healthcheck` with the bot's own WEBHOOK_* settings, as Docker runs it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.healthcheck",
        cwd=cwd,
        env={
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            **{k: v for k, v in env.items() if k.startswith("WEBHOOK_")},
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_healthy_while_the_bot_runs_and_not_once_it_stopped(tmp_path: Path) -> None:
    async with world(tmp_path, webhooks=False) as w:
        # The world's port is a free one, not the default 8080: the check must follow it.
        code, output = await healthcheck(w.env, tmp_path)
        assert (code, output.strip()) == (0, f"http://127.0.0.1:{w.webhook_port}/readyz: 200")

        await w.bot.stop()
        code, output = await healthcheck(w.env, tmp_path)
        assert code == 1
        assert "no answer" in output and "Traceback" not in output
