"""SQLite storage for tasks, quota charges and a few bot-wide values. The only SQL in the project.

Every state change of a task is one guarded UPDATE (`... WHERE status IN (...)`), so two
callers racing for the same transition (a webhook and a poll, a restart and a retry) cannot
both win: whoever gets a row back owns the next step.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from bot.core.models import (
    Gender,
    Output,
    QuotaRefusal,
    QuotaUsage,
    Request,
    SubmitReceipt,
    Task,
    TaskKind,
    TaskStatus,
    WaveformState,
)

# Numbered migrations: index + 1 is the schema version they bring the database to.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE tasks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('sing', 'inpaint')),
        status TEXT NOT NULL,
        user_id INTEGER NOT NULL,
        guild_id INTEGER,
        channel_id INTEGER NOT NULL,
        status_message_id INTEGER,
        prompt TEXT NOT NULL,
        lyrics TEXT,
        gender TEXT,
        audio_url TEXT,
        audio_path TEXT,
        audio_filename TEXT,
        audio_duration REAL,
        replace_start REAL,
        replace_end REAL,
        lyrics_section_to_replace TEXT,
        num_outputs INTEGER NOT NULL DEFAULT 2,
        upload_limit INTEGER,
        musicgpt_task_id TEXT UNIQUE,
        conversion_ids TEXT NOT NULL DEFAULT '[]',
        eta_seconds INTEGER,
        credit_estimate REAL,
        cost REAL,
        outputs TEXT NOT NULL DEFAULT '[]',
        error TEXT,
        delivered_message_ids TEXT NOT NULL DEFAULT '[]',
        delivery_attempts INTEGER NOT NULL DEFAULT 0,
        webhook_seen INTEGER NOT NULL DEFAULT 0,
        poll_count INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        submitted_at REAL,
        completed_at REAL,
        finished_at REAL,
        next_poll_at REAL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX tasks_by_status ON tasks (status, id);
    CREATE INDEX tasks_active_by_user ON tasks (user_id)
        WHERE status NOT IN ('delivered', 'failed');
    CREATE INDEX tasks_poll_due ON tasks (next_poll_at) WHERE status = 'submitted';

    CREATE TABLE quota_charges (
        task_id INTEGER PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL,
        day TEXT NOT NULL,
        charged_at REAL NOT NULL,
        refunded_at REAL
    );
    CREATE INDEX quota_by_user_day ON quota_charges (user_id, day);

    CREATE TABLE bot_values (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 2: lineage (a Rewrite's or Again's parent), kept inputs, and the `cancelled` status.
    """
    ALTER TABLE tasks ADD COLUMN parent_task_id INTEGER REFERENCES tasks (id);
    ALTER TABLE tasks ADD COLUMN parent_output INTEGER;
    ALTER TABLE tasks ADD COLUMN input_sha256 TEXT;
    DROP INDEX tasks_active_by_user;
    CREATE INDEX tasks_active_by_user ON tasks (user_id)
        WHERE status NOT IN ('delivered', 'failed', 'cancelled');
    CREATE INDEX tasks_by_user ON tasks (user_id, id);
    CREATE INDEX tasks_by_parent ON tasks (parent_task_id) WHERE parent_task_id IS NOT NULL;
    CREATE INDEX tasks_by_input ON tasks (input_sha256) WHERE input_sha256 IS NOT NULL;
    """,
    # 3: uploaded inputs kept after submit (for Again), one row per distinct content.
    """
    CREATE TABLE inputs (
        sha256 TEXT PRIMARY KEY,
        extension TEXT NOT NULL,
        size INTEGER NOT NULL,
        kept_at REAL NOT NULL,
        last_used_at REAL NOT NULL
    );
    CREATE INDEX inputs_by_last_use ON inputs (last_used_at);
    """,
    # 4: a thread per song: asked for, then opened (its id) or refused (why), never both.
    """
    ALTER TABLE tasks ADD COLUMN thread_wanted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tasks ADD COLUMN thread_id INTEGER;
    ALTER TABLE tasks ADD COLUMN thread_refusal TEXT;
    CREATE INDEX tasks_thread_undecided ON tasks (id)
        WHERE thread_wanted = 1 AND thread_id IS NULL AND thread_refusal IS NULL;
    """,
    # 5: per-server settings (bot.guild_settings), one row per server and setting.
    """
    CREATE TABLE guild_settings (
        guild_id INTEGER NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (guild_id, key)
    ) WITHOUT ROWID;
    """,
    # 6: an inpaint's waveform picture: made (its PNG in waveforms/), posted, or none.
    """
    ALTER TABLE tasks ADD COLUMN waveform_state TEXT;
    """,
    # 7: /notify: a member's choice of a DM copy of their songs, and each task's copy (wanted
    # when the task is delivered, then claimed, then sent or refused; `notify.CopyState`).
    """
    CREATE TABLE member_preferences (
        user_id INTEGER PRIMARY KEY,
        dm_copies INTEGER NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL
    );
    ALTER TABLE tasks ADD COLUMN dm_state TEXT;
    ALTER TABLE tasks ADD COLUMN dm_attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tasks ADD COLUMN dm_message_id INTEGER;
    CREATE INDEX tasks_dm_unfinished ON tasks (id) WHERE dm_state IN ('pending', 'sending');
    """,
    # 8: a server's spend and usage by day (bot.budget, /usage): charges of a day range.
    """
    CREATE INDEX quota_by_day ON quota_charges (day);
    """,
    # 9: /extend and the Extend button: `kind` may be 'extend'. SQLite can't change a CHECK in
    # place, so the table is rebuilt the way https://sqlite.org/lang_altertable.html#otheralter
    # says: a new table, every row copied, the old one dropped, the new one renamed, its
    # indexes made again. `_migrate` runs it with foreign keys off (a DROP would otherwise
    # cascade into quota_charges) and runs `PRAGMA foreign_key_check` before committing.
    # AUTOINCREMENT's counter is carried over, so a deleted song's number is never reused.
    """
    CREATE TABLE tasks_new (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('sing', 'inpaint', 'extend')),
        status TEXT NOT NULL,
        user_id INTEGER NOT NULL,
        guild_id INTEGER,
        channel_id INTEGER NOT NULL,
        status_message_id INTEGER,
        prompt TEXT NOT NULL,
        lyrics TEXT,
        gender TEXT,
        audio_url TEXT,
        audio_path TEXT,
        audio_filename TEXT,
        audio_duration REAL,
        replace_start REAL,
        replace_end REAL,
        lyrics_section_to_replace TEXT,
        num_outputs INTEGER NOT NULL DEFAULT 2,
        upload_limit INTEGER,
        musicgpt_task_id TEXT UNIQUE,
        conversion_ids TEXT NOT NULL DEFAULT '[]',
        eta_seconds INTEGER,
        credit_estimate REAL,
        cost REAL,
        outputs TEXT NOT NULL DEFAULT '[]',
        error TEXT,
        delivered_message_ids TEXT NOT NULL DEFAULT '[]',
        delivery_attempts INTEGER NOT NULL DEFAULT 0,
        webhook_seen INTEGER NOT NULL DEFAULT 0,
        poll_count INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        submitted_at REAL,
        completed_at REAL,
        finished_at REAL,
        next_poll_at REAL,
        updated_at REAL NOT NULL,
        parent_task_id INTEGER REFERENCES tasks (id),
        parent_output INTEGER,
        input_sha256 TEXT,
        thread_wanted INTEGER NOT NULL DEFAULT 0,
        thread_id INTEGER,
        thread_refusal TEXT,
        waveform_state TEXT,
        dm_state TEXT,
        dm_attempts INTEGER NOT NULL DEFAULT 0,
        dm_message_id INTEGER
    );
    INSERT INTO tasks_new (
        id, kind, status, user_id, guild_id, channel_id, status_message_id, prompt, lyrics,
        gender, audio_url, audio_path, audio_filename, audio_duration, replace_start,
        replace_end, lyrics_section_to_replace, num_outputs, upload_limit, musicgpt_task_id,
        conversion_ids, eta_seconds, credit_estimate, cost, outputs, error,
        delivered_message_ids, delivery_attempts, webhook_seen, poll_count, created_at,
        submitted_at, completed_at, finished_at, next_poll_at, updated_at, parent_task_id,
        parent_output, input_sha256, thread_wanted, thread_id, thread_refusal, waveform_state,
        dm_state, dm_attempts, dm_message_id
    )
    SELECT
        id, kind, status, user_id, guild_id, channel_id, status_message_id, prompt, lyrics,
        gender, audio_url, audio_path, audio_filename, audio_duration, replace_start,
        replace_end, lyrics_section_to_replace, num_outputs, upload_limit, musicgpt_task_id,
        conversion_ids, eta_seconds, credit_estimate, cost, outputs, error,
        delivered_message_ids, delivery_attempts, webhook_seen, poll_count, created_at,
        submitted_at, completed_at, finished_at, next_poll_at, updated_at, parent_task_id,
        parent_output, input_sha256, thread_wanted, thread_id, thread_refusal, waveform_state,
        dm_state, dm_attempts, dm_message_id
    FROM tasks;
    UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'tasks')
        WHERE name = 'tasks_new' AND EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'tasks');
    DROP TABLE tasks;
    ALTER TABLE tasks_new RENAME TO tasks;
    CREATE INDEX tasks_by_status ON tasks (status, id);
    CREATE INDEX tasks_active_by_user ON tasks (user_id)
        WHERE status NOT IN ('delivered', 'failed', 'cancelled');
    CREATE INDEX tasks_poll_due ON tasks (next_poll_at) WHERE status = 'submitted';
    CREATE INDEX tasks_by_user ON tasks (user_id, id);
    CREATE INDEX tasks_by_parent ON tasks (parent_task_id) WHERE parent_task_id IS NOT NULL;
    CREATE INDEX tasks_by_input ON tasks (input_sha256) WHERE input_sha256 IS NOT NULL;
    CREATE INDEX tasks_thread_undecided ON tasks (id)
        WHERE thread_wanted = 1 AND thread_id IS NULL AND thread_refusal IS NULL;
    CREATE INDEX tasks_dm_unfinished ON tasks (id) WHERE dm_state IN ('pending', 'sending');
    """,
)

ACTIVE_STATUSES = tuple(s.value for s in TaskStatus if not s.is_final)
IN_FLIGHT_AT_MUSICGPT = (TaskStatus.SUBMITTING.value, TaskStatus.SUBMITTED.value)
# SQL below is built only from these constants and "?" placeholders (hence ruff's S608 is off
# for this module); every value travels as a parameter.

_TASK_COLUMNS = """
    t.*, q.day AS quota_day, q.refunded_at IS NOT NULL AS quota_refunded
