"""Connection and transactions: what a database adapter gives the repositories.

Repositories write their SQL once, with PostgreSQL's numbered placeholders (`$1`, `$2`, ...)
and only what both SQLite and PostgreSQL understand (`RETURNING`, `ON CONFLICT`, `CASE`,
`CAST(... AS ...)`; nothing only one of them reads, like SQLite's pragmas or double-colon casts);
an adapter (`bot.core.store.sqlite`, `bot.core.store.postgres`) translates the placeholders
where it must and maps its driver's errors to `StorageError`.

Correctness never rests on the adapter serialising callers: every transition is one guarded
statement whose returned rows (or row count) say who won, and the few writes that span two
statements run in a `transaction()`, as they would against a database that other processes
write at the same time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol


class Row(Protocol):
    """One result row: by position or by column name (SQLite's Row and asyncpg's Record both)."""

    def keys(self) -> Any: ...
    def __getitem__(self, key: int | str, /) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __len__(self) -> int: ...


class Executor(Protocol):
    """Runs statements: a database outside a transaction, or one transaction."""

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """The statement's rows (a SELECT, or a write with RETURNING)."""
        ...

    async def fetchrow(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row, or None."""
        ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a write; how many rows it changed."""
        ...


class Transaction(Executor, Protocol):
    async def serialize(self, key: str) -> None:
        """Make concurrent transactions that pass the same `key` run one after another from
        here to their end. SQLite's writers are serialised already (BEGIN IMMEDIATE), so its
        adapter does nothing; PostgreSQL's takes an advisory lock held to the transaction's end."""
        ...


class Database(Executor, Protocol):
    """A connection (or a pool) to one database."""

    # Which migration files it runs (bot.core.store.migrate): "sqlite" or "postgres".
    dialect: str

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """Statements that commit together or not at all (rolled back on an exception)."""
        ...

    # Whether other processes may use this database at the same time (PostgreSQL), or only
    # this one (SQLite: one process per file), so every claim not held here is a dead run's.
    shared: bool

    def exclusively(self, key: str) -> AbstractAsyncContextManager[bool]:
        """One process at a time, without waiting: True inside when this process has the turn
        named `key` (held to the block's end), False when another process has it now (the
        caller skips its round). PostgreSQL: a session advisory lock, tried, on a connection
        held for the block, so a process that dies gives it up with its connection; SQLite:
        always True (one process)."""
        ...

    @property
    def skip_locked(self) -> str:
        """What a claim's sub-select appends so two claimers pass over each other's row
        instead of waiting for it ("" in SQLite, " FOR UPDATE SKIP LOCKED" in PostgreSQL)."""
        ...

    async def legacy_schema_version(self) -> int:
        """The schema version a database recorded before the migrations table existed
        (SQLite's user_version header field); 0 when there is no such thing."""
        ...

    async def run_script(self, transaction: Transaction, script: str) -> None:
        """Run a migration's statements inside `transaction`."""
        ...

    async def migrated(self, transaction: Transaction, version: int) -> None:
        """Called after migration `version` is applied, in the same transaction."""
        ...

    async def notify(self, channel: str, payload: str) -> None:
        """Tell whoever listens on `channel`: every process on this PostgreSQL database
        (NOTIFY), or this process alone on SQLite, where one process is the whole world."""
        ...

    async def listen(self, channel: str, heard: Callable[[str], None]) -> None:
        """Call `heard(payload)` for every notify on `channel` (this process's own too) while
        the database is open. A listener whose connection dropped is called with "" once it is
        back: whatever was said meanwhile was missed."""
        ...


def placeholders(values: Sequence[object], start: int = 1) -> str:
    """`$start, $start+1, ...`, one per value: an IN list."""
    return ", ".join(f"${n}" for n in range(start, start + len(values)))
