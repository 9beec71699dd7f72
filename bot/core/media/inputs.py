"""Uploaded input audio kept after submit, so **Again** can send the same bytes once more.

One job: a content-addressed folder next to the database (`inputs/<sha256><ext>`), one file
per distinct upload however many tasks used it (a group reuses one instrumental many times),
with a row per file in the `inputs` table.

* An upload is kept when its task is queued (the intake's file is hard-linked in, so keeping
  costs no bytes while the task waits), and marked used again when it is submitted: a parent
  that is queued, at MusicGPT or finished can all be repeated. The task's own file in the
  audio folder is its own link, so nothing done here can lose a queued task's bytes.
* `reuse` gives a new task a fresh link (or copy) in the audio folder, owned by that task.
* Eviction (at start-up, after each keep, and hourly) forgets inputs not used for
  INPUT_RETENTION_DAYS, then the least recently used ones while the store holds more than
  INPUT_STORE_MB; never one a queued or submitting task was made from. 0 for either setting
  keeps nothing.
* Keeping is best effort: a full disk or any I/O error logs one line and the input is simply
  not kept; the task goes on as if this module didn't exist.
* On PostgreSQL (`blobs` given: `bot.core.media.blobs`) the bytes are the database's blob
  of the same hash, which the tracker stored when the task was queued, so every process
  reaches them: keeping is the row alone, `reuse` writes the blob out, and eviction leaves
  the blob to the blob sweep (run with it), which removes it once nothing names it. The
  `inputs/` folder is not used.

File work (hashing, copying, unlinking) runs in a thread: hashing a 25 MB upload must not
hold up the event loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import hashlib
import logging
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.core.clock import Clock, SystemClock
from bot.core.errors import DiskFull
from bot.core.media.download import DIR_MODE, FILE_MODE
from bot.core.media.spool import is_disk_full
from bot.core.models import Task
from bot.core.store import KeptInput
from bot.core.store.port import InputRows
from bot.core.wording import count

if TYPE_CHECKING:
    from bot.core.media.blobs import DatabaseAudio

__all__ = [
    "EVICT_INTERVAL",
    "STREAM_CHUNK",
    "InputStore",
    "extension_of",
    "link_or_copy",
    "sha256_of",
]

log = logging.getLogger(__name__)

EVICT_INTERVAL = 3600.0  # seconds between periodic evictions (retention is counted in days)
# Hashing and copying read into one small buffer per call, reused for every chunk. Several
# uploads are hashed at once, each in a worker thread (a group queues together): a fresh 1 MB
# `bytes` per read, as before, kept a megabyte live per hash and left freed megabytes behind in
# each thread's malloc arena, which took bench figure 2 (four 25 MB uploads at once) from
# 3.9 MB to ~10 MB of peak RSS. 64 KB is below glibc's mmap threshold and costs a hash of
# 25 MB about 400 reads; hashlib releases the GIL per update, so the loop keeps running.
STREAM_CHUNK = 64 * 1024
PARTIAL = ".part"  # a copy under way; removed at start-up if the bot died mid-copy
_EXTENSION = re.compile(r"\.[a-z0-9]{1,8}")  # what a kept file's name may end with
_SHA256 = re.compile(r"[0-9a-f]{64}")


def sha256_of(path: Path) -> str:
    """The file's sha256, read in small chunks into one buffer (run it in a thread)."""
    digest = hashlib.sha256()
    buffer = memoryview(bytearray(STREAM_CHUNK))
    with path.open("rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            digest.update(buffer[:count])
    return digest.hexdigest()


def link_or_copy(
    source: Path, target: Path, *, link: Callable[[Path, Path], None] = os.link
) -> None:
    """Make `target` a file with `source`'s bytes: a hard link where the filesystem allows
    (no bytes copied, and either name can go without touching the other), else a copy that
    only appears under `target` once complete."""
    try:
        link(source, target)
        return
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            raise
    partial = target.with_name(target.name + PARTIAL)
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out, STREAM_CHUNK)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def extension_of(path: Path) -> str:
    """The file's extension as a kept input's name ends with it ("" when unusual)."""
    suffix = path.suffix.lower()
    return suffix if _EXTENSION.fullmatch(suffix) else ""


