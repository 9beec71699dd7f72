"""The SQLite adapter's file: WAL, private modes, a value that survives a reopen."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.core.errors import StorageError
from bot.core.store import Store
from bot.core.store.migrate import migrations
from tests.unit.core.store.conftest import create


async def test_migrations_set_user_version_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    async with Store.open(path) as store:
        assert await store.schema_version() == len(migrations())
    # Re-opening applies nothing twice (it would fail on CREATE TABLE).
    async with Store.open(path) as store:
        assert await store.schema_version() == len(migrations())
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_values_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    async with Store.open(path) as store:
        secret = await store.get_or_create_value("webhook_secret", "abc")
        assert await store.get_or_create_value("webhook_secret", "other") == secret
    async with Store.open(path) as store:
        assert await store.get_value("webhook_secret") == "abc"


async def test_the_database_is_private_to_the_bot(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    async with Store.open(folder / "bot.sqlite3") as opened:
        await create(opened)
        names = sorted(p.name for p in folder.iterdir())
        assert names == ["bot.sqlite3", "bot.sqlite3-shm", "bot.sqlite3-wal"]
        for path in folder.iterdir():
            assert path.stat().st_mode & 0o777 == 0o600, path.name
    assert folder.stat().st_mode & 0o777 == 0o700
    # An older install left everything readable: fixed at the next start.
    folder.chmod(0o755)
    (folder / "bot.sqlite3").chmod(0o644)
    (folder / "audio").mkdir()
    async with Store.open(folder / "bot.sqlite3"):
        assert (folder / "bot.sqlite3").stat().st_mode & 0o777 == 0o600
    assert folder.stat().st_mode & 0o777 == 0o700


async def test_a_shared_folder_keeps_its_mode(tmp_path: Path) -> None:
    """DATABASE_PATH in a folder with other people's files: only the bot's files change."""
    tmp_path.chmod(0o755)
    (tmp_path / "someone-elses.txt").write_text("hi")
    async with Store.open(tmp_path / "bot.sqlite3"):
        pass
    assert tmp_path.stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "bot.sqlite3").stat().st_mode & 0o777 == 0o600


async def test_a_file_that_is_not_a_database_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    path.write_bytes(b"not a database, just some text that is long enough" * 100)
    with pytest.raises(StorageError) as caught:
        async with Store.open(path):
            pass
    assert caught.value.reason == "not_a_database"
