"""Audio in PostgreSQL (`bot.core.media.blobs`): a queued upload and a kept input reach
MusicGPT byte for byte through the database, from a store (a process) other than the one that
took them, in bounded memory, and leave no file behind."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.config import Settings
from bot.core.errors import MusicGPTRateLimited, MusicGPTValidationError
from bot.core.media.blobs import CHUNK, SWEEP_GRACE, BlobMissing, DatabaseAudio
from bot.core.media.inputs import InputStore
from bot.core.models import QuotaLimits, Request, SubmitReceipt, Task, TaskKind, TaskStatus
from bot.core.store import Store
from bot.core.tracker import Tracker
from tests.unit.conftest import FakeClock, drive
from tests.unit.core.tracker.conftest import FakeMusicGPT

pytestmark = pytest.mark.postgres

MB = 1024 * 1024
DAY = 86400.0
LIMITS = QuotaLimits(daily=5, active=5)


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[Store]:
    async with Store.open(postgres_url) as opened:
        yield opened


def upload(folder: Path, content: bytes, suffix: str = ".mp3") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{os.urandom(8).hex()}{suffix}"
    path.write_bytes(content)
    return path


class HashingMusicGPT(FakeMusicGPT):
    """Records the sha256 and name of each file it is sent, read while the upload runs."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[tuple[str, str]] = []

    async def _submit(self, **fields: Any) -> SubmitReceipt:
        path = Path(fields["audio"].path)
        self.received.append((hashlib.sha256(path.read_bytes()).hexdigest(), path.name))
        return await super()._submit(**fields)


async def test_a_multi_megabyte_file_comes_back_byte_for_byte(pg: Store, tmp_path: Path):
    content = os.urandom(5 * MB + 12345)  # 6 chunks, the last one short
    digest = hashlib.sha256(content).hexdigest()
    audio = DatabaseAudio(pg, tmp_path / "audio")
    source = upload(tmp_path / "in", content, ".flac")
    tracemalloc.start()
    try:
        assert await audio.hold(source) == digest
        target = tmp_path / "out.flac"
        assert await audio.write_to(digest, target)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest
    head = await audio.head(digest)
    assert head is not None and (head.size, head.chunks, head.extension) == (
        len(content),
        6,
        ".flac",
    )
    # One chunk at a time each way (plus what the driver holds for it), never the file.
    assert peak < 4 * CHUNK
    assert not list(tmp_path.glob("*.part"))
    assert not await audio.write_to("f" * 64, tmp_path / "none")


async def test_bytes_that_dont_match_their_hash_are_never_sent(pg: Store, tmp_path: Path):
    audio = DatabaseAudio(pg, tmp_path / "audio")
    digest = await audio.hold(upload(tmp_path / "in", b"song bytes"), digest="e" * 64)
    with pytest.raises(BlobMissing, match="don't match"):
        await audio.write_to(digest, tmp_path / "out.mp3")
    assert not (tmp_path / "out.mp3").exists()
    assert not list(tmp_path.glob("*.part"))


