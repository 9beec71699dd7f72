"""SIGTERM while a file is on its way to MusicGPT: the upload finishes, the bot exits 0 with
"stopped", new commands meanwhile are told to come back, and the restarted bot delivers the
request instead of failing it ("…restarted while sending this…")."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from tests.support.world import (
    poll_until,
    request_song,
    results_for,
    stored,
    wait_results_for,
    wait_status_of,
    wait_status_text,
    world,
)

# How long MusicGPT's stand-in holds each upload before it reads and answers it: the bot is
# told to stop inside this span, and must wait for the answer.
UPLOAD_SECONDS = 3.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class SlowUploads:
    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self.answered = 0

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "POST" and request.path.endswith("/v1/sing_over_instrumental"):
            self.arrived.set()
            await asyncio.sleep(UPLOAD_SECONDS)
            response = await handler(request)
            self.answered += 1
            return response
        return await handler(request)


@pytest.mark.parametrize("webhooks", [True, False], ids=["webhooks", "polling"])
async def test_sigterm_during_an_upload_lets_it_finish_and_the_restart_delivers_it(
    tmp_path: Path, webhooks: bool
) -> None:
    uploads = SlowUploads()
    mg_options = {"middlewares": [uploads.middleware]}
    async with world(tmp_path, webhooks=webhooks, mg_options=mg_options) as w:
        task_id = await request_song(w)
        await asyncio.wait_for(uploads.arrived.wait(), 30)
        assert stored(w, task_id).status == "submitting"

        os.kill(w.bot.pid, signal.SIGTERM)
        # Once the bot has taken the signal (under load that can lag the kill), a command
        # that arrives while it drains is turned away, privately.
        await poll_until(lambda: "stopping:" in w.bot.log_text(), 20, "the bot to start draining")
        late = await w.dc.invoke_command(
            "sing", {"prompt": "too late", "audio": w.attach("beat.mp3", "tone.mp3")}
        )
        callback = await late.wait_callback()
        assert callback.type == 4 and callback.data is not None, callback
        assert callback.data["content"] == "I'm restarting; try again in a minute."
        assert callback.data["flags"] & 64  # ephemeral

        await poll_until(lambda: not w.bot.running, 20, "the bot to exit")
        log = w.bot.log_text()
        assert w.bot.returncode == 0, log
        assert log.splitlines()[-1].endswith("bot: stopped"), log
        assert "REST session not found" not in log  # its REST timeouts were bounded
        # The requester's own form answered before Discord was closed (no "Session is closed").
        assert "Traceback" not in log, log
        assert uploads.answered == 1
        row = stored(w, task_id)
        assert row.status == "submitted", row  # recorded before the exit
        assert row.musicgpt_task_id
        assert len(w.tasks()) == 1  # the late command made nothing

        await w.start_bot()
        await wait_status_of(w, task_id, "delivered", timeout=60)
        await wait_results_for(w, [task_id])
        await wait_status_text(w, task_id, "Posted 2 takes")
        assert len(results_for(w, task_id)) == 1
        assert not stored(w, task_id).quota_refunded
        assert "restarted while sending" not in w.bot.log_text()
        assert "Traceback" not in w.bot.log_text()
        assert len(w.mg.submits) == 1  # sent once, never again after the restart
