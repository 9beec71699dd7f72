"""A caller cancelled while its transaction begins (a job cut off at shutdown): aiosqlite
runs the BEGIN on its thread all the same, and the next transaction must not find itself
inside that one ("cannot start a transaction within a transaction")."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.core.models import Task
from bot.core.store import Store
from tests.unit.core.store.conftest import NOW, create


async def test_a_transaction_cancelled_as_it_begins_leaves_none_open(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "bot.sqlite3") as store:
        task = await create(store)
        for _ in range(20):  # the cancel lands at a different point of the BEGIN each time
            cut_off = asyncio.ensure_future(store.mark_failed(task.id + 1000, "never", NOW))
            await asyncio.sleep(0)
            cut_off.cancel()
            await asyncio.gather(cut_off, return_exceptions=True)
            # The next writer's transaction begins and ends (here on no row at all).
            assert await store.mark_failed(task.id + 2000, "nothing", NOW) is None
        failed = await store.mark_failed(task.id, "a real failure", NOW)
        assert isinstance(failed, Task) and failed.quota_refunded
        final = await store.get_task(task.id)
        assert final is not None and final.error == "a real failure"