async def test_another_process_sends_the_upload_one_took(postgres_url: str, tmp_path: Path) -> None:
    """Process A queues an upload and stops before sending it (MusicGPT busy); process B, with
    a folder of its own, sends exactly those bytes and leaves no file behind."""
    content = os.urandom(3 * MB)
    settings = Settings(discord_token="t", musicgpt_api_key="k")
    request = Request(TaskKind.SING, 1, 10, 20, "ballad", "la", audio_filename="a.mp3")
    folder_a, folder_b = tmp_path / "a", tmp_path / "b"
    clock = FakeClock()
    async with Store.open(postgres_url) as store_a:
        taking = HashingMusicGPT()
        taking.release_submit.clear()
        audio_a = DatabaseAudio(store_a, folder_a / "audio", clock=clock)
        tracker_a = Tracker(store_a, taking, settings, clock=clock, audio=audio_a)
        path = upload(folder_a / "audio", content)
        created = await tracker_a.submit(
            request, limits=LIMITS, audio_path=path, audio_duration=3.0
        )
        assert isinstance(created, Task)
        assert created.audio_path is None
        assert created.input_sha256 == hashlib.sha256(content).hexdigest()
        assert not path.exists()  # the database holds it now
        # A never started its dispatcher: as good as killed after answering.
    async with Store.open(postgres_url) as store_b:
        sending = HashingMusicGPT()
        audio_b = DatabaseAudio(store_b, folder_b / "audio", clock=clock)
        tracker_b = Tracker(store_b, sending, settings, clock=clock, audio=audio_b)
        await tracker_b.start()
        try:

            async def submitted() -> bool:
                task = await store_b.get_task(created.id)
                return task is not None and task.status is TaskStatus.SUBMITTED

            await drive(clock, submitted)
        finally:
            await tracker_b.stop()
        assert [digest for digest, _ in sending.received] == [created.input_sha256]
        assert sending.received[0][1].endswith(".mp3")
        assert list((folder_b / "audio").iterdir()) == []  # the temporary file went
        # Sent, and kept by nothing: the sweep takes the bytes once the grace is over.
        assert await audio_b.sweep() == 0
        clock.advance(SWEEP_GRACE + 1)
        assert await audio_b.sweep() == 1
        assert await store_b.blob(created.input_sha256 or "") is None


async def test_a_task_whose_bytes_are_gone_fails_with_a_refund(pg: Store, tmp_path: Path):
    settings = Settings(discord_token="t", musicgpt_api_key="k")
    clock = FakeClock()
    musicgpt = HashingMusicGPT()
    tracker = Tracker(
        pg, musicgpt, settings, clock=clock, audio=DatabaseAudio(pg, tmp_path / "audio")
    )
    created = await pg.create_task(
        Request(TaskKind.SING, 1, 10, 20, "ballad", "la", audio_filename="a.mp3"),
        now=clock.now(),
        daily_quota=5,
        max_active=5,
        input_sha256="0" * 64,  # named, never stored
    )
    assert isinstance(created, Task)
    await tracker.start()
    try:

        async def failed() -> bool:
            task = await pg.get_task(created.id)
            return task is not None and task.status is TaskStatus.FAILED

        await drive(clock, failed)
    finally:
        await tracker.stop()
    task = await pg.get_task(created.id)
    assert task is not None and task.quota_refunded
    assert musicgpt.received == []


async def test_a_kept_input_is_reused_and_evicted_through_the_database(
    postgres_url: str, tmp_path: Path
) -> None:
    """Kept by one process, reused by another (Again), then evicted: the row and the bytes."""
    content = os.urandom(2 * MB + 1)
    digest = hashlib.sha256(content).hexdigest()
    settings = Settings(discord_token="t", musicgpt_api_key="k")
    clock = FakeClock()
    request = Request(TaskKind.SING, 1, 10, 20, "ballad", "la", audio_filename="a.wav")

    def make_inputs(store: Store, folder: Path, audio: DatabaseAudio) -> InputStore:
        return InputStore(
            store,
            folder / "inputs",
            audio_dir=folder / "audio",
            retention_days=7,
            cap_bytes=64 * MB,
            clock=clock,
            blobs=audio,
        )

    async with Store.open(postgres_url) as store_a, Store.open(postgres_url) as store_b:
        audio_a = DatabaseAudio(store_a, tmp_path / "a" / "audio", clock=clock)
        inputs_a = make_inputs(store_a, tmp_path / "a", audio_a)
        tracker_a = Tracker(
            store_a, HashingMusicGPT(), settings, clock=clock, inputs=inputs_a, audio=audio_a
        )
        path = upload(tmp_path / "a" / "audio", content, ".wav")
        created = await tracker_a.submit(
            request, limits=LIMITS, audio_path=path, audio_duration=3.0
        )
        assert isinstance(created, Task) and created.input_sha256 == digest
        assert [k.sha256 for k in await store_a.kept_inputs()] == [digest]
        assert not (tmp_path / "a" / "inputs").exists()  # no file of A's holds it

        audio_b = DatabaseAudio(store_b, tmp_path / "b" / "audio", clock=clock)
        inputs_b = make_inputs(store_b, tmp_path / "b", audio_b)
        (tmp_path / "b" / "audio").mkdir(parents=True)
        reused = await inputs_b.reuse(digest)
        assert reused is not None and reused.suffix == ".wav"
        assert hashlib.sha256(reused.read_bytes()).hexdigest() == digest

        # Queued still: neither eviction nor the sweep may take it.
        clock.advance(8 * DAY)
        assert await inputs_b.evict() == 0
        assert await store_b.blob(digest) is not None
        cancelled = await tracker_a.cancel(created.id, created.user_id)
        assert cancelled is not None
        assert await inputs_b.evict() == 1
        assert await store_b.get_input(digest) is None
        assert await store_b.blob(digest) is None
        assert await inputs_b.reuse(digest) is None


