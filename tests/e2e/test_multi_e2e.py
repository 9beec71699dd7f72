"""Several real bot processes on ONE PostgreSQL database (issue 21), through the stand-ins.
Each server's /sing is answered by the process holding its shard and
delivered once; the commands are synced once; songs copied from SQLite by `copy-db` are
there for every process; a webhook reaching a process that didn't submit the song is
confirmed there and the song delivered once.

The burst with a SIGKILL and the shared poll budget are in test_multi_burst_e2e.py; claims
taken over from a killed process in test_takeover_e2e.py; the shared limits learned from
429s in test_shared_limits_e2e.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.test_copy_db_e2e import copy_db, history_ids
from tests.e2e.test_metrics_e2e import TOKEN, samples
from tests.e2e.test_shards_e2e import readyz
from tests.e2e.test_song_e2e import private, result_of
from tests.standins.musicgpt import HOLD
from tests.support.multi import multi_world, processes_on
from tests.support.world import (
    mg_id,
    poll_until,
    request_song,
    results_for,
    status_messages_for,
    wait_status_of,
    wait_status_text,
    world,
)

pytestmark = pytest.mark.postgres

LIMITS = {"USER_MAX_ACTIVE": "10", "USER_DAILY_QUOTA": "20"}


async def test_two_shards_in_two_processes_on_one_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    async with multi_world(tmp_path, postgres_url, processes=2, METRICS_TOKEN=TOKEN, **LIMITS) as m:
        dc = m.dc
        assert sorted(dc.connected_shards()) == [(0, 2), (1, 2)]
        # One global PUT, by shard 0's process; the other leaves it to that one.
        puts = dc.find_requests(method="PUT")
        assert [r.path for r in puts] == [f"/applications/{dc.app_id}/commands"]
        assert re.search(r"synced \d+ global commands", m[0].bot.log_text())
        assert "not syncing commands: the process holding shard 0 does" in m[1].bot.log_text()
        for shard in (0, 1):
            body = await readyz(m[shard])
            assert (body["shards"], body["database"]) == ([shard], "postgresql"), body
            assert "in 1 server;" in m[shard].bot.log_text()

        # A /sing in each server: answered by the process holding its shard (the stand-in
        # sends a server's interactions to that session only), both in the one database.
        songs = {
            shard: await request_song(m.holder(shard), channel_id=m.channel(shard))
            for shard in (0, 1)
        }
        for shard, task_id in songs.items():
            row = await wait_status_of(m[shard], task_id, "delivered", timeout=45)
            assert row.guild_id == m.guilds[shard]
            await wait_status_text(m[shard], task_id, "Posted 2 takes")
        assert sorted((t.id, t.guild_id) for t in m.tasks()) == sorted(
            (songs[s], m.guilds[s]) for s in (0, 1)
        )
        for shard, task_id in songs.items():
            [posted] = results_for(m[shard], task_id)
            assert posted.guild_id == m.guilds[shard]
            assert len(status_messages_for(m[shard], task_id)) == 1
        # Each process took its own server's request (its metrics count one queued /sing).
        queued = ("singbot_requests_total", (("kind", "sing"), ("outcome", "queued")))
        assert [(await samples(m[i]))[0][queued] for i in (0, 1)] == [1, 1]
        # Each song sent to MusicGPT once, whichever process's dispatcher claimed it.
        submitted = [s.task_id for s in m.mg.submits if s.task_id]
        assert len(submitted) == len(set(submitted)) == 2
        assert [c for c in await m.stop_all()] == [0, 0], m.logs()
    assert not dc.unhandled_requests


async def test_copy_db_then_two_processes_on_postgres_show_songs_settings_and_votes(
    tmp_path: Path, postgres_url: str
) -> None:
    async with world(tmp_path, **LIMITS) as w:
        # On SQLite: two songs (the second an Again of the first), a vote, a setting.
        first = await request_song(w, prompt="first song")
        result = await result_of(w, first)
        click = await w.dc.click(result, f"song:vote:{first}:2", user_id=w.bob.id)
        await click.wait_callback()
        second = await request_song(w, prompt="second song")
        await result_of(w, second)
        quota = await w.dc.invoke_command("settings quota", {"daily": 7}, user_id=w.alice.id)
        await quota.wait_callback()
        await w.bot.stop()

        code, out, err = await copy_db(w, postgres_url)
        assert code == 0, err
        assert "2 songs, 2 charges" in out

        async with processes_on(w, postgres_url, processes=2) as m:
            # Whichever process holds the old server answers from the copied rows.
            home = m.holder(m.guilds.index(w.dc.guild_id))
            assert await history_ids(home, w.alice.id) == [second, first]
            card = await private(
                await w.dc.invoke_command("song", {"number": first}, user_id=w.alice.id)
            )
            [take2] = [line for line in card.splitlines() if line.startswith("Take 2")]
            assert "👍 1" in take2, card
            view = await private(await w.dc.invoke_command("settings view", {}, user_id=w.alice.id))
            assert "Songs a day per member: 7 (this server's)." in view
            # And the songs go on from there, numbered after the copied ones.
            third = await request_song(home, prompt="third song")
            assert third > second
            await wait_status_of(home, third, "delivered", timeout=45)
            assert (await history_ids(home, w.alice.id))[:3] == [third, second, first]


async def test_a_webhook_to_a_process_that_did_not_submit_is_confirmed_and_delivered_once(
    tmp_path: Path, postgres_url: str
) -> None:
    """Every process gives MusicGPT process 1's address (one load balancer that always picks
    it). Process 0 alone is up when the song is asked, so it submits it; process 1 takes the
    webhook, confirms it with byId and the song is posted once."""
    async with multi_world(
        tmp_path,
        postgres_url,
        processes=2,
        webhook_to=1,
        start=False,
        METRICS_TOKEN=TOKEN,
        **LIMITS,
    ) as m:
        await m.start(0)
        m.mg.script_delays(HOLD)
        asked = m.holder(0)
        task_id = await request_song(asked, channel_id=m.channel(0))
        row = await wait_status_of(asked, task_id, "submitted")
        [submit] = [s for s in m.mg.submits if s.task_id]
        assert submit.fields["webhook_url"].startswith(f"http://127.0.0.1:{m[1].webhook_port}/")

        await m.start(1)
        m.mg.complete_task(mg_id(row))
        await wait_status_of(m[1], task_id, "delivered", timeout=45)
        deliveries = [d for d in m.mg.webhook_deliveries if d.payload.get("task_id") == mg_id(row)]
        assert deliveries and all(d.status == 200 for d in deliveries), deliveries
        # Confirmed with MusicGPT after the webhook, not taken on its word.
        assert any(
            p.query.get("task_id") == mg_id(row) and p.at >= deliveries[0].at
            for p in m.mg.by_id_requests
        )
        await wait_status_text(m[1], task_id, "Posted 2 takes")
        await poll_until(lambda: len(results_for(m[0], task_id)) == 1, 10, "the one post")
        assert len(results_for(m[0], task_id)) == 1
        assert len(status_messages_for(m[0], task_id)) == 1
        assert len([s for s in m.mg.submits if s.task_id]) == 1
        # Process 1 recorded the completion and posted it; process 0 neither.
        posted = "singbot_completion_to_post_seconds_count"
        assert [(await samples(m[i]))[0][(posted, ())] for i in (0, 1)] == [0, 1]


async def test_one_process_killed_the_others_answer_and_it_comes_back(
    tmp_path: Path, postgres_url: str
) -> None:
    """Three processes; the one holding shard 1 is SIGKILLed: the servers on shards 0 and 2
    are still answered and their songs delivered; restarted, it answers its own again."""
    async with multi_world(tmp_path, postgres_url, processes=3, shard_count=3, **LIMITS) as m:
        await m.kill(1)
        assert sorted(m.dc.connected_shards()) == [(0, 3), (2, 3)]
        songs = [
            await request_song(m.holder(shard), channel_id=m.channel(shard)) for shard in (0, 2)
        ]
        for task_id in songs:
            await wait_status_of(m[0], task_id, "delivered", timeout=45)

        await m.start(1)
        again = await request_song(m[1], channel_id=m.channel(1))
        row = await wait_status_of(m[1], again, "delivered", timeout=45)
        assert row.guild_id == m.guilds[1]
        for task_id in (*songs, again):
            assert len(results_for(m[0], task_id)) == 1
        assert "Traceback" not in m[1].bot.log_text(), m.logs()
