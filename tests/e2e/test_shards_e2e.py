"""Two real bot processes, one gateway shard of two each (SHARD_COUNT=2, SHARD_IDS=0 / 1).

Each has its own SQLite database for now (the shared PostgreSQL one is being built, issue 21)
and its own WEBHOOK_PORT. Two servers, one on each shard: a /sing in each is answered by
the process holding its shard and the song is delivered there; the commands are synced
once, by shard 0's process; each /readyz names its own shard.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from tests.standins.discord import GuildSpec, shard_of
from tests.support.env import bot_env
from tests.support.process import BotProcess, free_port
from tests.support.world import World, request_song, wait_status_of, world


async def readyz(w: World) -> dict[str, Any]:
    url = f"http://127.0.0.1:{w.webhook_port}/readyz"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response,
    ):
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
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
        env1 = bot_env(dc, mg, dirs[1], free_port(), SHARD_IDS="1", **shards)
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
            assert "synced 10 global commands" in w0.bot.log_text()
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
                assert row["guild_id"] == guild_on[shard]
                assert [t["guild_id"] for t in w.tasks()] == [guild_on[shard]]
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
