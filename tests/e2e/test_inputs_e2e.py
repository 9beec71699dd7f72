"""Uploads kept for Again (`bot/core/media/inputs.py`), through the real bot: once per content,
next to
the database, with the hash on every task made from it; nothing kept with retention 0."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from tests.support.env import FIXTURES
from tests.support.world import poll_until, request_song, wait_task, world

SENT = ("submitted", "completed", "delivering", "delivered")  # MusicGPT has it


def kept_files(database: Path) -> list[Path]:
    folder = database.parent / "inputs"
    return sorted(folder.iterdir()) if folder.exists() else []


async def audio_folder_empties(database: Path) -> None:
    """Each task's own copy leaves the audio folder right after MusicGPT took it."""
    folder = database.parent / "audio"
    await poll_until(lambda: not any(folder.iterdir()), 10, "an empty audio folder")


async def test_the_same_upload_by_two_members_is_kept_once(tmp_path: Path) -> None:
    content = (FIXTURES / "tone.mp3").read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    async with world(tmp_path, USER_MAX_ACTIVE="5", MUSICGPT_MAX_PARALLEL="2") as w:
        ids = [await request_song(w, user=user) for user in (w.alice, w.bob)]
        rows = [await wait_task(w, i, lambda r: r.status in SENT, "sent") for i in ids]
        assert [r.user_id for r in rows] == [w.alice.id, w.bob.id]
        assert [r.input_sha256 for r in rows] == [digest, digest]
        assert [r.audio_path for r in rows] == [None, None]
        [kept] = kept_files(w.database)
        assert kept.name == f"{digest}.mp3"
        assert kept.read_bytes() == content
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        assert stat.S_IMODE(kept.parent.stat().st_mode) == 0o700
        # Both uploads reached MusicGPT, and their own copies left the audio folder.
        uploads = [s.upload.sha256 for s in w.mg.submits if s.upload is not None]
        assert uploads == [digest, digest]
        await audio_folder_empties(w.database)
        # A restart (and its clean-up of stray audio) leaves the kept upload as it was.
        await w.restart_bot()
        assert kept_files(w.database) == [kept] and kept.read_bytes() == content


async def test_retention_zero_keeps_nothing(tmp_path: Path) -> None:
    async with world(tmp_path, INPUT_RETENTION_DAYS="0") as w:
        task_id = await request_song(w)
        row = await wait_task(w, task_id, lambda r: r.status in SENT, "sent")
        [sent] = w.mg.submits
        assert sent.upload is not None  # the song went out as ever
        assert row.input_sha256 is None
        await w.wait_result()
        await audio_folder_empties(w.database)
        assert kept_files(w.database) == []
