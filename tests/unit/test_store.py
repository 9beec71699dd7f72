"""The store on a real SQLite file: migrations, atomic quota, guarded transitions."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.core.models import Output, QuotaRefusal, Request, SubmitReceipt, Task, TaskKind, TaskStatus
from bot.core.store import MIGRATIONS, Store, utc_day

NOW = 1_790_000_000.0  # 2026-09-21, any fixed moment will do


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


@pytest.fixture
async def store(tmp_path: Path):
    async with Store.open(tmp_path / "bot.sqlite3") as opened:
        yield opened


async def test_migrations_set_user_version_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    async with Store.open(path) as store:
        assert await store.schema_version() == len(MIGRATIONS)
    # Re-opening applies nothing twice (it would fail on CREATE TABLE).
    async with Store.open(path) as store:
        assert await store.schema_version() == len(MIGRATIONS)
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_twenty_concurrent_reservations_against_quota_of_five(store: Store) -> None:
    results = await asyncio.gather(
        *(
            store.create_task(make_request(7), now=NOW, daily_quota=5, max_active=100)
            for _ in range(20)
        )
    )
    created = [r for r in results if isinstance(r, Task)]
    refused = [r for r in results if isinstance(r, QuotaRefusal)]
    assert len(created) == 5
    assert len(refused) == 15
    assert all(r.limit == "daily" for r in refused)
    assert (await store.quota_usage(7, NOW)).used_today == 5


async def test_active_limit_is_separate_from_daily(store: Store) -> None:
    await create(store, active=2)
    await create(store, active=2)
    refusal = await store.create_task(make_request(), now=NOW, daily_quota=5, max_active=2)
    assert isinstance(refusal, QuotaRefusal)
    assert refusal.limit == "active"
    assert refusal.usage.active == 2


async def test_refund_is_idempotent(store: Store) -> None:
    task = await create(store, quota=1)
    assert await store.refund(task.id, NOW) is True
    assert await store.refund(task.id, NOW) is False
    assert (await store.quota_usage(1, NOW)).used_today == 0
    refreshed = await store.get_task(task.id)
    assert refreshed is not None and refreshed.quota_refunded


async def test_quota_resets_on_the_next_utc_day(store: Store) -> None:
    await create(store, quota=1)
    tomorrow = NOW + 86_400
    assert utc_day(tomorrow) != utc_day(NOW)
    assert (await store.quota_usage(1, tomorrow)).used_today == 0


async def test_full_lifecycle_and_guarded_transitions(store: Store) -> None:
    task = await create(store)
    assert task.status is TaskStatus.QUEUED
    assert await store.queue_position(task.id) == 1

    claimed = await store.claim_next_queued(NOW)
    assert claimed is not None and claimed.status is TaskStatus.SUBMITTING
    assert await store.claim_next_queued(NOW) is None
    assert await store.count_in_flight() == 1

    receipt = SubmitReceipt("mg-1", ("c1", "c2"), eta_seconds=40, credit_estimate=45.0)
    submitted = await store.mark_submitted(task.id, receipt, next_poll_at=NOW + 40, now=NOW)
    assert submitted is not None
    assert submitted.conversion_ids == ("c1", "c2")
    assert submitted.musicgpt_task_id == "mg-1" and submitted.next_poll_at == NOW + 40
    assert await store.polls_due(NOW + 40, 5) == [submitted]
    assert await store.polls_due(NOW + 39, 5) == []
    assert await store.next_poll_at() == NOW + 40
    assert await store.next_poll_at(skip=[task.id]) is None

    outputs = [Output("http://x/a.mp3", "c1", 10.0, "A"), Output("http://x/b.mp3", "c2", 11.0)]
    completed = await store.mark_completed(task.id, outputs, cost=1.25, now=NOW + 50)
    assert completed is not None and completed.outputs == tuple(outputs)
    # A second completion (the other webhook, a poll) changes nothing.
    assert await store.mark_completed(task.id, outputs, cost=1.25, now=NOW + 51) is None

    assert await store.claim_delivery(task.id, NOW + 52) is not None
    assert await store.claim_delivery(task.id, NOW + 52) is None
    delivered = await store.mark_delivered(task.id, [111, 222], NOW + 53)
    assert delivered is not None and delivered.delivered_message_ids == (111, 222)
    # A finished task can no longer fail or be refunded through failure.
    assert await store.mark_failed(task.id, "late", NOW + 54) is None
    assert (await store.quota_usage(1, NOW)).used_today == 1


async def test_failure_refunds_in_the_same_step(store: Store) -> None:
    task = await create(store)
    failed = await store.mark_failed(task.id, "MusicGPT said no", NOW)
    assert failed is not None
    assert failed.status is TaskStatus.FAILED and failed.quota_refunded
    assert failed.error == "MusicGPT said no"
    assert (await store.quota_usage(1, NOW)).used_today == 0


async def test_queue_positions_follow_creation_order(store: Store) -> None:
    first, second, third = [await create(store, user_id=u) for u in (1, 2, 3)]
    assert [await store.queue_position(t.id) for t in (first, second, third)] == [1, 2, 3]
    await store.claim_next_queued(NOW)
    assert [await store.queue_position(t.id) for t in (first, second, third)] == [0, 1, 2]


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


# --- Cancel ------------------------------------------------------------------------------


async def test_the_requester_cancels_a_queued_task_and_gets_the_song_back(store: Store) -> None:
    task = await store.create_task(
        make_request(3), now=NOW, daily_quota=1, max_active=5, audio_path="/spool/a.mp3"
    )
    assert isinstance(task, Task)
    assert (await store.quota_usage(3, NOW)).used_today == 1
    before = await store.cancel_queued(task.id, 3, NOW + 1)
    assert before is not None and before.audio_path == "/spool/a.mp3"  # for the caller to remove
    after = await store.get_task(task.id)
    assert after is not None
    assert (after.status, after.audio_path, after.quota_refunded) == (
        TaskStatus.CANCELLED,
        None,
        True,
    )
    usage = await store.quota_usage(3, NOW)
    assert (usage.used_today, usage.active) == (0, 0)
    # Refunded: a daily quota of 1 takes the next one.
    assert isinstance(
        await store.create_task(make_request(3), now=NOW, daily_quota=1, max_active=5), Task
    )
    assert await store.cancel_queued(task.id, 3, NOW + 2) is None  # once


async def test_only_the_requester_cancels_and_only_while_queued(store: Store) -> None:
    task = await create(store, user_id=3)
    assert await store.cancel_queued(task.id, 4, NOW) is None
    assert (await store.get_task(task.id)).status is TaskStatus.QUEUED  # type: ignore[union-attr]
    claimed = await store.claim_next_queued(NOW)
    assert claimed is not None and claimed.id == task.id
    assert await store.cancel_queued(task.id, 3, NOW) is None
    still = await store.get_task(task.id)
    assert still is not None and still.status is TaskStatus.SUBMITTING
    assert not still.quota_refunded


@pytest.mark.parametrize("cancel_first", [True, False])
async def test_a_cancel_and_a_claim_at_the_same_moment_never_both_win(
    store: Store, cancel_first: bool
) -> None:
    task = await create(store, user_id=3)
    cancel = store.cancel_queued(task.id, 3, NOW)
    claim = store.claim_next_queued(NOW)
    if cancel_first:
        cancelled, claimed = await asyncio.gather(cancel, claim)
    else:
        claimed, cancelled = await asyncio.gather(claim, cancel)
    assert (cancelled is None) != (claimed is None)
    final = await store.get_task(task.id)
    assert final is not None
    expected = TaskStatus.CANCELLED if cancelled else TaskStatus.SUBMITTING
    assert final.status is expected
    assert final.quota_refunded is (cancelled is not None)


# --- migration 9: 'extend' allowed by rebuilding `tasks` ------------------------------------


def old_database(path: Path) -> None:
    """A database as version 8 left it: songs of both old kinds, a Rewrite's lineage, charges
    (one refunded), and the highest song number already deleted."""
    with sqlite3.connect(path) as raw:
        for number, script in enumerate(MIGRATIONS[:8], start=1):
            raw.executescript(f"{script}\nPRAGMA user_version = {number};")
        raw.execute("PRAGMA foreign_keys = ON")
        for kind, parent in (("sing", None), ("inpaint", 1), ("sing", None)):
            raw.execute(
                "INSERT INTO tasks (kind, status, user_id, channel_id, prompt, created_at,"
                " updated_at, parent_task_id, parent_output, thread_wanted, dm_state)"
                " VALUES (?, 'delivered', 7, 20, 'old', 1.0, 1.0, ?, ?, 1, 'sent')",
                (kind, parent, 2 if parent else None),
            )
        raw.executemany(
            "INSERT INTO quota_charges (task_id, user_id, day, charged_at, refunded_at)"
            " VALUES (?, 7, ?, 1.0, ?)",
            [(1, utc_day(NOW), None), (2, utc_day(NOW), 5.0), (3, utc_day(NOW), None)],
        )
        raw.execute("DELETE FROM tasks WHERE id = 3")  # its charge goes with it (cascade)
        with pytest.raises(sqlite3.IntegrityError):
            raw.execute(
                "INSERT INTO tasks (kind, status, user_id, channel_id, prompt, created_at,"
                " updated_at) VALUES ('extend', 'queued', 7, 20, 'x', 1.0, 1.0)"
            )


def schema_of(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as raw:
        rows = raw.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks'"
        )
        return {name: sql for name, sql in rows}


async def test_migration_9_lets_an_old_database_store_extends(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old_database(path)
    indexes_before = schema_of(path)
    async with Store.open(path) as store:
        assert await store.schema_version() == len(MIGRATIONS) >= 9
        first, rewrite = await store.get_task(1), await store.get_task(2)
        assert first is not None and rewrite is not None
        assert (first.kind, first.quota_day, first.quota_refunded) == (
            TaskKind.SING,
            utc_day(NOW),
            False,
        )
        assert (rewrite.kind, rewrite.parent_task_id, rewrite.parent_output) == (
            TaskKind.INPAINT,
            1,
            2,
        )
        assert rewrite.quota_refunded and rewrite.thread_wanted and rewrite.dm_state == "sent"
        extend = await store.create_task(
            make_request(7, kind=TaskKind.EXTEND, replace_start=75.5, parent_task_id=2),
            now=NOW,
            daily_quota=5,
            max_active=5,
        )
        assert isinstance(extend, Task)
        # Song numbers go on after the deleted #3, as AUTOINCREMENT promised.
        assert (extend.id, extend.kind, extend.extend_after) == (4, TaskKind.EXTEND, 75.5)
        assert (await store.get_task(4)) == extend
        assert (await store.quota_usage(7, NOW)).used_today == 2  # #1 and the extend
    assert schema_of(path) == indexes_before  # every index made again, the same
    with sqlite3.connect(path) as raw:
        charges = raw.execute("SELECT task_id, refunded_at FROM quota_charges ORDER BY task_id")
        assert charges.fetchall() == [(1, None), (2, 5.0), (4, None)]
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
        assert "tasks_new" not in {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
        raw.execute("PRAGMA foreign_keys = ON")  # still enforced as before, cascade included
        raw.execute("DELETE FROM tasks WHERE id = 4")
        left = raw.execute("SELECT COUNT(*) FROM quota_charges WHERE task_id = 4").fetchone()
        assert left[0] == 0
        with pytest.raises(sqlite3.IntegrityError):
            raw.execute(
                "INSERT INTO quota_charges (task_id, user_id, day, charged_at)"
                " VALUES (99, 7, 'd', 1)"
            )


async def test_the_store_enforces_foreign_keys_after_migrating(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "new.sqlite3") as store:
        row = await store._one("PRAGMA foreign_keys")
        assert row is not None and row[0] == 1


async def test_a_migration_that_breaks_a_foreign_key_is_rolled_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.core.store as store_module

    path = tmp_path / "db.sqlite3"
    async with Store.open(path):
        pass
    broken = "INSERT INTO quota_charges (task_id, user_id, day, charged_at) VALUES (99, 1, 'd', 1);"
    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, broken))
    with pytest.raises(sqlite3.Error, match="foreign key"):
        async with Store.open(path):
            pass
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert raw.execute("SELECT COUNT(*) FROM quota_charges").fetchone()[0] == 0
