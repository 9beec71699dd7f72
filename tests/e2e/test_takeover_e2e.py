"""Two real bot processes on one PostgreSQL database (one gateway shard each): the process
holding a song's claim is SIGKILLed, and the other takes the claim over once its lease runs
out, within seconds.

* Mid-submit: MusicGPT took the song but its answer never reached the dead process. The
  other can't know whether MusicGPT has it, so it fails the song with a refund and the honest
  message, and never sends it a second time.
* Mid-delivery: Discord stored the result message but the dead process never recorded it.
  The other finds that message instead of posting the takes again.

The songs' audio is a link (`audio_url`), which either process can send: an upload is still
kept on the disk of the process that took it.
"""

from __future__ import annotations

import time
from pathlib import Path

import asyncpg
import pytest

from bot.core.tracker import RESTARTED_MID_SUBMIT
from tests.standins.discord import GuildSpec, shard_of
from tests.standins.musicgpt import HOLD
from tests.support.env import bot_env
from tests.support.process import BotProcess, free_port
from tests.support.world import (
    World,
    marker,
    mg_id,
    poll_until,
    results_for,
    status_messages_for,
    stored,
    wait_status_of,
    wait_task,
    world,
)

pytestmark = pytest.mark.postgres

LINK = {"prompt": "warm soul vocal", "audio_url": "https://example.com/beat.mp3"}
SHARDS = {"SHARD_COUNT": "2", "DEV_GUILD_ID": "", "USER_MAX_ACTIVE": "10"}


async def holder_of(url: str, task_id: int) -> str | None:
    """Who holds the task's claim: `host:pid:random` (bot.core.tracker.context)."""
    connection = await asyncpg.connect(url)
    try:
        holder: str | None = await connection.fetchval(
            "SELECT claimed_by FROM tasks WHERE id = $1", task_id
        )
        return holder
    finally:
        await connection.close()


async def sing_a_link(w: World, channel_id: int | None = None) -> int:
    """/sing with an instrumental's link, lyrics typed in the form; the new song's id."""
    before = {t.id for t in w.tasks()}
    ix = await w.dc.invoke_command("sing", LINK, user_id=w.alice.id, channel_id=channel_id)
    assert (await ix.wait_callback()).type == 9  # the lyrics form
    await ix.submit_modal({"Lyrics": "la la la"}, user_id=w.alice.id)

    def new_task() -> int | None:
        fresh = [t.id for t in w.tasks() if t.id not in before]
        return fresh[0] if fresh else None

    task_id = int(await poll_until(new_task, 30, "the song to be stored"))
    await wait_task(w, task_id, lambda r: r.status_message_id is not None, "a status message")
    return task_id


class Pair:
    """Two processes on one database: `w.bot` and `other.bot`, one shard of two each."""

    def __init__(self, w: World, other: World) -> None:
        self.w, self.other = w, other

    def by_pid(self, pid: int) -> tuple[BotProcess, BotProcess]:
        """(the process with `pid`, the other one)."""
        if self.w.bot.pid == pid:
            return self.w.bot, self.other.bot
        assert self.other.bot.pid == pid, f"no process {pid} of ours holds the claim"
        return self.other.bot, self.w.bot

    async def kill_holder(self, url: str, task_id: int) -> BotProcess:
        """SIGKILL the process holding the task's claim; the survivor."""
        holder = await holder_of(url, task_id)
        assert holder is not None, "no one holds the claim"
        dead, survivor = self.by_pid(int(holder.split(":")[1]))
        await dead.stop(kill=True)
        return survivor

    def logs(self) -> str:
        return self.w.bot.log_text() + self.other.bot.log_text()


def second_process(w: World, tmp: Path, url: str, shard: int) -> World:
    """Another bot on `w`'s stand-ins and database, holding `shard` of two (not started)."""
    folder = tmp / "p1"
    folder.mkdir()
    env = bot_env(
        w.dc,
        w.mg,
        folder,
        free_port(),
        webhooks=False,
        SHARD_IDS=str(shard),
        DATABASE_URL=url,
        **SHARDS,
    )
    return World(w.dc, w.mg, folder, env, BotProcess(env, folder), w.users)


async def two_processes(w: World, tmp: Path, url: str) -> Pair:
    """Start `w`'s bot (shard 0) and a second one (shard 1) on the same database."""
    other = second_process(w, tmp, url, 1)
    await w.start_bot()
    await other.start_bot()
    return Pair(w, other)


