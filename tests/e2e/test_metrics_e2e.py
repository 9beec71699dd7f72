"""GET /metrics of the real bot: Prometheus' text format, counts that follow what happened,
gauges read from the database (right after a restart too), and nothing that names anyone."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.standins.musicgpt import HOLD
from tests.support.world import (
    MUSICGPT_KEY,
    World,
    poll_until,
    request_song,
    wait_results_for,
    wait_status_of,
    webhook_secret,
    world,
)

TOKEN = "metrics-token-for-the-test-0123456789"
PROMPT = "velvet falsetto over the beat"
LYRICS = "moonlit harbour lullaby"
LIMITS = {"USER_MAX_ACTIVE": "10", "USER_DAILY_QUOTA": "20"}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(w: World, authorization: str | None = f"Bearer {TOKEN}") -> tuple[int, str]:
    headers = {"Authorization": authorization} if authorization else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"http://127.0.0.1:{w.webhook_port}/metrics",
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=5),
        ) as response,
    ):
        return response.status, await response.text()


async def samples(w: World, **scrape_options: str | None) -> tuple[Samples, str]:
    status, text = await scrape(w, **scrape_options)
    assert status == 200, text
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found, text


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def byid_total(found: Samples) -> float:
    return sum(v for (name, _), v in found.items() if name == "singbot_musicgpt_byid_calls_total")


async def test_metrics_count_deliveries_read_the_queue_after_a_restart_and_name_no_one(
    tmp_path: Path,
) -> None:
    async with world(
        tmp_path,
        METRICS_TOKEN=TOKEN,
        MUSICGPT_MAX_PARALLEL="1",
        MUSICGPT_POLLS_PER_MINUTE="30",
        **LIMITS,
    ) as w:
        # PUBLIC_BASE_URL is set (the world's webhooks): the token is required.
        assert (await scrape(w, authorization=None))[0] == 401
        assert (await scrape(w, authorization="Bearer not-the-token-at-all-0000"))[0] == 401

        found, _ = await samples(w)
        assert value(found, "singbot_requests_total", kind="sing", outcome="delivered") == 0
        assert value(found, "singbot_requests_total", kind="sing", outcome="queued") == 0

        w.mg.script_delays(HOLD)  # the first runs until the test lets it finish
        held = await request_song(w, prompt=PROMPT, lyrics=LYRICS)
        await wait_status_of(w, held, "submitted")
        waiting = await request_song(w, user=w.bob, prompt=PROMPT, lyrics=LYRICS)
        found, _ = await samples(w)
        assert value(found, "singbot_requests_total", kind="sing", outcome="queued") == 2
        assert value(found, "singbot_tasks_at_musicgpt") == 1
        assert value(found, "singbot_tasks_queued") == 1
        assert value(found, "singbot_musicgpt_parallel") == 1
        assert value(found, "singbot_musicgpt_parallel_configured") == 1

        # Counters start again with the process; the gauges come from the database.
        await w.bot.stop(kill=True)
        restarted = time.monotonic()
        await w.start_bot()
        found, _ = await samples(w)
        assert value(found, "singbot_requests_total", kind="sing", outcome="queued") == 0
        assert value(found, "singbot_tasks_at_musicgpt") == 1
        assert value(found, "singbot_tasks_queued") == 1

        # The start-up key check is a byId too; then one poll is answered 429.
        mg = w.mg
        await poll_until(
            lambda: any(r.at > restarted for r in mg.by_id_requests), 20, "the key check"
        )
        mg.faults.add("byId", "rate_limit", count=1)
        await poll_until(lambda: any(r.status == 429 for r in mg.by_id_requests), 60, "a 429")
        [musicgpt_task] = [s.task_id for s in mg.submits if s.task_id]
        mg.complete_task(musicgpt_task)
        await wait_results_for(w, [held, waiting], timeout=90)
        for task_id in (held, waiting):
            await wait_status_of(w, task_id, "delivered")

        found, text = await samples(w)
        assert value(found, "singbot_requests_total", kind="sing", outcome="delivered") == 2
        assert value(found, "singbot_requests_total", kind="sing", outcome="failed") == 0
        assert value(found, "singbot_completion_to_post_seconds_count") == 2
        assert value(found, "singbot_tasks_at_musicgpt") == 0
        assert value(found, "singbot_tasks_queued") == 0
        # Every byId this process made is counted, each once, by what MusicGPT answered.
        since_restart = [r for r in mg.by_id_requests if r.at > restarted]
        assert byid_total(found) == len(since_restart) > 2
        assert value(found, "singbot_musicgpt_byid_calls_total", result="rate_limited") == 1
        assert value(found, "singbot_musicgpt_errors_total", endpoint="byId", status="429") == 1
        # The 429 halved the poll budget; the setting stays what it is.
        assert value(found, "singbot_poll_budget_per_minute") == 15
        assert value(found, "singbot_poll_budget_configured_per_minute") == 30

        secrets_and_ids = {
            "alice's id": str(w.alice.id),
            "bob's id": str(w.bob.id),
            "the guild id": str(w.dc.guild_id),
            "the prompt": PROMPT,
            "the lyrics": LYRICS,
            "the MusicGPT key": MUSICGPT_KEY,
            "the Discord token": w.dc.token,
            "the metrics token": TOKEN,
            "the webhook secret": webhook_secret(w),
            "MusicGPT's task id": musicgpt_task,
        }
        leaked = [what for what, secret in secrets_and_ids.items() if secret in text]
        assert not leaked, leaked


async def test_without_webhooks_metrics_are_open_and_count_a_refused_post(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, webhooks=False, **LIMITS) as w:
        found, _ = await samples(w, authorization=None)  # no token, no public port: open
        assert value(found, "singbot_delivery_failures_total", reason="not_allowed") == 0
        assert value(found, "singbot_requests_total", kind="sing", outcome="refused") == 0

        ix = await w.dc.invoke_command("sing", {"prompt": "x"}, user_id=w.alice.id)
        assert "Attach an audio file" in (await ix.wait_callback()).data["content"]

        w.mg.script_delays(HOLD)
        task_id = await request_song(w)
        await wait_status_of(w, task_id, "submitted")
        # Discord refuses the bot the channel when the result is posted.
        w.dc.faults.add("POST", r"/channels/\d+/messages$", 403, count=1, code=50013)
        [musicgpt_task] = [s.task_id for s in w.mg.submits if s.task_id]
        w.mg.complete_task(musicgpt_task)
        await wait_status_of(w, task_id, "failed", timeout=60)

        found, _ = await samples(w, authorization=None)
        assert value(found, "singbot_delivery_failures_total", reason="not_allowed") == 1
        assert value(found, "singbot_requests_total", kind="sing", outcome="failed") == 1
        assert value(found, "singbot_requests_total", kind="sing", outcome="delivered") == 0
        assert value(found, "singbot_completion_to_post_seconds_count") == 0
        assert value(found, "singbot_requests_total", kind="sing", outcome="refused") == 1
        assert value(found, "singbot_requests_total", kind="inpaint", outcome="refused") == 0
        # Process metrics come from the bot's own registry too.
        assert value(found, "process_open_fds") > 0


async def test_without_a_token_metrics_are_closed_on_every_interface(tmp_path: Path) -> None:
    """Polling, but bound to 0.0.0.0 (compose's default): other machines reach the port, so
    without METRICS_TOKEN /metrics says no; the health checks still answer."""
    async with world(tmp_path, webhooks=False, WEBHOOK_HOST="0.0.0.0") as w:
        status, text = await scrape(w, authorization=None)
        assert status == 403 and "METRICS_TOKEN" in text
        await w.wait_healthy(timeout=10)
