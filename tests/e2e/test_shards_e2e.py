"""Two real bot processes, one gateway shard of two each (SHARD_COUNT=2, SHARD_IDS=0 / 1).

Each has its own SQLite database for now (the shared PostgreSQL one is being built, issue 21)
and its own WEBHOOK_PORT. Two servers, one on each shard: a /sing in each is answered by
the process holding its shard and the song is delivered there; the commands are synced
once, by shard 0's process; each /readyz names its own shard.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp

from tests.e2e.test_threads_e2e import THREAD_POSTS, ask
from tests.standins.discord import GuildSpec, shard_of
from tests.standins.musicgpt import HOLD
from tests.support.env import bot_env
from tests.support.process import BotProcess, free_port
from tests.support.world import (
    World,
    mg_id,
    poll_until,
    request_song,
    results_for,
    status_messages_for,
    stored,
    wait_status_of,
    wait_status_text,
    wait_task,
    world,
)


async def probe(w: World) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{w.webhook_port}/readyz"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response,
    ):
        return response.status, await response.json()


async def readyz(w: World) -> dict[str, Any]:
    status, body = await probe(w)
    assert status == 200, body
    return body


async def wait_readyz(w: World, status: int, timeout: float) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        answer = await probe(w)
        return answer[1] if answer[0] == status else None

    async with asyncio.timeout(timeout):
        while (body := await check()) is None:
            await asyncio.sleep(0.05)
    return body


async def test_two_processes_each_answer_the_servers_of_their_shard(tmp_path: Path) -> None:
    dirs = [tmp_path / "p0", tmp_path / "p1"]
    for folder in dirs:
        folder.mkdir()
    shards = {"SHARD_COUNT": "2", "DEV_GUILD_ID": ""}  # synced globally, as in production
    async with world(dirs[0], start=False, SHARD_IDS="0", **shards) as w0:
        dc, mg = w0.dc, w0.mg
        # The world's server is on whichever shard its id says; the other one gets a server too.
        first = dc.guild_id
        other = await dc.add_guild(GuildSpec("Second"), shard=(1 - shard_of(first, 2), 2))
        guild_on = {shard_of(first, 2): first, shard_of(other.id, 2): other.id}
        port = free_port()
        env1 = bot_env(dc, mg, dirs[1], port, SHARD_COUNT="2", SHARD_IDS="1", DEV_GUILD_ID="")
        w1 = World(dc, mg, dirs[1], env1, BotProcess(env1, dirs[1]), w0.users)
        try:
            await w0.start_bot()
            await w1.start_bot()
            await dc.wait_shards([0, 1], shard_count=2)
            assert sorted(dc.connected_shards()) == [(0, 2), (1, 2)]  # nothing unsharded

            # Commands: one global PUT, from shard 0's process; shard 1's says it leaves it.
            # (Both synced, if at all, before their /healthz said ready: in setup_hook.)
            puts = dc.find_requests(method="PUT")
            assert [r.path for r in puts] == [f"/applications/{dc.app_id}/commands"]
            assert re.search(r"synced \d+ global commands", w0.bot.log_text())
            assert "not syncing commands: the process holding shard 0 does" in w1.bot.log_text()
            assert "synced" not in w1.bot.log_text().replace("not syncing", "")

            # Each /readyz names its own shard, connected, and the start line says which.
            for shard, w in enumerate((w0, w1)):
                body = await readyz(w)
                assert body["shard_count"] == 2 and body["shards"] == [shard]
                assert body["shards_connected"] == [shard] and body["database"] == "sqlite"
                assert "unsharded" not in w.bot.log_text()
                assert f"; shard {shard} of 2" in w.bot.log_text()
                assert "ready as " in w.bot.log_text() and " in 1 server;" in w.bot.log_text()

            # A /sing in each server: the process holding its shard takes and delivers it.
            songs = {}
            for shard, w in enumerate((w0, w1)):
                channel = dc.channel_ids(guild_on[shard])[0]
                songs[shard] = await request_song(w, channel_id=channel)
            for shard, w in enumerate((w0, w1)):
                row = await wait_status_of(w, songs[shard], "delivered", timeout=45)
                assert row.guild_id == guild_on[shard]
                assert [t.guild_id for t in w.tasks()] == [guild_on[shard]]
            for guild in guild_on.values():
                posted = [
                    m
                    for m in dc.messages(include_ephemeral=False)
                    if m.guild_id == guild and "your song is ready" in m.content
                ]
                assert len(posted) == 1, posted
        finally:
            await w1.bot.stop()
        assert w1.bot.returncode == 0, w1.bot.log_text(4000)
    assert not dc.unhandled_requests


async def test_one_process_with_every_shard_reports_each_through_an_outage(
    tmp_path: Path,
) -> None:
    """SHARD_COUNT alone: this process opens every shard. While Discord's gateway is away
    /readyz says 503 and no shard connected; the retries are one line each, no traceback;
    once it is back, both shards are connected again."""
    async with world(tmp_path, SHARD_COUNT="2") as w:
        await w.dc.wait_shards([0, 1], shard_count=2)
        body = await readyz(w)
        assert body["shards"] == body["shards_connected"] == [0, 1]
        assert body["shard_count"] == 2
        assert "shards 0, 1 of 2" in w.bot.log_text()
        assert w.dc.find_requests(method="PUT")  # it holds shard 0: it syncs

        await w.dc.gateway_outage()  # connections dropped, reconnects refused
        body = await wait_readyz(w, 503, timeout=10)
        assert body["failing"] == ["discord_connected"] and body["shards"] == [0, 1]
        await w.dc.wait_until(lambda: w.dc.gateway.refused_connects >= 2, 30, "refused retries")

        w.dc.gateway_restore()
        body = await wait_readyz(w, 200, timeout=60)
        assert body["shards_connected"] == [0, 1] and body["failing"] == []
        log = w.bot.log_text()
        assert "Traceback" not in log, log[-4000:]
        assert "connection to Discord" in log or "gateway connection" in log, log[-4000:]


async def test_discord_requiring_more_shards_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """Past 2,500 servers on one connection Discord closes the gateway with 4011: the owner
    reads what to set, not a traceback."""
    dc_options = {"max_guilds_per_shard": 0}  # the stand-in's one server is already too many
    async with world(tmp_path, start=False, log_level="INFO", dc_options=dc_options) as w:
        await w.bot.start()
        await poll_until(lambda: not w.bot.running, 30, "the bot to exit")
        log = w.bot.log_text()
        assert w.bot.returncode == 2, log
        assert "Traceback" not in log, log
        [failure] = [line for line in log.splitlines() if " ERROR " in line]
        assert "4011" in failure and "SHARD_COUNT" in failure


async def test_a_gateway_away_at_start_is_retried_and_a_stop_still_ends_the_bot(
    tmp_path: Path,
) -> None:
    """discord.py retries a shard that can't connect every 5 s, forever, stop or not: the
    bot's retries are one line each and end when it is told to stop."""
    async with world(tmp_path, start=False, log_level="INFO", SHARD_COUNT="2") as w:
        await w.dc.gateway_outage()
        await w.bot.start()
        await poll_until(
            lambda: "can't open shard 0's gateway connection" in w.bot.log_text(),
            30,
            "a retry line",
        )
        status, body = await probe(w)
        assert status == 503 and body["shards"] == [0, 1] and body["shards_connected"] == []
        assert await w.bot.stop(timeout=15) == 0, w.bot.log_text()
        log = w.bot.log_text()
        assert "Traceback" not in log and "stopped" in log.splitlines()[-1], log


