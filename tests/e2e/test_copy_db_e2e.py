"""From one SQLite file to PostgreSQL: songs made on SQLite, `python -m bot copy-db URL`,
then the bot started with DATABASE_URL sees them (/history) and goes on from there."""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.e2e.test_buttons_e2e import new_task_ids, private_answer
from tests.support.env import FIXTURES
from tests.support.process import free_port
from tests.support.world import (
    World,
    poll_until,
    request_song,
    results_for,
    stored,
    wait_results_for,
    wait_status_of,
    world,
)

EPHEMERAL = 64


async def history_ids(w: World, user_id: int) -> list[int]:
    ix = await w.dc.invoke_command("history", {}, user_id=user_id)
    callback = await ix.wait_callback()
    assert callback.data is not None and callback.data["flags"] & EPHEMERAL, callback
    return [int(n) for n in re.findall(r"^\*\*#(\d+)\*\*", callback.data["content"], re.M)]


async def copy_db(w: World, url: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "copy-db",
        url,
        env={k: v for k, v in w.env.items() if k != "DATABASE_URL"},
        cwd=w.tmp,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


@pytest.mark.postgres
async def test_copy_db_then_a_start_on_postgres_keeps_every_song(
    tmp_path: Path, postgres_url: str
) -> None:
    async with world(tmp_path, USER_DAILY_QUOTA="5") as w:
        first = await request_song(w, prompt="first song")
        second = await request_song(w, prompt="second song")
        await wait_results_for(w, [first, second])
        for task_id in (first, second):
            await wait_status_of(w, task_id, "delivered")
        await w.bot.stop()
        before = stored(w, second)

        code, out, err = await copy_db(w, postgres_url)
        assert code == 0, err
        assert out.count("\n") == 1 and "2 songs, 2 charges" in out

        w.env["DATABASE_URL"] = postgres_url
        await w.start_bot()
        # (The URL itself is among the log's secrets: without a password it shows redacted.)
        assert "starting; database PostgreSQL at " in w.bot.log_text()
        assert await history_ids(w, w.alice.id) == [second, first]
        after = stored(w, second)  # read from PostgreSQL now
        assert (after.status.value, after.delivered_message_ids) == (
            "delivered",
            before.delivered_message_ids,
        )
        third = await request_song(w, prompt="third song")
        assert third > second  # ids go on after the copied ones
        await wait_status_of(w, third, "delivered")
        assert (await history_ids(w, w.alice.id))[:3] == [third, second, first]
        # The quota charged on SQLite still counts on PostgreSQL.
        assert stored(w, first).quota_day == stored(w, third).quota_day

        # A second copy into the database now in use: refused, nothing changed.
        await w.bot.stop()
        code, out, err = await copy_db(w, postgres_url)
        assert code == 1 and out == "" and "already holds" in err
        await w.start_bot()
        assert (await history_ids(w, w.alice.id))[:3] == [third, second, first]


async def test_an_unreachable_database_url_is_one_line_and_exit_2(tmp_path: Path) -> None:
    url = f"postgresql://bot:hunter2@127.0.0.1:{free_port()}/bot"
    async with world(tmp_path, start=False, log_level="INFO", DATABASE_URL=url) as w:
        await w.bot.start()
        await poll_until(lambda: not w.bot.running, 30, "the bot to exit")
        text = w.bot.log_text()
        assert w.bot.returncode == 2, text
        assert "Traceback" not in text and "hunter2" not in text
        [failure] = [line for line in text.splitlines() if " ERROR " in line]
        assert "DATABASE_URL postgresql://bot:<redacted>@127.0.0.1" in failure
        assert "can't be reached" in failure


@pytest.mark.postgres
async def test_a_moved_bot_sends_and_repeats_uploads_from_the_database(
    tmp_path: Path, postgres_url: str
) -> None:
    """A song queued on SQLite, and a kept input, are copied with their bytes: with the old
    folder's files gone, the bot on PostgreSQL sends the queued song and repeats the kept
    one, byte for byte."""
    digest = hashlib.sha256((FIXTURES / "tone.mp3").read_bytes()).hexdigest()
    async with world(tmp_path, USER_MAX_ACTIVE="5") as w:
        first = await request_song(w, prompt="first song")
        await wait_results_for(w, [first])
        await wait_status_of(w, first, "delivered")
        w.mg.faults.add("submit", "rate_limit", count=None, retry_after=60)  # busy: it waits
        waiting = await request_song(w, prompt="waiting song")
        await poll_until(
            lambda: "MusicGPT was busy (429)" in w.bot.log_text(), 30, "the submit refused"
        )
        await w.bot.stop()
        assert stored(w, waiting).status == "queued" and stored(w, waiting).audio_path

        code, out, err = await copy_db(w, postgres_url)
        assert code == 0, err
        assert "1 kept inputs" in out and "2 audio files" in out and "missing" not in out
        for folder in ("inputs", "audio"):
            shutil.rmtree(w.database.parent / folder)
        w.mg.faults.clear()

        w.env["DATABASE_URL"] = postgres_url
        await w.start_bot()
        await wait_status_of(w, waiting, "delivered", timeout=45)
        [result] = results_for(w, first)
        again = await w.dc.click(w.dc.message(result.id), f"song:again:{first}", user_id=w.bob.id)
        await private_answer(again)
        [child] = new_task_ids(w, {first, waiting})
        await wait_status_of(w, child, "delivered", timeout=45)
        accepted = [s.upload.sha256 for s in w.mg.submits if s.status == 200 and s.upload]
        assert accepted == [digest] * 3
