"""A database the bot made before migrations were recorded in `schema_migrations` (its
version in `PRAGMA user_version`, each script run with `executescript`) opens and upgrades."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.core.models import Request, Task, TaskKind, TaskStatus
from bot.core.store import Store
from bot.core.store.migrate import migrations


def old_database(path: Path, version: int) -> None:
    """The file as the previous store left it at `version`, with one song and a setting."""
    with sqlite3.connect(path) as raw:
        for m in migrations()[:version]:
            # Exactly how the previous store applied them.
            raw.executescript(f"BEGIN;\n{m.sql}\nPRAGMA user_version = {m.version};\nCOMMIT;")
        raw.execute(
            "INSERT INTO tasks (kind, status, user_id, channel_id, prompt, created_at,"
            " updated_at) VALUES ('sing', 'queued', 1, 20, 'old', 1.0, 1.0)"
        )
        raw.execute(
            "INSERT INTO quota_charges (task_id, user_id, day, charged_at)"
            " VALUES (1, 1, '2026-01-01', 1.0)"
        )
        raw.execute("INSERT INTO bot_values (key, value) VALUES ('webhook_secret', 's3')")
    raw.close()


@pytest.mark.parametrize("version", [1, 3, 5, len(migrations())])
async def test_an_old_database_upgrades_and_keeps_its_rows(tmp_path: Path, version: int) -> None:
    path = tmp_path / "old.sqlite3"
    old_database(path, version)
    async with Store.open(path) as store:
        latest = len(migrations())
        assert await store.schema_version() == latest
        task = await store.get_task(1)
        assert task is not None and task.status is TaskStatus.QUEUED and task.prompt == "old"
        assert task.quota_day == "2026-01-01"
        assert await store.get_value("webhook_secret") == "s3"
        # The newest features work on it.
        await store.set_guild_setting(5, "k", '"v"')
        await store.set_dm_copies(1, True, 2.0)
        claimed = await store.claim_next_queued(3.0)
        assert claimed is not None and claimed.id == 1
    with sqlite3.connect(path) as raw:
        recorded = [r[0] for r in raw.execute("SELECT version FROM schema_migrations")]
        assert recorded == list(range(1, latest + 1))
        assert raw.execute("PRAGMA user_version").fetchone()[0] == latest
    raw.close()
    # And it opens again without applying anything twice.
    async with Store.open(path) as store:
        assert await store.schema_version() == latest


async def test_two_stores_opening_a_new_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"

    async def open_and_wait() -> int:
        async with Store.open(path) as store:
            return await store.schema_version()

    versions = await asyncio.gather(open_and_wait(), open_and_wait())
    assert versions == [len(migrations())] * 2


def test_the_migration_files_are_numbered_in_order() -> None:
    found = migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert found[0].name == "tasks_and_quota"


async def test_extend_songs_are_stored_once_the_kinds_are_widened(tmp_path: Path) -> None:
    """Migration 9 widens the kind CHECK in place: the running connection takes an extend at
    once, and the older song's quota charge (which cascades from tasks) is still there."""
    path = tmp_path / "old.sqlite3"
    old_database(path, 8)
    async with Store.open(path) as store:
        extend = Request(
            kind=TaskKind.EXTEND,
            user_id=2,
            guild_id=10,
            channel_id=20,
            prompt="more of it",
            audio_url="https://cdn.example/song.mp3",
            replace_start=75.5,
        )
        created = await store.create_task(extend, now=2.0, daily_quota=5, max_active=5)
        assert isinstance(created, Task) and created.kind is TaskKind.EXTEND
        assert created.extend_after == 75.5
        old = await store.get_task(1)
        assert old is not None and old.quota_day == "2026-01-01"
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        kinds = [r[0] for r in raw.execute("SELECT kind FROM tasks ORDER BY id")]
        assert kinds == ["sing", "extend"]
    raw.close()