async def test_a_gateway_away_at_start_is_retried_then_every_shard_connects(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, start=False, log_level="INFO", SHARD_COUNT="2") as w:
        await w.dc.gateway_outage()
        await w.bot.start()
        await poll_until(
            lambda: "can't open shard 0's gateway connection" in w.bot.log_text(),
            30,
            "a retry line",
        )
        w.dc.gateway_restore()
        await w.wait_healthy(timeout=30)
        body = await readyz(w)
        assert body["shards_connected"] == [0, 1]
        assert "Traceback" not in w.bot.log_text()


async def test_a_process_holding_none_of_the_servers_still_delivers(tmp_path: Path) -> None:
    """A song asked while one process held everything, finished after it came back holding
    only the other shard: its cache has neither the server nor the channel, and it still
    posts the takes and updates the status message, by channel id (REST)."""
    async with world(tmp_path, webhooks=False) as w:
        w.mg.script_delays(HOLD)
        task_id = await request_song(w)
        row = await wait_status_of(w, task_id, "submitted")
        await w.bot.stop()

        elsewhere = 1 - shard_of(w.dc.guild_id, 2)
        w.env.update(SHARD_COUNT="2", SHARD_IDS=str(elsewhere))
        await w.start_bot(wait_sync=elsewhere == 0)
        assert "ready as TestBot in 0 servers" in w.bot.log_text()
        w.mg.complete_task(mg_id(row))
        await wait_status_of(w, task_id, "delivered", timeout=45)
        await wait_status_text(w, task_id, "Posted 2 takes")
        assert len(results_for(w, task_id)) == 1
        assert len(status_messages_for(w, task_id)) == 1
        assert len(w.mg.submits) == 1


async def test_a_process_holding_none_of_the_servers_opens_a_songs_thread(
    tmp_path: Path,
) -> None:
    """`thread: True`, and the bot stopped while Discord was still making the thread: the
    process that comes back holds only the other shard, so no guild object for the song's
    server, and it still opens (or adopts) the thread by ids and posts the takes inside."""
    async with world(tmp_path, webhooks=False) as w:
        w.mg.script_delays(HOLD)
        w.dc.faults.add("POST", THREAD_POSTS, None, count=1, delay=3.0)
        task_id, _ = await ask(w)
        await poll_until(
            lambda: bool(w.dc.find_requests("POST", path=THREAD_POSTS)), 15, "a thread asked"
        )
        row = await wait_status_of(w, task_id, "submitted")
        await w.bot.stop(kill=True)
        assert stored(w, task_id).thread_id is None

        elsewhere = 1 - shard_of(w.dc.guild_id, 2)
        w.env.update(SHARD_COUNT="2", SHARD_IDS=str(elsewhere))
        await w.start_bot(wait_sync=elsewhere == 0)
        assert "ready as TestBot in 0 servers" in w.bot.log_text()
        row = await wait_task(w, task_id, lambda r: r.thread_id is not None, "the thread")
        assert row.thread_refusal is None and row.thread_id == row.status_message_id
        w.mg.complete_task(mg_id(row))
        await wait_status_of(w, task_id, "delivered", timeout=45)
        [result] = results_for(w, task_id)
        assert result.channel_id == row.thread_id
        assert [t.id for t in w.dc.threads()] == [row.thread_id]
