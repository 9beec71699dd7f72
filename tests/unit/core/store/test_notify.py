"""Wake-ups between processes (`Database.notify` / `listen`): on PostgreSQL a notify on one
pool reaches a listener on another, and the listener outlives its connection being dropped;
on SQLite, where one process is the whole world, a notify reaches this process's listeners."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from bot.core.store import Store
from tests.unit.core.store.conftest import Adapter

BOUND = 20.0  # seconds: a wait that never ends fails the test instead of hanging it


class Heard:
    def __init__(self) -> None:
        self.payloads: list[str] = []
        self._changed = asyncio.Event()

    def __call__(self, payload: str) -> None:
        self.payloads.append(payload)
        self._changed.set()

    async def until(self, payload: str) -> None:
        async def wait() -> None:
            while payload not in self.payloads:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), BOUND)


async def test_a_notify_reaches_the_listener(adapter: Adapter, store: Store) -> None:
    heard, elsewhere = Heard(), Heard()
    await store.listen("singbot_test", heard)
    await store.listen("singbot_other", elsewhere)
    await store.notify("singbot_test", "hello")
    await heard.until("hello")
    assert elsewhere.payloads == []


@pytest.mark.postgres
async def test_a_notify_on_one_pool_wakes_a_listener_on_another_even_after_a_drop(
    postgres_url: str,
) -> None:
    async with Store.open(postgres_url) as sender, Store.open(postgres_url) as receiver:
        heard = Heard()
        await receiver.listen("singbot_test", heard)
        await sender.notify("singbot_test", "first")
        await heard.until("first")

        # The listening connection dies (a restarted server, a killed backend): it is made
        # again, its listener told that it may have missed something, and hears again.
        admin = await asyncpg.connect(postgres_url)
        try:
            ended = await admin.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        finally:
            await admin.close()
        assert len(ended) == 1
        await heard.until("")
        await sender.notify("singbot_test", "second")
        await heard.until("second")
        assert heard.payloads == ["first", "", "second"]
