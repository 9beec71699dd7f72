"""Audio bytes in the database (bot.core.media.blobs): one blob per distinct content, its
bytes in ordered chunks, so any process on the same database can send it."""

from __future__ import annotations

from collections.abc import AsyncIterator

from bot.core.store.database import Executor
from bot.core.store.rows import BlobHead
from bot.core.store.tasks import Repository

# One row per MB: a 25 MB upload is 25 statements, and no single bytea value (nor what the
# driver holds for it) is anywhere near the upload limit.
CHUNK_BYTES = 1024 * 1024
# Who still needs a blob: a kept input, or a task that will still be submitted.
_UNUSED = (
    "NOT EXISTS (SELECT 1 FROM inputs WHERE inputs.sha256 = audio_blobs.sha256)"
    " AND NOT EXISTS (SELECT 1 FROM tasks WHERE tasks.input_sha256 = audio_blobs.sha256"
    " AND tasks.status IN ('queued', 'submitting'))"
)


class BlobRepository(Repository):
    async def store_blob(
        self,
        sha256: str,
        extension: str,
        size: int,
        now: float,
        chunks: AsyncIterator[bytes],
    ) -> bool:
        """Store the bytes `chunks` yields under `sha256`, all in one transaction (a blob is
        whole or absent); when it is stored already, only mark it stored now. True when the
        bytes were written. Raises ValueError when the chunks don't add up to `size`."""
        async with self._db.transaction() as tx:
            return await store_blob_in(tx, sha256, extension, size, now, chunks)

    async def blob(self, sha256: str) -> BlobHead | None:
        row = await self._db.fetchrow(
            "SELECT sha256, extension, size, chunks FROM audio_blobs WHERE sha256 = $1",
            (sha256,),
        )
        return BlobHead(row[0], row[1], int(row[2]), int(row[3])) if row else None

    async def blob_chunk(self, sha256: str, seq: int) -> bytes | None:
        """One chunk's bytes; None when the blob (or that chunk) is not there."""
        row = await self._db.fetchrow(
            "SELECT data FROM audio_chunks WHERE sha256 = $1 AND seq = $2", (sha256, seq)
        )
        return bytes(row[0]) if row else None

    async def drop_unused_blobs(self, stored_before: float) -> int:
        """Remove the blobs no kept input and no queued or submitting task names, stored
        (or found by an intake) before `stored_before`; how many went. Checked in the one
        statement, so a task queued meanwhile keeps its blob."""
        return await self._db.execute(
            f"DELETE FROM audio_blobs WHERE stored_at < $1 AND {_UNUSED}", (stored_before,)
        )


async def store_blob_in(
    tx: Executor,
    sha256: str,
    extension: str,
    size: int,
    now: float,
    chunks: AsyncIterator[bytes],
) -> bool:
    """`BlobRepository.store_blob` inside the caller's transaction (copy-db's)."""
    if await _refresh(tx, sha256, now):
        return False
    # A writer storing the same content meanwhile holds its row: this waits for that commit,
    # then finds it there.
    inserted = await tx.execute(
        "INSERT INTO audio_blobs (sha256, extension, size, chunks, stored_at)"
        " VALUES ($1, $2, $3, 0, $4) ON CONFLICT (sha256) DO NOTHING",
        (sha256, extension, size, now),
    )
    if not inserted:
        await _refresh(tx, sha256, now)
        return False
    seq = written = 0
    async for chunk in chunks:
        await tx.execute(
            "INSERT INTO audio_chunks (sha256, seq, data) VALUES ($1, $2, $3)", (sha256, seq, chunk)
        )
        seq += 1
        written += len(chunk)
    if written != size:
        raise ValueError(f"blob {sha256[:12]}: {written} bytes stored, {size} expected")
    await tx.execute("UPDATE audio_blobs SET chunks = $1 WHERE sha256 = $2", (seq, sha256))
    return True


async def _refresh(tx: Executor, sha256: str, now: float) -> bool:
    """Mark a stored blob stored now (never back in time); False when there is none."""
    changed = await tx.execute(
        "UPDATE audio_blobs SET stored_at ="
        " CASE WHEN stored_at > $1 THEN stored_at ELSE $1 END WHERE sha256 = $2",
        (now, sha256),
    )
    return changed == 1
