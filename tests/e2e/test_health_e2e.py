"""Liveness and readiness of the real bot: through a Discord outage and back, with a MusicGPT
key it refuses, and with an owner's MUSICGPT_MAX_PARALLEL above what MusicGPT takes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.standins.musicgpt import HOLD
from tests.support.world import (
    MUSICGPT_KEY,
    World,
    poll_until,
    request_song,
    results_for,
    wait_results_for,
    wait_status_of,
    world,
)

LIMITS = {"USER_MAX_ACTIVE": "10", "USER_DAILY_QUOTA": "20"}
REFUSED_LINE = "MUSICGPT_API_KEY was refused by MusicGPT (HTTP 401): check the key"


async def probe(w: World, path: str) -> tuple[int, dict[str, Any]] | None:
    """GET one of the bot's health endpoints; None when nothing answered."""
    url = f"http://127.0.0.1:{w.webhook_port}{path}"
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response,
        ):
            return response.status, await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError):
        return None


async def wait_probe(w: World, path: str, status: int, timeout: float) -> dict[str, Any]:
    """The body of `path` once it answers `status`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        answer = await probe(w, path)
        if answer is not None and answer[0] == status:
            return answer[1]
        if loop.time() > deadline:
            raise AssertionError(f"{path} never answered {status}; last {answer}")
        await asyncio.sleep(0.05)


async def test_a_discord_outage_is_not_ready_within_seconds_and_ready_again_after(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        assert (await probe(w, "/readyz")) is not None
        assert (await probe(w, "/livez")) == (200, {"ok": True})

        started = time.monotonic()
        await w.dc.gateway_outage()  # connections dropped, reconnects refused
        body = await wait_probe(w, "/readyz", 503, timeout=5)
        noticed = time.monotonic() - started
        assert body["failing"] == ["discord_connected"], body
        healthz = await probe(w, "/healthz")
        assert healthz is not None and healthz[0] == 503

        # The bot keeps trying and is refused; it is alive all the while.
        await w.dc.wait_until(lambda: w.dc.gateway.refused_connects >= 1, 30, "a refused retry")
        assert (await probe(w, "/livez")) == (200, {"ok": True})
        readyz = await probe(w, "/readyz")
        assert readyz is not None and readyz[0] == 503

        w.dc.gateway_restore()
        body = await wait_probe(w, "/readyz", 200, timeout=60)
        assert body["discord_connected"] is True and body["failing"] == []
        assert noticed < 5, noticed
        assert w.bot.running


async def test_a_refused_key_is_one_warning_and_readyz_names_it(tmp_path: Path) -> None:
    async with world(tmp_path, start=False, MUSICGPT_API_KEY="wrong-key-0123456789") as w:
        await w.bot.start()
        await wait_probe(w, "/livez", 200, timeout=20)

        async def refused_only_for_the_key() -> dict[str, Any] | None:
            answer = await probe(w, "/readyz")
            if answer and answer[0] == 503 and answer[1]["failing"] == ["musicgpt_key"]:
                return answer[1]
            return None

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while (body := await refused_only_for_the_key()) is None:
            assert loop.time() < deadline, w.bot.log_text(4000)
            await asyncio.sleep(0.05)
        assert body["musicgpt_key"] is False and body["discord_connected"] is True
        log = w.bot.log_text()
        assert log.count(REFUSED_LINE) == 1, log[-4000:]
        assert "wrong-key-0123456789" not in log


async def test_a_good_key_gives_no_warning(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        body = await wait_probe(w, "/readyz", 200, timeout=10)
        assert body["musicgpt_key"] is True
        log = w.bot.log_text()
        assert "MUSICGPT_API_KEY" not in log, log[-4000:]
        assert MUSICGPT_KEY not in log
        # The check was one free byId about a task that doesn't exist.
        assert [r.status for r in w.mg.by_id_requests] == [404]


async def test_max_parallel_above_the_plan_loses_nothing_and_learns_the_real_figure(
    tmp_path: Path,
) -> None:
    async with world(
        tmp_path, MUSICGPT_MAX_PARALLEL="5", mg_options={"max_running": 2}, **LIMITS
    ) as w:
        mg = w.mg
        mg.script_delays(HOLD, HOLD)  # the first two run until the test lets them finish
        ids = [await request_song(w, prompt=f"song {n}") for n in range(5)]
        await poll_until(lambda: any(s.status == 429 for s in mg.submits), 30, "a 429")
        learned = "MusicGPT took only 2 at once; using 2 of MUSICGPT_MAX_PARALLEL=5"
        await poll_until(lambda: learned in w.bot.log_text(), 30, "the learned figure logged")
        body = await wait_probe(w, "/readyz", 200, timeout=10)
        assert body["musicgpt_parallel"] == {"using": 2, "configured": 5, "learned": learned}

        for held in [s.task_id for s in mg.submits if s.task_id][:2]:
            mg.complete_task(held)
        results = await wait_results_for(w, ids, timeout=60)
        for task_id in ids:
            await wait_status_of(w, task_id, "delivered")
            assert len(results[task_id]) == 1 and len(results_for(w, task_id)) == 1

        accepted = [s for s in mg.submits if s.status == 200]
        assert len(accepted) == 5 and len({s.task_id for s in accepted}) == 5  # no duplicate
        assert {s.status for s in mg.submits} == {200, 429}
        first_429 = next(s for s in mg.submits if s.status == 429)
        assert first_429.answered_at is not None
        later = [s for s in mg.submits if s.at > first_429.answered_at]
        assert later, "nothing was sent after the 429"
        # Once the bot knew, it never had more than 2 at MusicGPT (this one included).
        assert max(s.in_flight for s in later) <= 2, [(s.status, s.in_flight) for s in later]
        assert all(w.tasks()[n].error is None for n in range(5))
