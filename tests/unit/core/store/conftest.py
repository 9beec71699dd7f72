"""The store's contract suite: every test here runs once per adapter.

An adapter fixture opens "the same database" each time it is asked, so a test can hold two
stores (two connections, as two processes would) on one database. The PostgreSQL runs get a
database of their own on the test server (`postgres_url`) and are marked `postgres`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from bot.core.models import Request, Task, TaskKind
from bot.core.store import Store

NOW = 1_790_000_000.0  # 2026-09-21, any fixed moment will do


@dataclasses.dataclass(frozen=True)
class Adapter:
    name: str
    # A new store (a new connection) on this test's database, migrated.
    open: Callable[[], AbstractAsyncContextManager[Store]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def adapter(request: pytest.FixtureRequest, tmp_path: Path) -> Adapter:
    if request.param == "sqlite":
        path = tmp_path / "bot.sqlite3"
        return Adapter("sqlite", lambda: Store.open(path))
    if request.param == "postgres":
        # A database of this test's own (tests/support/postgres.py); each open is a new pool.
        url: str = request.getfixturevalue("postgres_url")
        return Adapter("postgres", lambda: Store.open(url))
    raise AssertionError(request.param)


@pytest.fixture
async def store(adapter: Adapter) -> AsyncIterator[Store]:
    async with adapter.open() as opened:
        yield opened


def make_request(user_id: int = 1, **overrides: object) -> Request:
    fields: dict[str, object] = {
        "kind": TaskKind.SING,
        "user_id": user_id,
        "guild_id": 10,
        "channel_id": 20,
        "prompt": "soft piano ballad",
        "lyrics": "la la la",
    }
    fields.update(overrides)
    return Request(**fields)  # type: ignore[arg-type]


async def create(store: Store, user_id: int = 1, quota: int = 5, active: int = 5) -> Task:
    task = await store.create_task(
        make_request(user_id), now=NOW, daily_quota=quota, max_active=active
    )
    assert isinstance(task, Task)
    return task
