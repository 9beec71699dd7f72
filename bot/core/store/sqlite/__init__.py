"""The SQLite adapter: the only module that names `sqlite3` or `aiosqlite`.

One aiosqlite connection in WAL mode. A transaction is `BEGIN IMMEDIATE` ... `COMMIT`, so
writers in other processes (or on other connections) wait for it, as SQLite has them do.
While a transaction is open the connection is its own (`_turn`), as a pool would lend one
connection: that keeps other callers' statements out of it, and nothing else; no transition
counts on it (the contract tests run two connections, as two processes would).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import sqlite3
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot.core.errors import StorageError
from bot.core.store.database import Row
from bot.core.store.migrate import statements

PRIVATE_FILE, PRIVATE_DIR = 0o600, 0o700
BOT_FOLDERS = ("audio", "outputs", "inputs", "waveforms")  # what the bot keeps next to its database

T = TypeVar("T")


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


def storage_error(error: sqlite3.Error) -> StorageError:
    """sqlite3's exception as the project's own, with what kind of failure it was."""
    text = str(error)
    code = getattr(error, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL or "database or disk is full" in text:
        reason = "full"
    elif "not a database" in text or code == sqlite3.SQLITE_NOTADB:
        reason = "not_a_database"
    elif "readonly" in text or "unable to open" in text:
        reason = "read_only"
    elif code == sqlite3.SQLITE_BUSY or "database is locked" in text:
        reason = "busy"
    else:
        reason = "other"
    return StorageError(text or type(error).__name__, reason=reason)


async def _mapped(call: Awaitable[T]) -> T:
    try:
        return await call
    except sqlite3.Error as error:
        raise storage_error(error) from error


@functools.lru_cache(maxsize=512)
def translate(sql: str) -> str:
    """PostgreSQL's `$1` placeholders as SQLite's numbered `?1` (same meaning: the first
    parameter, wherever it appears)."""
    return re.sub(r"\$(\d+)", r"?\1", sql)


class SqliteTransaction:
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._db = connection

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        # execute_fetchall: one trip to aiosqlite's thread (a cursor costs three).
        rows = await _mapped(self._db.execute_fetchall(translate(sql), params))
        return list(rows)

    async def fetchrow(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.fetch(sql, params)
        return rows[0] if rows else None

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        # One trip to aiosqlite's thread; the cursor is finalised when dropped, as before.
        cursor = await _mapped(self._db.execute(translate(sql), params))
        return cursor.rowcount

    async def serialize(self, key: str) -> None:
        """Nothing to do: BEGIN IMMEDIATE already lets one writer at a time in."""


class SqliteDatabase:
    """One connection to an SQLite file; see the module's docstring."""

    dialect = "sqlite"
    shared = False
    skip_locked = ""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._conn = connection
        self._direct = SqliteTransaction(connection)
        self._turn = asyncio.Lock()
        self._heard: dict[str, list[Callable[[str], None]]] = {}

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path | str, *, create: bool = True) -> AsyncIterator[SqliteDatabase]:
        """The database at `path`, made (private to the bot, in WAL mode) if `create`; without
        it, only a file that exists already, as it is (a reader beside the bot)."""
        logging.getLogger("aiosqlite").setLevel(logging.INFO)  # a line per query is noise
        try:
            if create and str(path) != ":memory:":
                make_private(Path(path))
            # isolation_level=None: we issue BEGIN ourselves, so a transaction is exactly as
            # wide as the code that opens it.
            if create:
                db = await aiosqlite.connect(path, isolation_level=None)
            else:
                uri = f"file:{urllib.parse.quote(str(path))}?mode=rw"
                db = await aiosqlite.connect(uri, isolation_level=None, uri=True)
        except sqlite3.Error as error:
            raise storage_error(error) from error
        try:
            db.row_factory = sqlite3.Row
            pragmas = ["PRAGMA journal_mode = WAL"] if create else []
            pragmas += [
                "PRAGMA foreign_keys = ON",
                "PRAGMA synchronous = NORMAL",
                "PRAGMA busy_timeout = 5000",
            ]
            for pragma in pragmas:
                await _mapped(db.execute(pragma))
            yield cls(db)
        finally:
            await db.close()

    # A statement on its own goes straight to the connection's queue (aiosqlite runs them in
    # order) unless a transaction holds the connection: then it waits for the COMMIT, so it
    # neither joins the transaction nor sees its half-done state.

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        if not self._turn.locked():
            return await self._direct.fetch(sql, params)
        async with self._turn:
            return await self._direct.fetch(sql, params)

    async def fetchrow(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.fetch(sql, params)
        return rows[0] if rows else None

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        if not self._turn.locked():
            return await self._direct.execute(sql, params)
        async with self._turn:
            return await self._direct.execute(sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteTransaction]:
        async with self._turn:
            try:
                await _mapped(self._conn.execute("BEGIN IMMEDIATE"))
            except asyncio.CancelledError:
                # aiosqlite runs the BEGIN on its thread all the same: end that transaction
                # (the ROLLBACK queues behind it) before the turn passes to the next caller,
                # whose own BEGIN would otherwise fail inside it.
                with contextlib.suppress(sqlite3.Error):
                    await self._conn.rollback()
                raise
            try:
                yield self._direct
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await self._conn.rollback()
                raise
            else:
                try:
                    await self._conn.commit()
                except sqlite3.Error as error:
                    with contextlib.suppress(sqlite3.Error):
                        await self._conn.rollback()
                    raise storage_error(error) from error

    async def notify(self, channel: str, payload: str) -> None:
        # One SQLite file has one process: its own listeners are everyone there is to tell.
        for heard in self._heard.get(channel, ()):
            heard(payload)

    async def listen(self, channel: str, heard: Callable[[str], None]) -> None:
        self._heard.setdefault(channel, []).append(heard)

    @asynccontextmanager
    async def exclusively(self, key: str) -> AsyncIterator[bool]:
        yield True  # one process per file: the turn is always this one's

    async def legacy_schema_version(self) -> int:
        row = await self.fetchrow("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def run_script(self, transaction: Any, script: str) -> None:
        for statement in statements(script):
            await transaction.execute(statement)

    async def migrated(self, transaction: Any, version: int) -> None:
        # Kept in step, so a bot of an older version started on this file sees how far it is.
        await transaction.execute(f"PRAGMA user_version = {int(version)}")
