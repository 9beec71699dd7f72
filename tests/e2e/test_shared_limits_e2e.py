"""Several real bot processes on one PostgreSQL database share MusicGPT's limits (issue 21):
three processes together keep to one MUSICGPT_POLLS_PER_MINUTE, what one learned from a 429
(to a submit or to a status check) another uses, and a webhook reaching a process other than
the one that sent the song is confirmed and delivered at once."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from tests.e2e.test_metrics_e2e import TOKEN, byid_total, samples
from tests.e2e.test_shards_e2e import readyz
from tests.standins.discord import shard_of
from tests.standins.musicgpt import HOLD
from tests.support.env import bot_env
from tests.support.process import BotProcess, free_port
from tests.support.world import (
    World,
    busiest_minute,
    poll_until,
    request_song,
    results_for,
    wait_results_for,
    wait_status_of,
    world,
)

pytestmark = pytest.mark.postgres

POLLS_PER_MINUTE = 12  # one byId every 5 s at most, for all processes together
ETA = 3  # what the stand-in announces for every task: first polls ~3.3 s after the submit
TOLERANCE = 0.25  # seconds of scheduling and network jitter between a bot and the stand-in
LIMITS = {"USER_MAX_ACTIVE": "10", "USER_DAILY_QUOTA": "20"}


def others(w0: World, tmp: Path, count: int, *, webhooks: bool, **env: str) -> list[World]:
    """`count` more processes beside `w0`, on its stand-ins, with settings `env`."""
    worlds = []
    for n in range(1, count + 1):
        folder = tmp / f"p{n}"
        folder.mkdir()
        bot = bot_env(w0.dc, w0.mg, folder, free_port(), webhooks=webhooks, **env)
        worlds.append(World(w0.dc, w0.mg, folder, bot, BotProcess(bot, folder), w0.users))
    return worlds


async def test_three_processes_keep_to_one_poll_budget(tmp_path: Path, postgres_url: str) -> None:
    shared = {
        "DATABASE_URL": postgres_url,
        "SHARD_COUNT": "3",
        "DEV_GUILD_ID": "",  # synced once, by shard 0's process
        "MUSICGPT_POLLS_PER_MINUTE": str(POLLS_PER_MINUTE),
        "MUSICGPT_MAX_PARALLEL": "6",
        "METRICS_TOKEN": TOKEN,
        **LIMITS,
    }
    (tmp_path / "p0").mkdir()
    async with world(
        tmp_path / "p0", start=False, webhooks=False, mg_options={"eta": ETA}, **shared
    ) as w:
        # Shard numbers as the processes' order: the first holds the server's shard, so it
        # answers the /sing; the others' shards hold no server. All three poll.
        guild_shard = shard_of(w.dc.guild_id, 3)
        rest = [s for s in range(3) if s != guild_shard]
        w.env["SHARD_IDS"] = str(guild_shard)
        processes = [w, *others(w, tmp_path, 2, webhooks=False, **shared)]
        for world_, shard in zip(processes[1:], rest, strict=True):
            world_.env["SHARD_IDS"] = str(shard)
        try:
            for each in processes:
                await each.start_bot(timeout=40)
            before = [byid_total((await samples(each))[0]) for each in processes]

            # Four songs at MusicGPT for ~14 s each: a poll due every 5 s for each of them
            # (48 a minute asked), 12 a minute allowed over the three processes.
            w.mg.script_delays(14.0, 14.0, 14.0, 14.0)
            ids = [await request_song(w, prompt=f"song {n}") for n in range(4)]
            await wait_results_for(w, ids, timeout=120)
            for task_id in ids:
                await wait_status_of(w, task_id, "delivered")
                assert len(results_for(w, task_id)) == 1

            asked = {s.task_id for s in w.mg.submits}
            polls = [p for p in w.mg.by_id_requests if p.query.get("task_id") in asked]
            times = [p.at for p in polls]
            gaps = [b - a for a, b in pairwise(times)]
            assert len(polls) >= 4 and min(gaps) >= 60 / POLLS_PER_MINUTE - TOLERANCE, gaps
            assert busiest_minute(times) <= POLLS_PER_MINUTE
            # Each process counts its own status checks: more than one of them polled.
            after = [byid_total((await samples(each))[0]) for each in processes]
            made = [a - b for a, b in zip(after, before, strict=True)]
            assert sum(made) == len(polls) and sum(1 for n in made if n) >= 2, made
        finally:
            for each in processes[1:]:
                await each.bot.stop()
        for each in processes[1:]:
            assert each.bot.returncode == 0, each.bot.log_text(4000)
            assert "Traceback" not in each.bot.log_text()


async def test_a_webhook_reaching_the_other_process_is_delivered_at_once(
    tmp_path: Path, postgres_url: str
) -> None:
    """Each process gives MusicGPT the other's address (a load balancer could do that):
    whichever sends the song, its webhook reaches the other, which confirms and delivers it
    long before the sender's own first poll (eta 60 s: ~96 s after the submit)."""
    shared = {"DATABASE_URL": postgres_url, "SHARD_COUNT": "2", "DEV_GUILD_ID": "", **LIMITS}
    (tmp_path / "p0").mkdir()
    async with world(tmp_path / "p0", start=False, mg_options={"eta": 60}, **shared) as w0:
        [w1] = others(w0, tmp_path, 1, webhooks=True, **shared)
        w0.env["SHARD_IDS"] = str(shard_of(w0.dc.guild_id, 2))
        w1.env["SHARD_IDS"] = str(1 - shard_of(w0.dc.guild_id, 2))
        w0.env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{w1.webhook_port}"
        w1.env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{w0.webhook_port}"
        try:
            await w0.start_bot(timeout=40)
            await w1.start_bot(timeout=40)
            task_id = await request_song(w0)
            await wait_results_for(w0, [task_id], timeout=30)
            await wait_status_of(w0, task_id, "delivered")
            assert len(results_for(w0, task_id)) == 1

            # The webhook went where the sender's PUBLIC_BASE_URL said: the other process.
            [submit] = w0.mg.submits
            ports = {w.webhook_port: w for w in (w0, w1)}
            receiver = ports[int(submit.fields["webhook_url"].split("/")[2].split(":")[1])]
            sender = w1 if receiver is w0 else w0
            assert sender.env["PUBLIC_BASE_URL"].endswith(f":{receiver.webhook_port}")
            deliveries = w0.mg.webhook_deliveries
            assert {d.url for d in deliveries} == {submit.fields["webhook_url"]}
            assert all(d.status == 200 for d in deliveries), deliveries
            polls = [p for p in w0.mg.by_id_requests if p.query.get("task_id") == submit.task_id]
            assert len(polls) == 1  # the webhook's confirming poll, not a scheduled one
        finally:
            await w1.bot.stop()
        assert w1.bot.returncode == 0, w1.bot.log_text(4000)
        for each in (w0, w1):
            assert "Traceback" not in each.bot.log_text()


