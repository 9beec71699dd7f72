"""Audio any process can send: on PostgreSQL, a queued upload's bytes are in the database.

One job: move audio files into the database (`audio_blobs`, one blob per content hash, in
1 MB chunks) and back out into a local file, so a song queued by one process is sent to
MusicGPT byte for byte by whichever process claims it, even when the first one is dead, and
an input kept for Again is reachable from every process. Several processes on one
PostgreSQL database may each have their own `DATABASE_PATH`, so nothing here relies on
another process's disk.

* `hold(path)` stores the file (once per content; storing it again only marks it stored
  now) before its task row is written: a process that dies once the member was answered
  loses nothing. The task names the blob by `input_sha256`.
* `sendable(task)` gives the dispatcher a task whose `audio_path` is a temporary file with
  the blob's bytes (checked against the hash as they are written), removed when the block
  ends, whatever MusicGPT said.
* `sweep()` removes the blobs no kept input and no queued or submitting task names, stored
  more than SWEEP_GRACE ago (the grace covers an intake between storing a blob and writing
  the task row that names it).

Memory stays bounded: one chunk at a time in each direction. File work runs in a thread.

On SQLite (one process, one disk) none of this runs: uploads stay files
(`bot.core.tracker.context.FileAudio`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from bot.core.clock import Clock, SystemClock
from bot.core.errors import DiskFull
from bot.core.media.download import DIR_MODE, FILE_MODE
from bot.core.media.inputs import extension_of, sha256_of
from bot.core.media.spool import is_disk_full
from bot.core.models import Task
from bot.core.store.blobs import CHUNK_BYTES
from bot.core.store.port import BlobRows
from bot.core.store.rows import BlobHead
from bot.core.wording import count

__all__ = ["CHUNK", "SWEEP_GRACE", "BlobMissing", "DatabaseAudio", "file_chunks"]

log = logging.getLogger(__name__)

CHUNK = CHUNK_BYTES  # what is read from a file, and stored, at a time
SWEEP_GRACE = 600.0  # seconds a blob stays after its last store, named by nothing


class BlobMissing(Exception):
    """The blob a task names is not in the database (or not whole): nothing can be sent."""


class DatabaseAudio:
    def __init__(self, store: BlobRows, directory: Path, *, clock: Clock | None = None) -> None:
        self._store = store
        self.directory = directory  # this process's audio folder: temporary files only
        self._clock = clock or SystemClock()

    async def hold(self, path: Path, digest: str | None = None) -> str:
        """Store the file's bytes in the database; its sha256 (`digest`, when the caller
        hashed it already). Raises what the database or the disk raised."""
        if digest is None:
            digest = await asyncio.to_thread(sha256_of, path)
        size = (await asyncio.to_thread(path.stat)).st_size
        handle = await asyncio.to_thread(path.open, "rb")
        try:
            await self._store.store_blob(
                digest, extension_of(path), size, self._clock.now(), file_chunks(handle)
            )
        finally:
            await asyncio.to_thread(handle.close)
        return digest

    async def write_to(self, digest: str, target: Path) -> bool:
        """Write the blob's bytes to `target` (only complete files appear under that name);
        False when no such blob is kept (or it went mid-way). Raises BlobMissing when its
        bytes don't match the hash, DiskFull when the disk has no room."""
        head = await self._store.blob(digest)
        if head is None:
            return False
        partial = target.with_name(f"{target.name}.part")
        await asyncio.to_thread(target.parent.mkdir, DIR_MODE, parents=True, exist_ok=True)
        fd = await asyncio.to_thread(
            os.open, partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE
        )
        out = os.fdopen(fd, "wb")
        try:
            hashed = hashlib.sha256()
            for seq in range(head.chunks):
                chunk = await self._store.blob_chunk(digest, seq)
                if chunk is None:  # removed while being read
                    raise FileNotFoundError(digest)
                hashed.update(chunk)
                await asyncio.to_thread(out.write, chunk)
            await asyncio.to_thread(out.close)
            if hashed.hexdigest() != digest:
                raise BlobMissing(f"blob {digest[:12]}: its bytes don't match its hash")
            await asyncio.to_thread(os.replace, partial, target)
        except FileNotFoundError:
            out.close()
            partial.unlink(missing_ok=True)
            return False
        except BaseException as error:
            out.close()
            partial.unlink(missing_ok=True)
            if isinstance(error, OSError) and is_disk_full(error):
                raise DiskFull() from error
            raise
        return True

    async def head(self, digest: str) -> BlobHead | None:
        return await self._store.blob(digest)

    @contextlib.asynccontextmanager
    async def sendable(self, task: Task) -> AsyncIterator[Task]:
        """`task` with its audio in a local file while the block runs: the blob it names
        written to a temporary file, removed at the end. A task with a link, or with a file
        of its own (queued before its bytes went to the database), is yielded as it is."""
        if task.audio_url or task.audio_path or not task.input_sha256:
            yield task
            return
        digest = task.input_sha256
        head = await self.head(digest)
        extension = head.extension if head else ""
        target = self.directory / f"send-{task.id}-{uuid.uuid4().hex}{extension}"
        if head is None or not await self.write_to(digest, target):
            raise BlobMissing(f"task {task.id}'s audio is not in the database")
        try:
            yield dataclasses.replace(task, audio_path=str(target))
        finally:
            await asyncio.to_thread(target.unlink, missing_ok=True)

    async def sweep(self) -> int:
        """Remove the blobs nothing names any more; how many went."""
        removed = await self._store.drop_unused_blobs(self._clock.now() - SWEEP_GRACE)
        if removed:
            log.info("removed %s no song needs any more", count(removed, "stored upload"))
        return removed


async def file_chunks(handle: BinaryIO) -> AsyncIterator[bytes]:
    """The file's bytes, CHUNK at a time, each read in a thread."""
    while chunk := await asyncio.to_thread(handle.read, CHUNK):
        yield chunk
