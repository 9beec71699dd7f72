"""Audio any process can send (issue 21): two real bot processes on one PostgreSQL database,
each with a folder (DATABASE_PATH) of its own. Process A takes an upload while MusicGPT is
busy and is killed with it still queued; process B sends exactly those bytes, then Again of
the input A kept, from the database alone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.e2e.test_buttons_e2e import private_answer
from tests.support.env import FIXTURES, bot_env
from tests.support.process import BotProcess, free_port
from tests.support.world import (
    World,
    poll_until,
    request_song,
    results_for,
    stored,
    wait_results_for,
    wait_status_of,
    wait_task,
    world,
)

pytestmark = pytest.mark.postgres


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def test_a_killed_process_upload_is_sent_and_repeated_by_another(
    tmp_path: Path, postgres_url: str
) -> None:
    digest = hashlib.sha256((FIXTURES / "tone.mp3").read_bytes()).hexdigest()
    dirs = [tmp_path / "a", tmp_path / "b"]
    for folder in dirs:
        folder.mkdir()
    async with world(dirs[0], DATABASE_URL=postgres_url, USER_MAX_ACTIVE="5") as a:
        dc, mg = a.dc, a.mg
        mg.faults.add("submit", "rate_limit", count=None, retry_after=60)  # busy, for A
        song = await request_song(a)
        await poll_until(
            lambda: "MusicGPT was busy (429)" in a.bot.log_text(), 30, "A's submit refused"
        )
        await wait_task(a, song, lambda r: r.status.value == "queued", "queued again")
        await a.bot.stop(kill=True)  # SIGKILL, the song still queued
        row = stored(a, song)
        assert (row.audio_path, row.input_sha256) == (None, digest)
        # Nothing of it on A's disk: the bytes are in the database alone.
        assert files_in(dirs[0] / "audio") == [] and files_in(dirs[0] / "inputs") == []
        assert all(s.status == 429 for s in mg.submits)
        mg.faults.clear()

        env = bot_env(dc, mg, dirs[1], free_port(), DATABASE_URL=postgres_url)
        b = World(dc, mg, dirs[1], env, BotProcess(env, dirs[1]), a.users)
        try:
            await b.start_bot()
            await wait_status_of(b, song, "delivered", timeout=45)
            accepted = [s for s in mg.submits if s.status == 200]
            assert [s.upload.sha256 if s.upload else None for s in accepted] == [digest]

            # Again, from B, of the input A kept: sent from the database, byte for byte.
            [result] = results_for(b, song)
            again = await dc.click(dc.message(result.id), f"song:again:{song}", user_id=b.bob.id)
            answer = await private_answer(again)
            [child] = [t.id for t in b.tasks() if t.id != song]
            assert f"song #{child}" in answer.lower(), answer
            await wait_results_for(b, [child])
            accepted = [s for s in mg.submits if s.status == 200]
            assert [s.upload.sha256 if s.upload else None for s in accepted] == [digest] * 2
            assert stored(b, child).input_sha256 == digest
            # B's temporary files went once MusicGPT had them; it keeps nothing on disk.
            await poll_until(lambda: files_in(dirs[1] / "audio") == [], 10, "B's audio folder")
            assert files_in(dirs[1] / "inputs") == []
        finally:
            await b.bot.stop()
        assert b.bot.returncode == 0, b.bot.log_text(4000)
        assert "Traceback" not in b.bot.log_text(), b.bot.log_text(6000)