async def test_what_one_process_learned_from_a_429_the_next_one_uses(
    tmp_path: Path, postgres_url: str
) -> None:
    """MusicGPT runs 2 at once (MUSICGPT_MAX_PARALLEL=4): the first process learns it from a
    429; a second process started afterwards, which never met one, uses 2 as well, and both
    work the queue to the end."""
    shared = {
        "DATABASE_URL": postgres_url,
        "SHARD_COUNT": "3",
        "DEV_GUILD_ID": "",
        "MUSICGPT_MAX_PARALLEL": "4",
        **LIMITS,
    }
    (tmp_path / "p0").mkdir()
    mg_options = {"max_running": 2, "delay": HOLD}
    async with world(tmp_path / "p0", start=False, mg_options=mg_options, **shared) as w0:
        [w1] = others(w0, tmp_path, 1, webhooks=True, **shared)
        # The first process alone at first: it syncs the commands (shard 0) and holds the
        # server's shard; the second holds what is left.
        first = {0, shard_of(w0.dc.guild_id, 3)}
        w0.env["SHARD_IDS"] = ",".join(str(s) for s in sorted(first))
        w1.env["SHARD_IDS"] = ",".join(str(s) for s in range(3) if s not in first)
        mg = w0.mg
        try:
            await w0.start_bot(timeout=40)
            ids = [await request_song(w0, prompt=f"song {n}") for n in range(4)]
            await mg.wait_for(lambda: any(s.status == 429 for s in mg.submits), timeout=30)
            learned = "MusicGPT took only 2 at once; using 2 of MUSICGPT_MAX_PARALLEL=4"
            assert (await readyz(w0))["musicgpt_parallel"]["learned"] == learned

            await w1.start_bot(timeout=40)
            assert (await readyz(w1))["musicgpt_parallel"] == {
                "using": 2,
                "configured": 4,
                "learned": learned,
            }
            # It knew without asking: it sent nothing while MusicGPT ran its 2 (a process
            # learning for itself would have sent one at start and met a 429 of its own).
            from_w1 = f":{w1.webhook_port}/"
            assert not [s for s in mg.submits if from_w1 in s.fields.get("webhook_url", "")]

            def finish_running() -> bool:
                for task in mg.tasks.values():  # MusicGPT finishes whatever it runs
                    task.release.set()
                return all(results_for(w0, task_id) for task_id in ids)

            await poll_until(finish_running, 90, "every song's result", every=0.2)
            for task_id in ids:
                await wait_status_of(w0, task_id, "delivered")
                assert len(results_for(w0, task_id)) == 1
        finally:
            await w1.bot.stop()
        assert w1.bot.returncode == 0, w1.bot.log_text(4000)


async def test_a_poll_429_one_process_meets_halves_the_budget_of_both(
    tmp_path: Path, postgres_url: str
) -> None:
    """MusicGPT answers one status check 429: whichever process sent it halves the one
    budget, and both processes' /readyz say so."""
    shared = {
        "DATABASE_URL": postgres_url,
        "SHARD_COUNT": "2",
        "DEV_GUILD_ID": "",
        "MUSICGPT_POLLS_PER_MINUTE": "60",
        **LIMITS,
    }
    (tmp_path / "p0").mkdir()
    async with world(tmp_path / "p0", start=False, webhooks=False, **shared) as w0:
        [w1] = others(w0, tmp_path, 1, webhooks=False, **shared)
        w0.env["SHARD_IDS"] = str(shard_of(w0.dc.guild_id, 2))
        w1.env["SHARD_IDS"] = str(1 - shard_of(w0.dc.guild_id, 2))
        try:
            await w0.start_bot(timeout=40)
            await w1.start_bot(timeout=40)
            w0.mg.faults.add("byId", "rate_limit", retry_after=1)  # after the key checks
            task_id = await request_song(w0)
            await wait_status_of(w0, task_id, "delivered", timeout=60)
            assert [p.status for p in w0.mg.by_id_requests].count(429) == 1
            for each in (w0, w1):
                assert (await readyz(each))["musicgpt_polls_per_minute"] == {
                    "using": 30,
                    "configured": 60,
                    "learned": (
                        "MusicGPT limited status checks; polling at 30 a minute of "
                        "MUSICGPT_POLLS_PER_MINUTE=60"
                    ),
                }
        finally:
            await w1.bot.stop()
        assert w1.bot.returncode == 0, w1.bot.log_text(4000)
