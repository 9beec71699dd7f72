"""The adapters' transactions and errors, the same on both (see conftest)."""

from __future__ import annotations

import pytest

from bot.core.errors import StorageError
from bot.core.store import Store
from tests.support.process import free_port


class Oops(Exception):
    pass


async def test_an_error_in_the_callers_code_rolls_back_and_goes_through(store: Store) -> None:
    with pytest.raises(Oops):
        async with store._db.transaction() as tx:
            await tx.execute("INSERT INTO bot_values (key, value) VALUES ($1, $2)", ("k", "v"))
            raise Oops
    assert await store.get_value("k") is None


async def test_a_failed_statement_is_a_storage_error_and_rolls_back(store: Store) -> None:
    with pytest.raises(StorageError):
        async with store._db.transaction() as tx:
            await tx.execute("INSERT INTO bot_values (key, value) VALUES ($1, $2)", ("k", "v"))
            await tx.execute("INSERT INTO bot_values (key, value) VALUES ($1, $2)", ("k", "w"))
    assert await store.get_value("k") is None
    with pytest.raises(StorageError):
        await store._db.execute("SELECT * FROM no_such_table")
    await store.set_value("k", "ok")  # the store still works
    assert await store.get_value("k") == "ok"


async def test_a_postgres_server_that_isnt_there_is_unreachable() -> None:
    url = f"postgresql://bot:pw@127.0.0.1:{free_port()}/bot"
    with pytest.raises(StorageError) as caught:
        async with Store.open(url):
            pass
    assert caught.value.reason == "unreachable"