async def test_a_task_queued_with_a_file_of_its_own_is_sent_from_it(pg: Store, tmp_path: Path):
    """A task queued before its bytes went to the database (copied from SQLite with its file
    left on disk) is sent from that file, and nothing is written out for it."""
    audio = DatabaseAudio(pg, tmp_path / "audio")
    own = upload(tmp_path / "old", b"queued before")
    created = await pg.create_task(
        Request(TaskKind.SING, 1, 10, 20, "ballad", "la", audio_filename="a.mp3"),
        now=1.0,
        daily_quota=5,
        max_active=5,
        audio_path=str(own),
        input_sha256="1" * 64,
    )
    assert isinstance(created, Task)
    async with audio.sendable(created) as sent:
        assert sent == created
    link = dataclasses.replace(created, audio_path=None, audio_url="https://cdn.example/a.mp3")
    async with audio.sendable(link) as sent:
        assert sent == link
    assert not (tmp_path / "audio").exists()


async def test_keeping_a_file_on_its_own_stores_its_bytes(pg: Store, tmp_path: Path) -> None:
    """Kept at submit (keeping at queue time failed): the bytes go to the database with the
    row, so a reuse finds them."""
    content = os.urandom(100_000)
    audio = DatabaseAudio(pg, tmp_path / "audio")
    inputs = InputStore(
        pg,
        tmp_path / "inputs",
        audio_dir=tmp_path / "audio",
        retention_days=7,
        cap_bytes=64 * MB,
        blobs=audio,
    )
    digest = await inputs.keep(upload(tmp_path / "in", content, ".ogg"))
    assert digest == hashlib.sha256(content).hexdigest()
    reused = await inputs.reuse(digest)
    assert reused is not None and reused.read_bytes() == content and reused.suffix == ".ogg"


@pytest.mark.parametrize(
    ("error", "ends"),
    [
        (MusicGPTValidationError("no"), TaskStatus.FAILED),
        (MusicGPTRateLimited("busy", retry_after=600), TaskStatus.QUEUED),
    ],
)
async def test_a_refused_upload_leaves_no_file_and_keeps_its_bytes_while_queued(
    pg: Store, tmp_path: Path, error: Exception, ends: TaskStatus
) -> None:
    """Refused (422) or not taken (429, back in the queue): the temporary file goes either
    way; a song back in the queue still has its bytes in the database."""
    clock = FakeClock()
    musicgpt = HashingMusicGPT()
    musicgpt.submit_error = error
    audio = DatabaseAudio(pg, tmp_path / "audio", clock=clock)
    settings = Settings(discord_token="t", musicgpt_api_key="k")
    tracker = Tracker(pg, musicgpt, settings, clock=clock, audio=audio)
    request = Request(TaskKind.SING, 1, 10, 20, "ballad", "la", audio_filename="a.mp3")
    path = upload(tmp_path / "audio", os.urandom(300_000))
    created = await tracker.submit(request, limits=LIMITS, audio_path=path, audio_duration=3.0)
    assert isinstance(created, Task)
    await tracker.start()
    try:

        async def answered() -> bool:
            task = await pg.get_task(created.id)
            return bool(musicgpt.received) and task is not None and task.status is ends

        await drive(clock, answered)
    finally:
        await tracker.stop()
    assert list((tmp_path / "audio").iterdir()) == []
    clock.advance(SWEEP_GRACE + 1)
    await audio.sweep()
    kept = await audio.head(created.input_sha256 or "")
    assert (kept is not None) is (ends is TaskStatus.QUEUED)
