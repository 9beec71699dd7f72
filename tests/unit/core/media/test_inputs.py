"""The input store (`bot.core.media.inputs`): real files in tmp_path, a real store, a fake clock."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import hashlib
import logging
import os
import stat
import tracemalloc
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.core.config import Settings, load_settings
from bot.core.errors import ConfigError, DiskFull
from bot.core.media.inputs import (
    EVICT_INTERVAL,
    STREAM_CHUNK,
    InputStore,
    link_or_copy,
    sha256_of,
)
from bot.core.models import QuotaLimits, Request, SubmitReceipt, Task, TaskKind, TaskStatus
from bot.core.store import Store
from bot.core.tracker import Tracker
from tests.support.world import poll_until
from tests.unit.conftest import FakeClock, drive
from tests.unit.core.tracker.conftest import FakeMusicGPT

DAY = 86400.0
KB = 1024
BASE = {"DISCORD_TOKEN": "discord-secret-token", "MUSICGPT_API_KEY": "mg-secret-key"}


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "audio"
    folder.mkdir()
    return folder


@pytest.fixture
def make_inputs(
    store: Store, tmp_path: Path, audio_dir: Path, clock: FakeClock
) -> Callable[..., InputStore]:
    def make(**overrides: Any) -> InputStore:
        options: dict[str, Any] = {
            "audio_dir": audio_dir,
            "retention_days": 7,
            "cap_bytes": 2048 * KB * KB,
            "clock": clock,
        }
        options.update(overrides)
        return InputStore(store, tmp_path / "inputs", **options)

    return make


@pytest.fixture
async def inputs(make_inputs: Callable[..., InputStore]) -> AsyncIterator[InputStore]:
    made = make_inputs()
    async with made.running():
        yield made


def upload(audio_dir: Path, content: bytes, suffix: str = ".mp3") -> Path:
    """A downloaded attachment as the intake leaves it in the audio folder."""
    path = audio_dir / f"{hashlib.md5(os.urandom(8)).hexdigest()}{suffix}"  # noqa: S324
    path.write_bytes(content)
    return path


def kept_files(inputs: InputStore) -> list[Path]:
    return sorted(inputs.directory.iterdir())


async def queue_task(store: Store, clock: FakeClock, digest: str | None, user: int = 1) -> Task:
    created = await store.create_task(
        Request(TaskKind.SING, user, 10, 20, "ballad", "la", audio_filename="a.mp3"),
        now=clock.now(),
        daily_quota=100,
        max_active=100,
        audio_path="/nowhere.mp3",
        input_sha256=digest,
    )
    assert isinstance(created, Task)
    return created


async def submit_task(store: Store, clock: FakeClock, task: Task) -> None:
    claimed = await store.claim_next_queued(clock.now())
    assert claimed is not None and claimed.id == task.id
    receipt = SubmitReceipt("mg-1", ("c1",), 30, 1.0)
    assert await store.mark_submitted(task.id, receipt, next_poll_at=clock.now(), now=clock.now())


async def test_identical_uploads_are_kept_once(inputs: InputStore, audio_dir, store, clock):
    content = os.urandom(50 * KB)
    first = await inputs.keep(upload(audio_dir, content))
    second = await inputs.keep(upload(audio_dir, content))
    other = await inputs.keep(upload(audio_dir, os.urandom(50 * KB)))
    assert first == second == hashlib.sha256(content).hexdigest()
    assert other not in (None, first)
    files = kept_files(inputs)
    assert [f.name for f in files] == sorted([f"{first}.mp3", f"{other}.mp3"])
    assert len(await store.kept_inputs()) == 2
    # Private like the rest of the bot's files.
    assert stat.S_IMODE(inputs.directory.stat().st_mode) == 0o700


async def test_reuse_gives_identical_bytes_independent_of_eviction(
    inputs: InputStore, audio_dir, clock
):
    content = os.urandom(80 * KB)
    original = upload(audio_dir, content, ".flac")
    digest = await inputs.keep(original)
    assert digest is not None
    original.unlink()  # submitted: the task's own file went
    reused = await inputs.reuse(digest)
    assert reused is not None
    assert reused.parent == audio_dir and reused.suffix == ".flac"
    assert reused.read_bytes() == content
    clock.advance(8 * DAY)
    assert await inputs.evict() == 1
    assert kept_files(inputs) == []
    # The new task's file is its own: evicting the kept input left it whole.
    assert reused.read_bytes() == content
    assert await inputs.reuse(digest) is None


async def test_kept_for_the_retention_after_last_use(inputs: InputStore, audio_dir, clock):
    digest = await inputs.keep(upload(audio_dir, b"x" * KB))
    assert digest is not None
    clock.advance(6 * DAY)
    assert await inputs.reuse(digest) is not None  # used: kept 7 days from now
    clock.advance(7 * DAY - 60)
    assert await inputs.evict() == 0
    clock.advance(120)
    assert await inputs.evict() == 1
    assert await inputs.reuse(digest) is None


async def test_cap_evicts_least_recently_used_first(make_inputs, audio_dir, store, clock):
    inputs = make_inputs(cap_bytes=1000 * KB)
    a = await inputs.keep(upload(audio_dir, os.urandom(400 * KB)))
    clock.advance(1)
    b = await inputs.keep(upload(audio_dir, os.urandom(400 * KB)))
    clock.advance(1)
    assert await inputs.reuse(a or "") is not None  # a is now fresher than b
    clock.advance(1)
    c = await inputs.keep(upload(audio_dir, os.urandom(400 * KB)))  # 1200 KB: over the cap
    assert None not in (a, b, c)
    assert await inputs.reuse(b or "") is None
    assert await inputs.reuse(a or "") is not None
    assert await inputs.reuse(c or "") is not None
    assert sum(k.size for k in await store.kept_inputs()) == 800 * KB


async def test_a_file_larger_than_the_whole_store_is_not_kept(make_inputs, audio_dir):
    inputs = make_inputs(cap_bytes=10 * KB)
    assert await inputs.keep(upload(audio_dir, os.urandom(11 * KB))) is None
    assert not inputs.directory.exists() or kept_files(inputs) == []


async def test_never_evicts_an_input_a_queued_task_needs(
    make_inputs, audio_dir, store: Store, clock
):
    inputs = make_inputs(cap_bytes=500 * KB)
    needed = await inputs.keep(upload(audio_dir, os.urandom(400 * KB)))
    task = await queue_task(store, clock, needed)
    clock.advance(30 * DAY)  # long expired, and over the cap once the next one comes
    other = await inputs.keep(upload(audio_dir, os.urandom(400 * KB)))
    assert other is not None
    assert await inputs.evict() == 1  # over the cap: the other one goes, not the needed one
    assert await inputs.reuse(other) is None
    assert await inputs.reuse(needed or "") is not None  # still there while queued
    # Submitting counts too: the submit may still be under way.
    claimed = await store.claim_next_queued(clock.now())
    assert claimed is not None and claimed.status is TaskStatus.SUBMITTING
    clock.advance(30 * DAY)
    await inputs.evict()
    assert await inputs.reuse(needed or "") is not None
    receipt = SubmitReceipt("mg-1", ("c1",), 30, 1.0)
    await store.mark_submitted(task.id, receipt, next_poll_at=clock.now(), now=clock.now())
    clock.advance(30 * DAY)
    assert await inputs.evict() >= 1
    assert await inputs.reuse(needed or "") is None


async def test_pinned_while_its_task_is_being_queued(make_inputs, audio_dir, store, clock):
    inputs = make_inputs(cap_bytes=500 * KB)
    async with inputs.keeping(upload(audio_dir, os.urandom(400 * KB))) as digest:
        assert digest is not None
        clock.advance(1)
        # Another member's upload puts the store over the cap before this task's row is
        # written: the one being queued is older, but it is not the one to go.
        other = await inputs.keep(upload(audio_dir, os.urandom(400 * KB)))
        assert other is not None
        assert {k.sha256 for k in await store.kept_inputs()} == {digest, other}
        await queue_task(store, clock, digest)
    assert await inputs.evict() == 1  # over the cap: the one no queued task needs
    assert await inputs.reuse(other) is None
    assert await inputs.reuse(digest) is not None


async def test_two_members_queueing_at_once_both_keep_theirs(make_inputs, audio_dir, store, clock):
    inputs = make_inputs(cap_bytes=500 * KB)  # room for one of the two

    async def queue(content: bytes) -> str | None:
        async with inputs.keeping(upload(audio_dir, content)) as digest:
            await asyncio.sleep(0)  # the other member's keep runs meanwhile
            await queue_task(store, clock, digest)
        return digest

    digests = await asyncio.gather(*(queue(os.urandom(400 * KB)) for _ in range(2)))
    assert await inputs.evict() == 0  # over the cap, but both tasks wait in the queue
    for digest in digests:
        assert digest is not None and await inputs.reuse(digest) is not None


async def test_kept_inputs_survive_a_restart(tmp_path: Path, audio_dir, clock):
    content = os.urandom(20 * KB)
    options: dict[str, Any] = {
        "audio_dir": audio_dir,
        "retention_days": 7,
        "cap_bytes": 10 * KB * KB,
        "clock": clock,
    }
    async with Store.open(tmp_path / "bot.sqlite3") as store:
        first = InputStore(store, tmp_path / "inputs", **options)
        async with first.running():
            digest = await first.keep(upload(audio_dir, content, ".wav"))
            gone = await first.keep(upload(audio_dir, os.urandom(KB)))
    assert digest is not None and gone is not None
    # Left behind by a crash: a file nobody recorded, a half copy, a row whose file went.
    (first.directory / ("0" * 64)).write_bytes(b"stray")
    (first.directory / ("1" * 64 + ".mp3.part")).write_bytes(b"half")
    next(first.directory.glob(f"{gone}*")).unlink()
    async with Store.open(tmp_path / "bot.sqlite3") as store:
        second = InputStore(store, tmp_path / "inputs", **options)
        async with second.running():
            reused = await second.reuse(digest)
            assert reused is not None and reused.read_bytes() == content
            assert await second.reuse(gone) is None
            assert [f.name for f in kept_files(second)] == [f"{digest}.wav"]
            assert [k.sha256 for k in await store.kept_inputs()] == [digest]


async def test_eviction_runs_hourly(make_inputs, audio_dir, clock):
    inputs = make_inputs(retention_days=1)
    async with inputs.running():
        digest = await inputs.keep(upload(audio_dir, b"y" * KB))
        assert digest is not None

        async def evicted() -> bool:
            return not kept_files(inputs)

        kept_at = clock.now()
        await drive(clock, evicted, step=EVICT_INTERVAL / 4)
        # By the hourly run after the day was over, not before and not at once.
        assert kept_at + DAY <= clock.now() <= kept_at + DAY + EVICT_INTERVAL + EVICT_INTERVAL


async def test_the_hourly_eviction_is_one_process_at_a_time(
    postgres_url: str, tmp_path: Path, audio_dir: Path, clock: FakeClock, monkeypatch
) -> None:
    """Two processes on one PostgreSQL database: a round that finds the other process
    evicting is skipped, and the next one evicts."""
    async with Store.open(postgres_url) as store, Store.open(postgres_url) as other:
        turns: list[bool] = []
        take_turn = store.exclusively

        @contextlib.asynccontextmanager
        async def recorded(key: str) -> AsyncIterator[bool]:
            async with take_turn(key) as ours:
                turns.append(ours)
                yield ours

        monkeypatch.setattr(store, "exclusively", recorded)
        inputs = InputStore(
            store,
            tmp_path / "inputs",
            audio_dir=audio_dir,
            retention_days=1,
            cap_bytes=KB * KB,
            clock=clock,
        )
        async with inputs.running():
            assert await inputs.keep(upload(audio_dir, b"y" * KB)) is not None
            async with other.exclusively("inputs-evict") as theirs:
                assert theirs
                clock.advance(DAY + EVICT_INTERVAL)  # past the retention: a round is due
                await poll_until(lambda: turns == [False], 10, "a skipped round")
                assert kept_files(inputs)
            clock.advance(EVICT_INTERVAL)
            await poll_until(lambda: not kept_files(inputs), 10, "the next round to evict")
        assert turns == [False, True]


async def test_retention_zero_keeps_nothing(make_inputs, audio_dir):
    for inputs in (make_inputs(retention_days=0), make_inputs(cap_bytes=0)):
        assert not inputs.enabled
        assert await inputs.keep(upload(audio_dir, b"z" * KB)) is None
    assert not (audio_dir.parent / "inputs").exists()


def test_a_copy_where_hard_links_are_not_allowed(tmp_path: Path) -> None:
    def cross_device(source: Path, target: Path) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    source = tmp_path / "a.mp3"
    source.write_bytes(os.urandom(3 * KB * KB))
    target = tmp_path / "b.mp3"
    link_or_copy(source, target, link=cross_device)
    assert target.read_bytes() == source.read_bytes()
    assert target.stat().st_ino != source.stat().st_ino
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp3", "b.mp3"]  # no .part left


async def test_reuse_of_something_never_kept(inputs: InputStore) -> None:
    assert await inputs.reuse("../../etc/passwd") is None
    assert await inputs.reuse("0" * 64) is None


def full_disk(source: Path, target: Path) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


async def test_keep_on_a_full_disk_logs_one_line(make_inputs, audio_dir, caplog):
    inputs = make_inputs(place=full_disk)
    path = upload(audio_dir, b"w" * KB)
    with caplog.at_level(logging.WARNING, logger="bot.core.media.inputs"):
        assert await inputs.keep(path) is None
    assert [r.getMessage() for r in caplog.records] == [
        "couldn't keep an uploaded input for Again (the disk is full); going on without"
    ]
    assert path.read_bytes() == b"w" * KB  # the task's own file is untouched


async def test_reuse_on_a_full_disk_says_so(make_inputs, audio_dir):
    placed: list[Path] = []

    def link_then_fill(source: Path, target: Path) -> None:
        if placed:
            raise OSError(errno.ENOSPC, "No space left on device")
        placed.append(target)
        link_or_copy(source, target)

    inputs = make_inputs(place=link_then_fill)
    digest = await inputs.keep(upload(audio_dir, b"v" * KB))
    with pytest.raises(DiskFull):
        await inputs.reuse(digest or "")


@pytest.mark.parametrize("disk_full", [False, True])
async def test_tracker_hands_over_uploads_and_survives_a_full_disk(
    disk_full: bool, make_inputs, audio_dir, store: Store, clock: FakeClock
):
    musicgpt = FakeMusicGPT()
    settings = Settings(discord_token="t", musicgpt_api_key="k")
    inputs = make_inputs(place=full_disk if disk_full else link_or_copy)
    tracker = Tracker(store, musicgpt, settings, clock=clock, inputs=inputs)
    musicgpt.release_submit.clear()  # MusicGPT answers the submit once the test says so
    await tracker.start()
    try:
        content = os.urandom(30 * KB)
        path = upload(audio_dir, content)
        request = Request(TaskKind.SING, 1, 10, 20, "ballad", "la", audio_filename="a.mp3")
        created = await tracker.submit(
            request, limits=QuotaLimits(daily=5, active=5), audio_path=path, audio_duration=3.0
        )
        assert isinstance(created, Task)
        digest = hashlib.sha256(content).hexdigest()
        expected = None if disk_full else digest
        assert created.input_sha256 == expected  # recorded as it was queued
        queued_at = clock.now()
        clock.advance(100)
        musicgpt.release_submit.set()

        async def submitted() -> bool:
            # The audio folder's copy goes once MusicGPT has it.
            task = await store.get_task(created.id)
            done = task is not None and task.status is TaskStatus.SUBMITTED
            return done and not path.exists()

        await drive(clock, submitted)
        task = await store.get_task(created.id)
        assert task is not None and task.input_sha256 == expected
        # Marked used when MusicGPT took it: kept INPUT_RETENTION_DAYS from then on.
        used = [k.last_used_at for k in await store.kept_inputs()]
        assert [at >= queued_at + 100 for at in used] == ([] if disk_full else [True])
        reused = await inputs.reuse(digest)
        assert (reused.read_bytes() if reused else None) == (None if disk_full else content)
    finally:
        await tracker.stop()
    assert len(musicgpt.submits) == 1  # a full disk failed nothing


async def test_submit_keeps_what_queue_time_could_not(make_inputs, audio_dir, store, clock):
    """Kept again at submit when keeping at queue time failed (or it was evicted)."""
    inputs = make_inputs()
    content = os.urandom(10 * KB)
    path = upload(audio_dir, content)
    task = await queue_task(store, clock, None)
    task = await store.get_task(task.id)
    assert task is not None
    await submit_task(store, clock, task)
    await inputs.submitted(dataclasses.replace(task, audio_path=str(path)))
    digest = hashlib.sha256(content).hexdigest()
    stored = await store.get_task(task.id)
    assert stored is not None and stored.input_sha256 == digest
    reused = await inputs.reuse(digest)
    assert reused is not None and reused.read_bytes() == content


@pytest.mark.parametrize(
    ("env", "days", "mb"),
    [
        ({}, 7, 2048),
        ({"INPUT_RETENTION_DAYS": "30", "INPUT_STORE_MB": "100"}, 30, 100),
        ({"INPUT_RETENTION_DAYS": "0", "INPUT_STORE_MB": "0"}, 0, 0),
    ],
)
def test_settings(env: dict[str, str], days: int, mb: int) -> None:
    settings = load_settings({**BASE, **env})
    assert (settings.input_retention_days, settings.input_store_mb) == (days, mb)
    assert settings.input_store_bytes == mb * 1024 * 1024


@pytest.mark.parametrize("name", ["INPUT_RETENTION_DAYS", "INPUT_STORE_MB"])
@pytest.mark.parametrize(("raw", "says"), [("-1", "at least 0"), ("a week", "whole number")])
def test_bad_settings_are_refused(name: str, raw: str, says: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name} must be") as refused:
        load_settings({**BASE, name: raw})
    assert says in str(refused.value)


def test_settings_are_in_env_example() -> None:
    example = (Path(__file__).resolve().parents[4] / ".env.example").read_text()
    assert "\nINPUT_RETENTION_DAYS=7\n" in example
    assert "\nINPUT_STORE_MB=2048\n" in example


def test_hashing_reads_a_small_buffer_at_a_time(tmp_path: Path) -> None:
    """Bench figure 2: several uploads are hashed at once, each in a thread; a big read per
    chunk held (and left in malloc's arenas) megabytes per hash. The hash holds one small
    buffer, whatever the file's size."""
    source = tmp_path / "big.wav"
    content = os.urandom(8 * KB * KB)
    source.write_bytes(content)
    tracemalloc.start()
    try:
        digest = sha256_of(source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest == hashlib.sha256(content).hexdigest()
    assert STREAM_CHUNK <= 64 * KB
    assert peak < 2 * STREAM_CHUNK + 64 * KB, peak  # the buffer, and a little besides