"""
_TASK_FROM = "tasks t LEFT JOIN quota_charges q ON q.task_id = t.id"
# The same columns for `UPDATE tasks ... RETURNING`, so a transition hands back the task it
# made in the same statement (one trip to aiosqlite's thread instead of two).
_RETURNING_TASK = """
    RETURNING *,
    (SELECT day FROM quota_charges WHERE task_id = tasks.id) AS quota_day,
    (SELECT refunded_at IS NOT NULL FROM quota_charges WHERE task_id = tasks.id) AS quota_refunded
"""


# A delivered task's DM copy is wanted when its requester asked for copies (/notify): decided
# in the statement that records the delivery, so a restart finds it either wanted or not.
_COPY_WANTED = (
    "CASE WHEN EXISTS (SELECT 1 FROM member_preferences p"
    " WHERE p.user_id = tasks.user_id AND p.dm_copies = 1) THEN 'pending' ELSE dm_state END"
)


def utc_day(now: float) -> str:
    """The quota day (UTC calendar date) a moment belongs to."""
    return datetime.fromtimestamp(now, tz=UTC).date().isoformat()


def _placeholders(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)


def _outputs_to_json(outputs: Iterable[Output]) -> str:
    return json.dumps([dataclasses.asdict(o) for o in outputs])


def _outputs_from_json(raw: str) -> tuple[Output, ...]:
    return tuple(Output(**item) for item in json.loads(raw))


def _ids_from_json(raw: str) -> tuple[Any, ...]:
    return tuple(json.loads(raw))


# How a column's stored value becomes the Task field of the same name; unlisted fields are
# stored as they are. A new column is a Task field plus, if it needs one, a line here.
_DECODE: dict[str, Callable[[Any], Any]] = {
    "kind": TaskKind,
    "status": TaskStatus,
    "gender": lambda v: Gender(v) if v else None,
    "outputs": _outputs_from_json,
    "conversion_ids": _ids_from_json,
    "delivered_message_ids": _ids_from_json,
    "quota_day": lambda v: v or "",
    "quota_refunded": bool,
    "webhook_seen": bool,
    "thread_wanted": bool,
    "waveform_state": lambda v: WaveformState(v) if v else None,
}
_TASK_FIELDS = tuple(f.name for f in dataclasses.fields(Task))
# Per shape of result row (its column names): for each Task field, (column index, decoder).
_PLANS: dict[tuple[str, ...], tuple[tuple[int, Callable[[Any], Any] | None], ...]] = {}


def _task_from_row(row: sqlite3.Row) -> Task:
    # Worked out once per query shape, not per row: polls and renders read many rows.
    keys = tuple(row.keys())
    plan = _PLANS.get(keys)
    if plan is None:
        index = {name: i for i, name in enumerate(keys)}
        plan = _PLANS[keys] = tuple((index[name], _DECODE.get(name)) for name in _TASK_FIELDS)
    return Task(*[row[i] if decode is None else decode(row[i]) for i, decode in plan])


# The columns a new task is inserted with, by name: the Request's fields, plus these.
_REQUEST_FIELDS = tuple(f.name for f in dataclasses.fields(Request))
_INSERT_COLUMNS = (
    *_REQUEST_FIELDS,
    "audio_path",
    "audio_duration",
    "input_sha256",
    "created_at",
    "updated_at",
)
_INSERT_TASK = (
    f"INSERT INTO tasks (status, {', '.join(_INSERT_COLUMNS)})"
    f" VALUES ('queued', {', '.join(':' + c for c in _INSERT_COLUMNS)})"
)


def _request_params(request: Request) -> dict[str, Any]:
    params = {name: getattr(request, name) for name in _REQUEST_FIELDS}
    params["kind"] = request.kind.value
    params["gender"] = request.gender.value if request.gender else None
    return params


@dataclasses.dataclass(frozen=True, slots=True)
class KeptInput:
    """One kept upload (`bot.core.media.inputs`): its content hash, extension, size, last use;
    `needed` when a queued or submitting task was made from it."""

    sha256: str
    extension: str
    size: int
    last_used_at: float
    needed: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class UsageLine:
    """One member's (or, with user_id 0, a server's) charged requests and their credits."""

    user_id: int
    requests: int
    credits: float


# Tasks whose input must stay kept: they will still be submitted (and keep it fresh then).
_NEEDS_INPUT = "status IN ('queued', 'submitting')"


# What a failed read or write raises: aiosqlite passes sqlite3's own exceptions through.
DatabaseError = sqlite3.Error
PRIVATE_FILE, PRIVATE_DIR = 0o600, 0o700
BOT_FOLDERS = ("audio", "outputs", "inputs", "waveforms")  # what the bot keeps next to its database


def make_private(path: Path) -> None:
    """The database and its WAL files 0600 (SQLite gives the WAL the database's mode); the
    folder 0700 when the bot made it or it holds only the bot's files, so pointing
    DATABASE_PATH into a shared folder never locks others out of it."""
    folder = path.parent
    if not folder.exists():
        folder.mkdir(mode=PRIVATE_DIR, parents=True)
    mine = (path.name, f"{path.name}-wal", f"{path.name}-shm", f"{path.name}-journal")
    if all(entry in mine or entry in BOT_FOLDERS for entry in os.listdir(folder)):
        with contextlib.suppress(OSError):  # a folder we don't own: leave it as it is
            folder.chmod(PRIVATE_DIR)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    for name in mine:
        with contextlib.suppress(FileNotFoundError):
            (folder / name).chmod(PRIVATE_FILE)


class Store:
    """One aiosqlite connection; writes that span statements hold `_write_lock`."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection
        self._write_lock = asyncio.Lock()

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path | str) -> AsyncIterator[Store]:
        if str(path) != ":memory:":
            make_private(Path(path))
        # isolation_level=None: we issue BEGIN ourselves, so a transaction is exactly as wide
        # as the code that opens it.
        async with aiosqlite.connect(path, isolation_level=None) as db:
            db.row_factory = sqlite3.Row
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA busy_timeout = 5000")
            store = cls(db)
            await store._migrate()
            yield store

    async def _migrate(self) -> None:
        row = await self._one("PRAGMA user_version")
        version = row[0] if row else 0
        if version >= len(MIGRATIONS):
            return
        # Foreign keys off while migrating (SQLite ignores the pragma inside a transaction):
        # rebuilding a table drops the old one, and with them on that DROP would cascade into
        # the rows that reference it. Each step is checked before it commits instead.
        await self._db.execute("PRAGMA foreign_keys = OFF")
        try:
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                # executescript leaves the transaction the script BEGINs open.
                await self._db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};")
                broken = await self._rows("PRAGMA foreign_key_check")
                if broken:
                    raise DatabaseError(
                        f"migration {number} would break {len(broken)} foreign key(s),"
                        f" first in table {broken[0][0]}"
                    )
                await self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                await self._db.rollback()
            raise
        finally:
            await self._db.execute("PRAGMA foreign_keys = ON")

    async def schema_version(self) -> int:
        row = await self._one("PRAGMA user_version")
        return int(row[0]) if row else 0

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.rollback()
                raise
            else:
                await self._db.commit()

    async def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a query and fetch its rows in one trip to aiosqlite's thread (a cursor used
        with `async with` costs three: execute, fetch, close)."""
        return list(await self._db.execute_fetchall(sql, params))

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = await self._rows(sql, params)
        return rows[0] if rows else None

    async def ping(self) -> bool:
        return await self._one("SELECT 1") is not None

    # --- reading tasks ---------------------------------------------------------------------------

    async def _fetch_tasks(self, where: str, params: Sequence[Any] = ()) -> list[Task]:
        sql = f"SELECT {_TASK_COLUMNS} FROM {_TASK_FROM} WHERE {where}"
        # The one connection would show a transaction's half-done state (a task failed but
        # its refund not yet written) to a read slipped in between; reads wait their turn.
        async with self._write_lock:
            rows = await self._rows(sql, params)
        return [_task_from_row(row) for row in rows]

    async def get_task(self, task_id: int) -> Task | None:
        tasks = await self._fetch_tasks("t.id = ?", (task_id,))
        return tasks[0] if tasks else None

    async def unfinished_tasks(self) -> list[Task]:
        return await self._fetch_tasks(
            f"t.status IN ({_placeholders(ACTIVE_STATUSES)}) ORDER BY t.id", ACTIVE_STATUSES
        )

    async def recent_tasks(self, user_id: int, limit: int) -> list[Task]:
        """A member's last `limit` tasks, newest first (/history), by index tasks_by_user."""
        return await self._fetch_tasks(
            "t.user_id = ? ORDER BY t.id DESC LIMIT ?", (user_id, max(0, limit))
        )

    async def queue_position(self, task_id: int) -> int:
        """1 for the next queued task to go to MusicGPT; 0 when the task is not queued."""
        row = await self._one(
            "SELECT COUNT(*) FROM tasks WHERE status = 'queued' AND id <= ?"
            " AND EXISTS (SELECT 1 FROM tasks WHERE id = ? AND status = 'queued')",
            (task_id, task_id),
        )
        return int(row[0]) if row else 0

    async def count_in_flight(self) -> int:
        """Tasks MusicGPT is (or may be) working on: what MUSICGPT_MAX_PARALLEL bounds."""
        row = await self._one(
            f"SELECT COUNT(*) FROM tasks WHERE status IN ({_placeholders(IN_FLIGHT_AT_MUSICGPT)})",
            IN_FLIGHT_AT_MUSICGPT,
        )
        return int(row[0]) if row else 0

    async def count_submitted(self) -> int:
        """Tasks MusicGPT confirmed it took and that aren't finished: what it runs of ours."""
        row = await self._one("SELECT COUNT(*) FROM tasks WHERE status = 'submitted'")
        return int(row[0]) if row else 0

    async def count_queued(self) -> int:
        """Tasks waiting in our queue (/metrics)."""
        row = await self._one("SELECT COUNT(*) FROM tasks WHERE status = 'queued'")
        return int(row[0]) if row else 0

    async def polls_due(self, now: float, limit: int, *, skip: Iterable[int] = ()) -> list[Task]:
        """Submitted tasks due to be polled by `now`, soonest first, leaving out `skip`
        (polls already under way)."""
        skipped = list(skip)
        return await self._fetch_tasks(
            "t.status = 'submitted' AND t.next_poll_at <= ?"
            f" AND t.id NOT IN ({_placeholders(skipped)})"
            " ORDER BY t.next_poll_at, t.id LIMIT ?",
            (now, *skipped, limit),
        )

    async def next_poll_at(self, *, skip: Iterable[int] = ()) -> float | None:
        """When the soonest submitted task (other than `skip`) is due to be polled."""
        skipped = list(skip)
        row = await self._one(
            "SELECT MIN(next_poll_at) FROM tasks WHERE status = 'submitted'"
            f" AND id NOT IN ({_placeholders(skipped)})",
            skipped,
        )
        return row[0] if row else None

    # --- quota -----------------------------------------------------------------------------------

    async def quota_usage(self, user_id: int, now: float) -> QuotaUsage:
        return await self._quota_usage(user_id, utc_day(now))

    async def _quota_usage(self, user_id: int, day: str) -> QuotaUsage:
        row = await self._one(
            "SELECT"
            " (SELECT COUNT(*) FROM quota_charges"
            "   WHERE user_id = ? AND day = ? AND refunded_at IS NULL),"
            # Spelled exactly as the partial index's WHERE, so SQLite uses the index.
            " (SELECT COUNT(*) FROM tasks WHERE user_id = ?"
            "   AND status NOT IN ('delivered', 'failed', 'cancelled'))",
            (user_id, day, user_id),
        )
        assert row is not None  # noqa: S101 - an aggregate always yields a row
        return QuotaUsage(used_today=int(row[0]), active=int(row[1]))

    async def create_task(
        self,
        request: Request,
        *,
        now: float,
        daily_quota: int,
        max_active: int,
        audio_path: str | None = None,
        audio_duration: float | None = None,
        input_sha256: str | None = None,
    ) -> Task | QuotaRefusal:
        """Charge one generation and insert the task as queued, or refuse; all or nothing."""
        day = utc_day(now)
        async with self._transaction() as db:
            usage = await self._quota_usage(request.user_id, day)
            if usage.used_today >= daily_quota:
                return QuotaRefusal(limit="daily", usage=usage)
            if usage.active >= max_active:
                return QuotaRefusal(limit="active", usage=usage)
            cursor = await db.execute(
                _INSERT_TASK,
                {
                    **_request_params(request),
                    "audio_path": audio_path,
                    "audio_duration": audio_duration,
                    "input_sha256": input_sha256,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            task_id = cursor.lastrowid
            await db.execute(
                "INSERT INTO quota_charges (task_id, user_id, day, charged_at) VALUES (?, ?, ?, ?)",
                (task_id, request.user_id, day, now),
            )
        task = await self.get_task(int(task_id or 0))
        assert task is not None  # noqa: S101 - just inserted
        return task

    async def refund(self, task_id: int, now: float) -> bool:
        """Give the generation back. True only the first time: a refund is idempotent."""
        async with self._write_lock:
            cursor = await self._db.execute(
                "UPDATE quota_charges SET refunded_at = ?"
                " WHERE task_id = ? AND refunded_at IS NULL",
                (now, task_id),
            )
            return cursor.rowcount == 1

    # --- transitions -----------------------------------------------------------------------------

    async def _transition(
        self, task_id: int, from_statuses: Sequence[TaskStatus], assignments: str, params: Sequence
    ) -> Task | None:
        """Apply `assignments` if the task is in one of `from_statuses`; the task, or None."""
        allowed = [s.value for s in from_statuses]
        async with self._write_lock:
            row = await self._one(
                f"UPDATE tasks SET {assignments} WHERE id = ?"
                f" AND status IN ({_placeholders(allowed)}) {_RETURNING_TASK}",
                (*params, task_id, *allowed),
            )
        return _task_from_row(row) if row else None

    async def claim_next_queued(self, now: float) -> Task | None:
        """Move the oldest queued task to `submitting`, if any; the caller then submits it."""
        async with self._write_lock:
            # One statement, so it is atomic on its own: no explicit transaction needed.
            row = await self._one(
                "UPDATE tasks SET status = 'submitting', updated_at = ?"
                " WHERE id = (SELECT id FROM tasks WHERE status = 'queued' ORDER BY id LIMIT 1)"
                f" {_RETURNING_TASK}",
                (now,),
            )
        return _task_from_row(row) if row else None

    async def requeue(self, task_id: int, now: float) -> Task | None:
        """submitting -> queued, for a submit MusicGPT certainly did not take (a 429).

        The task keeps its id, and `claim_next_queued` takes the lowest id first: every task
        queued after it has a higher id, so it is at the head of the queue again. Its audio
        stays on disk and its quota stays charged; nothing about it is lost.
        """
        return await self._transition(
            task_id, [TaskStatus.SUBMITTING], "status = 'queued', updated_at = ?", (now,)
        )

    async def mark_submitted(
        self, task_id: int, receipt: SubmitReceipt, *, next_poll_at: float, now: float
    ) -> Task | None:
        return await self._transition(
            task_id,
            [TaskStatus.SUBMITTING],
            "status = 'submitted', musicgpt_task_id = ?, conversion_ids = ?, eta_seconds = ?,"
            " credit_estimate = ?, submitted_at = ?, next_poll_at = ?, audio_path = NULL,"
            " updated_at = ?",
            (
                receipt.task_id,
                json.dumps(list(receipt.conversion_ids)),
                receipt.eta_seconds,
                receipt.credit_estimate,
                now,
                next_poll_at,
                now,
            ),
        )

    async def schedule_poll(self, task_id: int, *, at: float, polled: bool, now: float) -> None:
        async with self._write_lock:
            await self._db.execute(
                "UPDATE tasks SET next_poll_at = ?, poll_count = poll_count + ?, updated_at = ?"
                " WHERE id = ? AND status = 'submitted'",
                (at, 1 if polled else 0, now, task_id),
            )

    async def note_webhook(self, task_id: int, musicgpt_task_id: str | None, now: float) -> bool:
        """Remember a webhook came: a submitted task becomes due for a confirming poll now.

        Only for a task still waiting on MusicGPT, and not when the webhook names another
        MusicGPT task than the one we know. True when it was noted.
        """
        async with self._write_lock:
            cursor = await self._db.execute(
                "UPDATE tasks SET webhook_seen = 1, updated_at = :now,"
                " next_poll_at = CASE WHEN status = 'submitted' THEN :now ELSE next_poll_at END"
                " WHERE id = :id AND status IN ('submitting', 'submitted')"
                " AND (musicgpt_task_id IS NULL OR :named IS NULL OR musicgpt_task_id = :named)",
                {"now": now, "id": task_id, "named": musicgpt_task_id},
            )
            return cursor.rowcount == 1

    async def mark_completed(
        self, task_id: int, outputs: Sequence[Output], cost: float | None, now: float
    ) -> Task | None:
        return await self._transition(
            task_id,
            [TaskStatus.SUBMITTED],
            "status = 'completed', outputs = ?, cost = ?, completed_at = ?, next_poll_at = NULL,"
            " updated_at = ?",
            (_outputs_to_json(outputs), cost, now, now),
        )

    async def claim_delivery(self, task_id: int, now: float) -> Task | None:
        """completed -> delivering. Only one caller wins; it alone may post the result."""
        return await self._transition(
            task_id,
            [TaskStatus.COMPLETED],
            "status = 'delivering', delivery_attempts = delivery_attempts + 1, updated_at = ?",
            (now,),
        )

    async def release_delivery(self, task_id: int, now: float) -> Task | None:
        """delivering -> completed, so a later attempt can claim it again."""
        return await self._transition(
            task_id, [TaskStatus.DELIVERING], "status = 'completed', updated_at = ?", (now,)
        )

    async def mark_delivered(
        self, task_id: int, message_ids: Sequence[int], now: float
    ) -> Task | None:
        return await self._transition(
            task_id,
            [TaskStatus.DELIVERING],
            "status = 'delivered', delivered_message_ids = ?, finished_at = ?, updated_at = ?,"
            f" dm_state = {_COPY_WANTED}",
            (json.dumps(list(message_ids)), now, now),
        )

    async def mark_failed(self, task_id: int, error: str, now: float) -> Task | None:
        """Fail an unfinished task and refund its quota in the same transaction."""
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE tasks SET status = 'failed', error = ?, finished_at = ?, updated_at = ?,"
                " next_poll_at = NULL, audio_path = NULL"
                f" WHERE id = ? AND status IN ({_placeholders(ACTIVE_STATUSES)})",
                (error, now, now, task_id, *ACTIVE_STATUSES),
            )
            changed = cursor.rowcount == 1
            if changed:
                await db.execute(
                    "UPDATE quota_charges SET refunded_at = ?"
                    " WHERE task_id = ? AND refunded_at IS NULL",
                    (now, task_id),
                )
        return await self.get_task(task_id) if changed else None

    async def cancel_queued(self, task_id: int, user_id: int, now: float) -> Task | None:
        """queued -> cancelled for the requester, with the refund in the same transaction.

        The guard is the dispatcher's claim turned around: whichever of the two statements
        runs first wins the row, so a task cancelled here is never sent, and one claimed a
        moment earlier is not cancelled. The task as it was before (its `audio_path` still
        set, for the caller to remove), or None when it wasn't queued or isn't theirs.
        """
        async with self._transaction() as db:
            rows = await db.execute_fetchall(
                f"SELECT {_TASK_COLUMNS} FROM {_TASK_FROM}"
                " WHERE t.id = ? AND t.user_id = ? AND t.status = 'queued'",
                (task_id, user_id),
            )
            if not rows:
                return None
            await db.execute(
                "UPDATE tasks SET status = 'cancelled', finished_at = ?, updated_at = ?,"
                " audio_path = NULL WHERE id = ? AND status = 'queued'",
                (now, now, task_id),
            )
            await db.execute(
                "UPDATE quota_charges SET refunded_at = ?"
                " WHERE task_id = ? AND refunded_at IS NULL",
                (now, task_id),
            )
        return _task_from_row(next(iter(rows)))

    async def set_status_message(self, task_id: int, message_id: int) -> None:
        async with self._write_lock:
            await self._db.execute(
                "UPDATE tasks SET status_message_id = ? WHERE id = ?", (message_id, task_id)
            )

    # --- threads ---------------------------------------------------------------------------------
    # A song that asked for a thread gets one decision, recorded once: the thread it has, or
    # why it has none. Both guards say "still undecided", so two openers racing (the command
    # and the restart sweep, say) can't record two outcomes.

    _THREAD_UNDECIDED = "thread_wanted = 1 AND thread_id IS NULL AND thread_refusal IS NULL"

    async def tasks_awaiting_thread(self) -> list[Task]:
        """Unfinished tasks that asked for a thread and have a status message to start it
        from, but no recorded outcome yet (a run died before recording it, say)."""
        return await self._fetch_tasks(
            # No thread column is in quota_charges: the names need no `t.`.
            f"{self._THREAD_UNDECIDED} AND t.status_message_id IS NOT NULL"
            f" AND t.status IN ({_placeholders(ACTIVE_STATUSES)}) ORDER BY t.id",
            ACTIVE_STATUSES,
        )

    async def record_thread(self, task_id: int, thread_id: int) -> Task | None:
        """The task's posts go to this thread from now on; None if it was already decided."""
        return await self._decide_thread(task_id, "thread_id = ?", thread_id)

    async def record_thread_refusal(self, task_id: int, refusal: str) -> Task | None:
        """The task stays in its channel, for this reason; None if it was already decided."""
        return await self._decide_thread(task_id, "thread_refusal = ?", refusal)

    async def _decide_thread(self, task_id: int, assignment: str, value: object) -> Task | None:
        async with self._write_lock:
            row = await self._one(
                f"UPDATE tasks SET {assignment} WHERE id = ? AND {self._THREAD_UNDECIDED}"
                f" {_RETURNING_TASK}",
                (value, task_id),
            )
        return _task_from_row(row) if row else None

    # --- bot-wide values -------------------------------------------------------------------------

    async def get_value(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM bot_values WHERE key = ?", (key,))
        return row["value"] if row else None

    async def set_value(self, key: str, value: str) -> None:
        async with self._write_lock:
            await self._db.execute(
                "INSERT INTO bot_values (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    async def get_or_create_value(self, key: str, make: str) -> str:
        """The stored value for `key`, storing `make` first if there is none."""
        async with self._write_lock:
            await self._db.execute(
                "INSERT INTO bot_values (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (key, make),
            )
        value = await self.get_value(key)
        assert value is not None  # noqa: S101 - inserted above
        return value

    # --- per-server settings (bot.core.servers.guild_settings) -----------------------------------

    async def guild_settings(self, guild_id: int) -> dict[str, str]:
        """Every setting a server has made, by key, as stored (JSON text)."""
        rows = await self._rows(
            "SELECT key, value FROM guild_settings WHERE guild_id = ?", (guild_id,)
        )
        return {row["key"]: row["value"] for row in rows}

    async def set_guild_setting(self, guild_id: int, key: str, value: str | None) -> None:
        """Store a server's setting; None removes it (back to the default)."""
        async with self._write_lock:
            if value is None:
                await self._db.execute(
                    "DELETE FROM guild_settings WHERE guild_id = ? AND key = ?", (guild_id, key)
                )
            else:
                await self._db.execute(
                    "INSERT INTO guild_settings (guild_id, key, value) VALUES (?, ?, ?)"
                    " ON CONFLICT (guild_id, key) DO UPDATE SET value = excluded.value",
                    (guild_id, key, value),
                )

    # --- DM copies (/notify, bot.core.songs.notify) ----------------------------------------------
    # A copy goes pending -> sending (the claim: whoever gets the row sends) -> sent, refused
    # or failed, each one guarded UPDATE like the task's own transitions; an attempt that
    # failed gives its claim back (sending -> pending) for the next try.

    async def set_dm_copies(self, user_id: int, wanted: bool, now: float) -> None:
        """A member's /notify choice, for the songs delivered from now on."""
        async with self._write_lock:
            await self._db.execute(
                "INSERT INTO member_preferences (user_id, dm_copies, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (user_id) DO UPDATE SET dm_copies = excluded.dm_copies,"
                " updated_at = excluded.updated_at",
                (user_id, int(wanted), now),
            )

    async def dm_copies(self, user_id: int) -> bool:
        row = await self._one(
            "SELECT dm_copies FROM member_preferences WHERE user_id = ?", (user_id,)
        )
        return bool(row and row[0])

    async def tasks_awaiting_copy(self) -> list[Task]:
        """Delivered tasks whose DM copy is wanted but not settled (a restart resumes them)."""
        return await self._fetch_tasks(
            "t.dm_state IN ('pending', 'sending') AND t.status = 'delivered' ORDER BY t.id"
        )

    async def _copy_transition(
        self, task_id: int, from_states: Sequence[str], assignments: str, params: Sequence
    ) -> Task | None:
        async with self._write_lock:
            row = await self._one(
                f"UPDATE tasks SET {assignments} WHERE id = ? AND status = 'delivered'"
                f" AND dm_state IN ({_placeholders(from_states)}) {_RETURNING_TASK}",
                (*params, task_id, *from_states),
            )
        return _task_from_row(row) if row else None

    async def claim_copy(self, task_id: int, now: float) -> Task | None:
        """pending -> sending. Only one caller wins; it alone may send the copy."""
        return await self._copy_transition(
            task_id,
            ["pending"],
            "dm_state = 'sending', dm_attempts = dm_attempts + 1, updated_at = ?",
            (now,),
        )

    async def release_copy(self, task_id: int, now: float) -> Task | None:
        """sending -> pending, so a later attempt can claim it again."""
        return await self._copy_transition(
            task_id, ["sending"], "dm_state = 'pending', updated_at = ?", (now,)
        )

    async def record_copy(
        self, task_id: int, state: str, message_id: int | None, now: float
    ) -> Task | None:
        """sending -> `state` (sent, refused or failed), with the DM's id when sent."""
        return await self._copy_transition(
            task_id,
            ["sending"],
            "dm_state = ?, dm_message_id = ?, updated_at = ?",
            (state, message_id, now),
        )

    async def give_up_copy(self, task_id: int, now: float) -> Task | None:
        """An unsettled copy -> failed: tried enough, never to be sent."""
        return await self._copy_transition(
            task_id, ["pending", "sending"], "dm_state = 'failed', updated_at = ?", (now,)
        )

    # --- a server's spend and usage (bot.core.songs.budget, /usage) ------------------------------
    # A task's credits belong to the UTC day it was charged (quota_charges.day), like its
    # quota: MusicGPT's `credit_estimate` from the submit answer until its `conversion_cost`
    # (tasks.cost) is known; nothing before the submit answers, nothing once refunded (the
    # task failed or was cancelled).

    _CHARGED = (
        "quota_charges q JOIN tasks t ON t.id = q.task_id"
        " WHERE t.guild_id = ? AND q.day >= ? AND q.day < ? AND q.refunded_at IS NULL"
    )
    _CREDITS = "COALESCE(t.cost, t.credit_estimate, 0)"

    async def guild_spend(self, guild_id: int, day: str) -> float:
        """A server's credits on one UTC day (`utc_day`), by index quota_by_day."""
        row = await self._one(
            f"SELECT COALESCE(SUM({self._CREDITS}), 0) FROM {self._CHARGED}",
            (guild_id, day, f"{day}~"),  # "~" sorts after every ISO date of that day
        )
        return float(row[0]) if row else 0.0

    async def guild_usage(
        self, guild_id: int, first_day: str, end_day: str, *, top: int
    ) -> tuple[UsageLine, list[UsageLine]]:
        """A server's requests and credits from `first_day` up to (not including) `end_day`:
        the total (user_id 0), and the `top` members by credits, then requests."""
        params = (guild_id, first_day, end_day)
        async with self._write_lock:  # the totals and the top read the same moment
            total = await self._one(
                f"SELECT COUNT(*), COALESCE(SUM({self._CREDITS}), 0) FROM {self._CHARGED}", params
            )
            rows = await self._rows(
                f"SELECT q.user_id, COUNT(*) AS requests, SUM({self._CREDITS}) AS credits"
                f" FROM {self._CHARGED} GROUP BY q.user_id"
                " ORDER BY credits DESC, requests DESC, q.user_id LIMIT ?",
                (*params, max(0, top)),
            )
        assert total is not None  # noqa: S101 - an aggregate always yields a row
        return UsageLine(0, int(total[0]), float(total[1])), [
            UsageLine(int(r[0]), int(r[1]), float(r[2])) for r in rows
        ]

    # --- kept inputs (bot.core.media.inputs) -----------------------------------------------------

    async def put_input(self, sha256: str, extension: str, size: int, now: float) -> None:
        """Record a kept input, or mark an existing one used now."""
        async with self._write_lock:
            await self._db.execute(
                "INSERT INTO inputs (sha256, extension, size, kept_at, last_used_at)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (sha256) DO UPDATE SET last_used_at = excluded.last_used_at",
                (sha256, extension, size, now, now),
            )

    async def get_input(self, sha256: str) -> KeptInput | None:
        row = await self._one(
            "SELECT sha256, extension, size, last_used_at FROM inputs WHERE sha256 = ?",
            (sha256,),
        )
        return KeptInput(*row) if row else None

    async def touch_input(self, sha256: str, now: float) -> bool:
        """Mark a kept input used now; False when it is no longer kept."""
        async with self._write_lock:
            cursor = await self._db.execute(
                "UPDATE inputs SET last_used_at = MAX(last_used_at, ?) WHERE sha256 = ?",
                (now, sha256),
            )
            return cursor.rowcount == 1

    async def kept_inputs(self) -> list[KeptInput]:
        """Every kept input, least recently used first."""
        rows = await self._rows(
            "SELECT i.sha256, i.extension, i.size, i.last_used_at,"
            f" EXISTS (SELECT 1 FROM tasks t WHERE t.input_sha256 = i.sha256 AND t.{_NEEDS_INPUT})"
            " FROM inputs i ORDER BY i.last_used_at, i.sha256"
        )
        return [KeptInput(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    async def delete_input(self, sha256: str) -> bool:
        """Forget a kept input, unless a queued or submitting task needs it (checked in the
        same statement, so a task queued meanwhile keeps it); True when it was forgotten."""
        async with self._write_lock:
            cursor = await self._db.execute(
                "DELETE FROM inputs WHERE sha256 = ? AND NOT EXISTS"
                f" (SELECT 1 FROM tasks WHERE input_sha256 = ? AND {_NEEDS_INPUT})",
                (sha256, sha256),
            )
            return cursor.rowcount == 1

    async def forget_input(self, sha256: str) -> None:
        """Drop the row of an input whose file is gone (nothing can be made from it)."""
        async with self._write_lock:
            await self._db.execute("DELETE FROM inputs WHERE sha256 = ?", (sha256,))

    async def set_task_input(self, task_id: int, sha256: str) -> None:
        async with self._write_lock:
            await self._db.execute(
                "UPDATE tasks SET input_sha256 = ? WHERE id = ?", (sha256, task_id)
            )

    # --- waveform pictures (bot.core.media.waveform_jobs) ----------------------------------------

    async def set_waveform_state(
        self, task_id: int, state: WaveformState, *, was: WaveformState | None
    ) -> bool:
        """Move the task's picture from `was` to `state`; False when it stood elsewhere."""
        async with self._write_lock:
            cursor = await self._db.execute(
                "UPDATE tasks SET waveform_state = ? WHERE id = ? AND waveform_state IS ?",
                (state.value, task_id, was.value if was else None),
            )
            return cursor.rowcount == 1
