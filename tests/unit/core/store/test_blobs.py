"""Audio blobs (`bot.core.store.blobs`) on both adapters: stored whole or not at all, once per
content, read back chunk by chunk, and swept only when nothing names them."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterable

import pytest

from bot.core.models import Task
from bot.core.store import Store
from tests.unit.core.store.conftest import NOW, Adapter, make_request

DIGEST_A = "a" * 64
DIGEST_B = "b" * 64


async def pieces(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def read_all(store: Store, digest: str) -> bytes:
    head = await store.blob(digest)
    assert head is not None
    parts = [await store.blob_chunk(digest, seq) for seq in range(head.chunks)]
    assert all(part is not None for part in parts)
    return b"".join(part for part in parts if part is not None)


async def test_a_blob_reads_back_as_stored_in_its_chunks(store: Store) -> None:
    chunks = [bytes(range(256)) * 4, b"\x00" * 1000, b"tail"]
    assert await store.store_blob(DIGEST_A, ".mp3", 2028, NOW, pieces(chunks))
    head = await store.blob(DIGEST_A)
    assert head is not None
    assert (head.extension, head.size, head.chunks) == (".mp3", 2028, 3)
    assert await read_all(store, DIGEST_A) == b"".join(chunks)
    assert await store.blob_chunk(DIGEST_A, 3) is None
    assert await store.blob(DIGEST_B) is None


async def test_storing_the_same_content_again_writes_nothing(store: Store) -> None:
    assert await store.store_blob(DIGEST_A, ".wav", 3, NOW, pieces([b"abc"]))

    async def never() -> AsyncIterator[bytes]:
        raise AssertionError("a stored blob's bytes were read again")
        yield b""  # pragma: no cover

    assert not await store.store_blob(DIGEST_A, ".wav", 3, NOW + 60, never())
    # Marked stored now: a sweep with the grace counted from before that keeps it.
    assert await store.drop_unused_blobs(NOW + 30) == 0
    assert await store.drop_unused_blobs(NOW + 61) == 1


async def test_a_short_blob_is_not_stored_at_all(store: Store) -> None:
    with pytest.raises(ValueError, match="2 bytes stored, 5 expected"):
        await store.store_blob(DIGEST_A, ".mp3", 5, NOW, pieces([b"ab"]))
    assert await store.blob(DIGEST_A) is None
    assert await store.blob_chunk(DIGEST_A, 0) is None


async def test_the_sweep_keeps_what_a_kept_input_or_an_unsent_task_names(
    adapter: Adapter,
) -> None:
    async with adapter.open() as store:
        for digest in (DIGEST_A, DIGEST_B, "c" * 64, "d" * 64):
            await store.store_blob(digest, ".mp3", 1, NOW, pieces([b"x"]))
        await store.put_input(DIGEST_A, ".mp3", 1, NOW)  # kept for Again
        queued = await store.create_task(
            make_request(), now=NOW, daily_quota=5, max_active=5, input_sha256=DIGEST_B
        )
        sent = await store.create_task(
            make_request(), now=NOW, daily_quota=5, max_active=5, input_sha256="c" * 64
        )
        assert isinstance(queued, Task) and isinstance(sent, Task)
        assert await store.cancel_queued(sent.id, sent.user_id, NOW) is not None
        assert await store.drop_unused_blobs(NOW + 1) == 2  # the cancelled one's, and d's
        assert await store.blob(DIGEST_A) is not None
        assert await store.blob(DIGEST_B) is not None
        assert await store.blob("c" * 64) is None
        # Its chunks went with it (read through another connection, as another process).
    async with adapter.open() as other:
        assert await other.blob_chunk("c" * 64, 0) is None
        assert await other.blob_chunk(DIGEST_B, 0) == b"x"


async def test_two_writers_storing_one_content_write_it_once(adapter: Adapter) -> None:
    """Two processes taking the same upload at once: one writes the bytes, the other waits
    for that commit and finds them (SQLite's writers take turns anyway)."""
    chunks = [os.urandom(4096) for _ in range(8)]
    started = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        for chunk in chunks:
            started.set()
            await asyncio.sleep(0)
            yield chunk

    async with adapter.open() as first, adapter.open() as second:

        async def later() -> bool:
            await started.wait()  # the first writer holds its row by now
            return await second.store_blob(DIGEST_A, ".mp3", 8 * 4096, NOW, pieces(chunks))

        wrote = await asyncio.gather(
            first.store_blob(DIGEST_A, ".mp3", 8 * 4096, NOW, slow()), later()
        )
        assert sorted(wrote) == [False, True]
        assert await read_all(second, DIGEST_A) == b"".join(chunks)
