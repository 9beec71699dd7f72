"""`python -m bot copy-db URL`: an SQLite database into an empty PostgreSQL one, once."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.copy_db import main
from bot.core.media.blobs import DatabaseAudio
from bot.core.models import SubmitReceipt, Task, WaveformState
from bot.core.store import Store
from tests.support.process import free_port as closed_port
from tests.unit.core.store.conftest import NOW, make_request

ROOT = Path(__file__).resolve().parents[4]
BIG = 1_094_379_364_185_505_822
PNG = b"\x89PNG\r\n\x1a\n a picture"


async def seed(path: Path) -> list[int]:
    """A used SQLite database: songs in several states, charges (one refunded), settings,
    a kept input, a DM choice and a DM copy, values; the task ids."""
    async with Store.open(path) as store:
        ids = []
        for user in (BIG, 2, 3):
            task = await store.create_task(
                make_request(user, guild_id=BIG), now=NOW, daily_quota=5, max_active=5
            )
            assert isinstance(task, Task)
            ids.append(task.id)
        await store.set_dm_copies(BIG, True, NOW)
        await store.claim_next_queued(NOW)
        await store.mark_submitted(
            ids[0], SubmitReceipt("mg-1", ("c",), 3, 1.5), next_poll_at=NOW, now=NOW
        )
        await store.mark_completed(ids[0], [], 2.0, NOW)
        await store.claim_delivery(ids[0], NOW)
        await store.mark_delivered(ids[0], [BIG + 9], NOW)
        await store.mark_failed(ids[1], "boom", NOW)
        await store.set_guild_setting(BIG, "budget", "5")
        await store.put_input("a" * 64, ".mp3", 1234, NOW)
        await store.set_value("webhook_secret", "s3cret")
        return ids


def run_copy(url: str, database: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    env["DATABASE_PATH"] = str(database)
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bot", "copy-db", url],
        env=env,
        cwd=database.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def read(url: str) -> tuple[list[Task], dict[str, str], bool, str | None, Task]:
    async with Store.open(url) as store:
        tasks = [t for i in (1, 2, 3) if (t := await store.get_task(i)) is not None]
        new = await store.create_task(make_request(4), now=NOW, daily_quota=5, max_active=5)
        assert isinstance(new, Task)
        return (
            tasks,
            await store.guild_settings(BIG),
            await store.dm_copies(BIG),
            await store.get_value("webhook_secret"),
            new,
        )


@pytest.mark.postgres
def test_copy_into_an_empty_database_then_again_refused(postgres_url: str, tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    ids = asyncio.run(seed(database))
    done = run_copy(postgres_url, database)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert "\n" not in line
    assert "3 songs, 3 charges, 1 DM copies, 1 settings, 1 kept inputs, 1 DM choices" in line
    tasks, settings, dm, secret, new = asyncio.run(read(postgres_url))
    assert [t.id for t in tasks] == ids
    assert [t.status.value for t in tasks] == ["delivered", "failed", "queued"]
    assert tasks[0].user_id == BIG and tasks[0].delivered_message_ids == (BIG + 9,)
    assert tasks[0].dm_state == "pending" and tasks[0].cost == 2.0
    assert tasks[1].quota_refunded and not tasks[0].quota_refunded
    assert (settings, dm, secret) == ({"budget": "5"}, True, "s3cret")
    assert new.id == max(ids) + 1  # the sequence goes on after the copied ids

    again = run_copy(postgres_url, database)
    assert again.returncode == 1
    assert again.stdout == "" and len(again.stderr.strip().splitlines()) == 1
    assert "already holds the bot's tables" in again.stderr
    tasks_after, *_ = asyncio.run(read(postgres_url))
    assert len(tasks_after) == 3  # nothing changed by the refused copy (ids 1-3 as before)


def test_a_bad_url_or_no_server_is_one_line_and_exit_2(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    asyncio.run(seed(database))
    env = {"DATABASE_PATH": str(database)}
    assert main(["mysql://x@h/db"], env) == 2
    assert main([f"postgresql://bot:pw@127.0.0.1:{closed_port()}/bot"], env) == 2
    assert main([], env) == 2


def test_an_unreachable_server_line_hides_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "bot.sqlite3"
    asyncio.run(seed(database))
    code = main(
        [f"postgresql://bot:hunter2@127.0.0.1:{closed_port()}/bot"],
        {"DATABASE_PATH": str(database)},
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "hunter2" not in err and "<redacted>" in err


async def seed_audio(database: Path, kept: bytes, queued: bytes) -> tuple[str, str, int, int]:
    """A kept input's file, a queued song with its upload in the audio folder and its
    waveform picture drawn, and a queued song whose upload is gone; (kept digest, queued
    digest, queued id, lost id)."""
    kept_digest = hashlib.sha256(kept).hexdigest()
    queued_digest = hashlib.sha256(queued).hexdigest()
    (database.parent / "inputs").mkdir()
    (database.parent / "inputs" / f"{kept_digest}.wav").write_bytes(kept)
    (database.parent / "audio").mkdir()
    upload = database.parent / "audio" / "upload.mp3"
    upload.write_bytes(queued)
    async with Store.open(database) as store:
        await store.put_input(kept_digest, ".wav", len(kept), NOW)
        await store.put_input("c" * 64, ".mp3", 10, NOW)  # its file went
        made = []
        # As the bot stores it: relative to where it ran (copy-db runs from the same place).
        for path in ("audio/upload.mp3", "audio/gone.mp3"):
            task = await store.create_task(
                make_request(), now=NOW, daily_quota=5, max_active=5, audio_path=path
            )
            assert isinstance(task, Task)
            made.append(task.id)
        await store.set_waveform_state(made[0], WaveformState.READY, was=None)
    (database.parent / "waveforms").mkdir()
    (database.parent / "waveforms" / f"waveform-{made[0]}.png").write_bytes(PNG)
    return kept_digest, queued_digest, made[0], made[1]


@pytest.mark.postgres
def test_copy_takes_kept_inputs_and_queued_uploads_into_the_database(
    postgres_url: str, tmp_path: Path
) -> None:
    database = tmp_path / "bot.sqlite3"
    kept, queued = os.urandom(3 * 1024 * 1024 + 7), os.urandom(200_000)
    kept_digest, queued_digest, queued_id, lost_id = asyncio.run(seed_audio(database, kept, queued))
    done = run_copy(postgres_url, database)
    assert done.returncode == 0, done.stderr
    assert "2 kept inputs" in done.stdout
    assert "2 audio files, 2 audio files missing, 1 waveform pictures" in done.stdout

    async def check() -> None:
        async with Store.open(postgres_url) as store:
            audio = DatabaseAudio(store, tmp_path / "elsewhere")
            expected = [(kept_digest, kept, ".wav"), (queued_digest, queued, ".mp3")]
            for digest, content, suffix in expected:
                out = tmp_path / f"out{suffix}"
                assert await audio.write_to(digest, out)
                assert out.read_bytes() == content
                head = await audio.head(digest)
                assert head is not None and head.extension == suffix
            sent = await store.get_task(queued_id)
            assert sent is not None
            assert (sent.audio_path, sent.input_sha256) == (None, queued_digest)
            lost = await store.get_task(lost_id)
            assert lost is not None and lost.audio_path == "audio/gone.mp3"
            assert await audio.head("c" * 64) is None
            assert await store.waveform_png(queued_id) == PNG
            assert await store.waveform_png(lost_id) is None

    asyncio.run(check())