async def test_a_song_left_mid_submit_by_a_killed_process_is_refunded_by_the_other(
    tmp_path: Path, postgres_url: str
) -> None:
    p0 = tmp_path / "p0"
    p0.mkdir()
    async with world(
        p0, start=False, webhooks=False, SHARD_IDS="0", DATABASE_URL=postgres_url, **SHARDS
    ) as w:
        pair = await two_processes(w, tmp_path, postgres_url)
        try:
            # MusicGPT creates the task, then holds its answer: the submit is under way.
            w.mg.faults.add("submit", "slow", seconds=60)
            task_id = await sing_a_link(w)
            await poll_until(lambda: len(w.mg.submits) == 1, 30, "the submit to arrive")
            assert stored(w, task_id).status == "submitting"
            survivor = await pair.kill_holder(postgres_url, task_id)
            killed_at = time.monotonic()

            failed = await wait_status_of(w, task_id, "failed", timeout=45)
            took = time.monotonic() - killed_at
            print(f"mid-submit claim taken over {took:.1f} s after the kill")
            assert failed.error == RESTARTED_MID_SUBMIT and failed.quota_refunded
            assert len(w.mg.submits) == 1  # never sent a second time
            assert survivor.running
            assert f"task {task_id} was left mid-submit" in pair.logs()
        finally:
            await pair.other.bot.stop()


async def test_a_delivery_left_by_a_killed_process_is_found_not_posted_twice(
    tmp_path: Path, postgres_url: str
) -> None:
    p0 = tmp_path / "p0"
    p0.mkdir()
    async with world(
        p0, start=False, webhooks=False, SHARD_IDS="0", DATABASE_URL=postgres_url, **SHARDS
    ) as w:
        pair = await two_processes(w, tmp_path, postgres_url)
        try:
            w.mg.script_delays(HOLD)
            task_id = await sing_a_link(w)
            row = await wait_status_of(w, task_id, "submitted")
            channel = row.channel_id
            # Discord holds the result post 5 s before storing it: time to kill its sender.
            w.dc.faults.add("POST", rf"/channels/{channel}/messages$", None, count=1, delay=5.0)
            w.mg.complete_task(mg_id(row))

            def result_posted() -> bool:
                return any(
                    marker(task_id) in ((r.json or {}).get("content") or "")
                    for r in w.dc.find_requests("POST", path=rf"/channels/{channel}/messages$")
                )

            await poll_until(result_posted, 45, "the result post")
            assert stored(w, task_id).status == "delivering"
            survivor = await pair.kill_holder(postgres_url, task_id)
            killed_at = time.monotonic()
            await w.dc.wait_until(lambda: results_for(w, task_id), 15, "Discord to store it")

            delivered = await wait_status_of(w, task_id, "delivered", timeout=45)
            took = time.monotonic() - killed_at
            print(f"delivery claim taken over {took:.1f} s after the kill")
            [result] = results_for(w, task_id)
            assert delivered.delivered_message_ids == (int(result.id),)
            assert delivered.delivery_attempts == 2  # the taker looked before posting
            assert len(status_messages_for(w, task_id)) == 1
            assert not delivered.quota_refunded
            assert len(w.mg.submits) == 1
            assert survivor.running
            assert f"task {task_id} was left undelivered" in pair.logs()
        finally:
            await pair.other.bot.stop()


async def test_a_process_starting_leaves_the_others_live_claim_alone(
    tmp_path: Path, postgres_url: str
) -> None:
    """Start-up takes over only expired claims: a process starting while another is sending a
    song to MusicGPT leaves it to that one, which records MusicGPT's answer and delivers."""
    p0 = tmp_path / "p0"
    p0.mkdir()
    async with world(p0, start=False, webhooks=False, DATABASE_URL=postgres_url, **SHARDS) as w:
        # The first process holds shard 0 (it syncs the commands) and a server on it.
        guild = w.dc.guild_id
        if shard_of(guild, 2) != 0:
            guild = (await w.dc.add_guild(GuildSpec("On shard 0"), shard=(0, 2))).id
        w.env["SHARD_IDS"] = "0"
        await w.start_bot()
        other = second_process(w, tmp_path, postgres_url, 1)
        try:
            # MusicGPT takes the song and answers 25 s later: the other starts meanwhile.
            w.mg.faults.add("submit", "slow", seconds=25)
            task_id = await sing_a_link(w, channel_id=w.dc.channel_ids(guild)[0])
            await poll_until(lambda: len(w.mg.submits) == 1, 30, "the submit to arrive")
            await other.start_bot()  # healthy: its start-up recovery is over
            assert stored(w, task_id).status == "submitting"  # still the first one's

            delivered = await wait_status_of(w, task_id, "delivered", timeout=60)
            assert not delivered.quota_refunded and delivered.error is None
            assert len(w.mg.submits) == 1 and len(results_for(w, task_id)) == 1
            assert "left mid-submit" not in w.bot.log_text() + other.bot.log_text()
        finally:
            await other.bot.stop()