class InputStore:
    def __init__(
        self,
        store: InputRows,
        directory: Path,
        *,
        audio_dir: Path,
        retention_days: int,
        cap_bytes: int,
        clock: Clock | None = None,
        place: Callable[[Path, Path], None] = link_or_copy,
        blobs: DatabaseAudio | None = None,
    ) -> None:
        self._store = store
        self.directory = directory
        self._audio_dir = audio_dir
        self.retention_seconds = retention_days * 86400.0
        self.cap_bytes = cap_bytes
        self._clock = clock or SystemClock()
        self._place = place  # the seam tests use to fill the disk
        self._blobs = blobs  # PostgreSQL: the bytes are in the database
        # File placement and eviction decisions, one at a time: a reuse never links a file
        # that an eviction is removing.
        self._lock = asyncio.Lock()
        # Inputs kept for a task that is being queued right now (its row not written yet).
        self._pinned: collections.Counter[str] = collections.Counter()
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.retention_seconds > 0 and self.cap_bytes > 0

    def path_for(self, kept: KeptInput) -> Path:
        return self.directory / f"{kept.sha256}{kept.extension}"

    # --- lifecycle -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[InputStore]:
        """Sweep and evict now, then hourly, until the block ends."""
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    async def start(self) -> None:
        try:
            if self._blobs is None:
                await asyncio.to_thread(self._make_folder)
                await self._sweep()
            else:
                await self._sweep_rows()
            await self.evict()
        except Exception:
            log.exception("couldn't tidy the kept inputs at start-up")
        self._loop_task = asyncio.create_task(self._evict_periodically(), name="inputs-evict")

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None

    def _make_folder(self) -> None:
        self.directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        self.directory.chmod(DIR_MODE)

    async def _sweep(self) -> None:
        """Files without a row (the bot died between placing and recording one) go; rows
        without a file (removed by hand) are forgotten."""
        kept = {self.path_for(k).name: k for k in await self._store.kept_inputs()}

        def scan() -> set[str]:
            present = set()
            for entry in os.scandir(self.directory):
                if entry.name in kept:
                    present.add(entry.name)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
            return present

        present = await asyncio.to_thread(scan)
        for name, k in kept.items():
            if name not in present:
                await self._store.forget_input(k.sha256)

    async def _sweep_rows(self) -> None:
        """PostgreSQL: rows whose blob is gone are forgotten (nothing can be made from them)."""
        assert self._blobs is not None  # noqa: S101
        for k in await self._store.kept_inputs():
            if await self._blobs.head(k.sha256) is None:
                await self._store.forget_input(k.sha256)

    async def _evict_periodically(self) -> None:
        while True:
            await self._clock.sleep(EVICT_INTERVAL)
            try:
                # One process at a time over a shared database; the others skip this round.
                async with self._store.exclusively("inputs-evict") as ours:
                    if ours:
                        await self.evict()
            except Exception:
                log.exception("evicting kept inputs failed; trying again in an hour")

    # --- keeping ---------------------------------------------------------------------------

    async def keep(self, path: Path) -> str | None:
        """Keep the file's bytes (once per content); its sha256, or None when not kept
        (keeping is off, the file is larger than the whole store, or the disk or the
        database failed: logged, never raised)."""
        digest = await self._keep_pinned(path)
        if digest is not None:
            try:
                await self._evict_quietly()
            finally:
                self._unpin(digest)
        return digest

    @contextlib.asynccontextmanager
    async def keeping(
        self, path: Path | None, digest: str | None = None
    ) -> AsyncIterator[str | None]:
        """Keep `path` for a task being queued: the digest is safe from eviction until the
        block (which writes the task's row, which then protects it) ends. `digest`: the
        file's sha256 when the caller hashed it already (and, on PostgreSQL, stored it)."""
        if path is not None:
            digest = await self._keep_pinned(path, digest)
        if digest is None:
            yield None
            return
        try:
            await self._evict_quietly()
            yield digest
        finally:
            self._unpin(digest)

    async def _keep_pinned(self, path: Path, digest: str | None = None) -> str | None:
        """`keep` without the eviction; the digest comes back pinned (the caller unpins).
        A `digest` given is of bytes the tracker stored already (PostgreSQL)."""
        if not self.enabled:
            return None
        stored = digest is not None
        try:
            size = (await asyncio.to_thread(path.stat)).st_size
            if size > self.cap_bytes:
                return None
            if digest is None:
                digest = await asyncio.to_thread(sha256_of, path)
            kept = KeptInput(digest, extension_of(path), size, self._clock.now())
            async with self._lock:
                if self._blobs is None:
                    await self._place_kept(path, kept)
                elif not stored:
                    await self._blobs.hold(path, digest)
                await self._store.put_input(digest, kept.extension, size, kept.last_used_at)
                # Before the lock goes: no other eviction may take it before its task is
                # recorded (a task's row is what protects an input from then on).
                self._pinned[digest] += 1
        except Exception as error:
            why = "the disk is full" if is_disk_full(error) else type(error).__name__
            log.warning("couldn't keep an uploaded input for Again (%s); going on without", why)
            return None
        return digest

    async def _place_kept(self, path: Path, kept: KeptInput) -> None:
        existing = await self._store.get_input(kept.sha256)
        target = self.path_for(existing or kept)
        if existing is None or not await asyncio.to_thread(target.exists):
            await asyncio.to_thread(self._make_folder)
            await asyncio.to_thread(self._place_fresh, path, target)

    def _unpin(self, digest: str) -> None:
        self._pinned[digest] -= 1
        if self._pinned[digest] <= 0:
            del self._pinned[digest]

    def _place_fresh(self, source: Path, target: Path) -> None:
        target.unlink(missing_ok=True)  # a stale file under that name: replaced
        self._place(source, target)
        os.chmod(target, FILE_MODE)  # members' audio, whoever wrote the file first

    async def submitted(self, task: Task) -> None:
        """MusicGPT took the task: its input counts as used now (kept again if keeping it
        at queue time failed or it was evicted meanwhile). Never raises."""
        in_database = self._blobs is not None and task.input_sha256 is not None
        if not self.enabled or (task.audio_path is None and not in_database):
            return
        try:
            now = self._clock.now()
            if task.input_sha256 and await self._store.touch_input(task.input_sha256, now):
                return
            if in_database and task.input_sha256:
                await self._keep_blob(task.input_sha256)
                return
            assert task.audio_path is not None  # noqa: S101
            digest = await self.keep(Path(task.audio_path))
            if digest is not None and digest != task.input_sha256:
                await self._store.set_task_input(task.id, digest)
        except Exception as error:
            log.warning("couldn't mark task %s's input used (%s)", task.id, type(error).__name__)

    async def _keep_blob(self, digest: str) -> None:
        """PostgreSQL: keep the blob the task was sent from (its row was missing)."""
        assert self._blobs is not None  # noqa: S101
        head = await self._blobs.head(digest)
        if head is not None and head.size <= self.cap_bytes:
            await self._store.put_input(digest, head.extension, head.size, self._clock.now())
            await self._evict_quietly()

    # --- reusing ---------------------------------------------------------------------------

    async def reuse(self, digest: str) -> Path | None:
        """A fresh file in the audio folder with the kept input's bytes, for a new task to own
        (and delete once submitted); None when that input is no longer kept. Marks it used.
        Raises DiskFull when the disk has no room for a copy."""
        if not _SHA256.fullmatch(digest):
            return None  # never a hash this store made
        async with self._lock:
            kept = await self._store.get_input(digest)
            if kept is None:
                return None
            target = self._audio_dir / f"{uuid.uuid4().hex}{kept.extension}"
            try:
                if self._blobs is None:
                    await asyncio.to_thread(self._place, self.path_for(kept), target)
                elif not await self._blobs.write_to(digest, target):
                    raise FileNotFoundError(digest)
            except FileNotFoundError:
                await self._store.forget_input(digest)  # its file went: nothing to reuse
                return None
            except OSError as error:
                target.unlink(missing_ok=True)
                if is_disk_full(error):
                    raise DiskFull() from error
                raise
            await self._store.touch_input(digest, self._clock.now())
        return target

    # --- evicting --------------------------------------------------------------------------

    async def evict(self) -> int:
        """Forget expired inputs, then the least recently used while over the cap; never one
        a queued or submitting task needs, nor one being queued. How many were removed."""
        removed = 0
        async with self._lock:
            kept = await self._store.kept_inputs()
            expired_at = self._clock.now() - self.retention_seconds
            total = sum(k.size for k in kept)
            for k in kept:  # least recently used first
                if k.needed or k.sha256 in self._pinned:
                    continue
                if k.last_used_at > expired_at and total <= self.cap_bytes:
                    break  # fresh, and the rest fits: everything after is fresher still
                if await self._store.delete_input(k.sha256):
                    if self._blobs is None:
                        await asyncio.to_thread(self.path_for(k).unlink, missing_ok=True)
                    total -= k.size
                    removed += 1
        if removed:
            log.info("evicted %s", count(removed, "kept input"))
        if self._blobs is not None:  # the evicted inputs' bytes, once nothing names them
            await self._blobs.sweep()
        return removed

    async def _evict_quietly(self) -> None:
        try:
            await self.evict()
        except Exception as error:
            log.warning("evicting kept inputs failed (%s)", type(error).__name__)
