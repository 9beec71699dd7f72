"""Polling only (no PUBLIC_BASE_URL): byId never before the eta, and within the poll budget."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from tests.support.world import (
    busiest_minute,
    request_song,
    results_for,
    wait_results_for,
    wait_status_of,
    world,
)

POLLS_PER_MINUTE = 12  # one byId every 5 s at most, for all tasks together
ETA = 3  # what the stand-in announces for every task
TOLERANCE = 0.25  # seconds of scheduling and network jitter between the bot and the stand-in


async def test_polling_stays_within_the_budget_and_after_the_eta(tmp_path: Path) -> None:
    async with world(
        tmp_path,
        webhooks=False,
        mg_options={"eta": ETA},
        MUSICGPT_POLLS_PER_MINUTE=str(POLLS_PER_MINUTE),
        MUSICGPT_MAX_PARALLEL="3",
        USER_MAX_ACTIVE="10",
        USER_DAILY_QUOTA="20",
    ) as w:
        mg = w.mg
        # Three tasks in flight at once, all first due ~3.3 s after their submit; the second
        # is still running at its first poll, so it is polled again.
        mg.script_delays(2.0, 12.0, 2.0)
        ids = [await request_song(w, prompt=f"song {n}") for n in range(3)]
        results = await wait_results_for(w, ids, timeout=60)
        for task_id in ids:
            await wait_status_of(w, task_id, "delivered")
            assert len(results[task_id]) == 1 and len(results_for(w, task_id)) == 1

        assert all("webhook_url" not in s.fields for s in mg.submits)
        assert mg.webhook_deliveries == []

        # Every status check of a task (not the start-up key check, which asks about none).
        asked = {s.task_id for s in mg.submits}
        polls = [p for p in mg.by_id_requests if p.query.get("task_id") in asked]
        assert len(polls) >= 4, [p.query for p in polls]
        times = [p.at for p in polls]
        spacing = 60 / POLLS_PER_MINUTE
        gaps = [b - a for a, b in pairwise(times)]
        assert min(gaps) >= spacing - TOLERANCE, gaps
        assert busiest_minute(times) <= POLLS_PER_MINUTE

        # No task was asked about before MusicGPT's estimate.
        submitted_at = {s.task_id: s.at for s in mg.submits}
        for poll in polls:
            assert poll.at >= submitted_at[poll.query["task_id"]] + ETA, poll
        # The long task needed more than one look; the short ones exactly one.
        counts = [sum(p.query["task_id"] == s.task_id for p in polls) for s in mg.submits]
        assert counts[0] == 1 and counts[2] == 1 and counts[1] >= 2, counts
