"""The PostgreSQL adapter: the only module that names `asyncpg`.

One asyncpg pool. A statement on its own borrows a connection for that statement alone; a
transaction borrows one from BEGIN to COMMIT, so other callers (and other processes) run
beside it, as PostgreSQL has them do. The repositories' SQL runs as written (`$1` is
PostgreSQL's own placeholder); what they need of PostgreSQL beyond it:

- `serialize(key)`: `pg_advisory_xact_lock` on the key's hash, held to the transaction's end
  (the quota charge, the migrations);
- `exclusively(key)`: `pg_try_advisory_lock` on the key's hash, on a connection held for the
  block (periodic work one process at a time; a process that doesn't get it skips the round);
- `skip_locked`: a claim's sub-select skips rows another claimer has locked
  (`FOR UPDATE SKIP LOCKED`), so claimers never wait on nor take each other's row.

Transactions are READ COMMITTED, PostgreSQL's default: each guarded `UPDATE ... WHERE
status IN (...)` re-checks its WHERE on the row another writer just committed, so exactly one
of two racing writers gets the row back.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg

from bot.core.errors import StorageError
from bot.core.store.database import Row
from bot.core.store.migrate import statements
from bot.core.store.postgres.listen import Listener

T = TypeVar("T")

CONNECT_SECONDS = 10.0
POOL_MIN, POOL_MAX = 1, 10
_COUNT = re.compile(r"(\d+)$")

# SQLSTATE classes and codes, as the project's reasons (bot.core.errors.StorageError).
_REASONS = {
    "53100": "full",  # disk_full
    "53200": "full",  # out_of_memory
    "25006": "read_only",  # read_only_sql_transaction
    "42501": "read_only",  # insufficient_privilege
    "55P03": "busy",  # lock_not_available
    "40P01": "busy",  # deadlock_detected
    "40001": "busy",  # serialization_failure
    "57P03": "unreachable",  # cannot_connect_now (starting up)
    "3D000": "unreachable",  # invalid_catalog_name: no such database
    "28000": "unreachable",  # invalid_authorization_specification
    "28P01": "unreachable",  # invalid_password
}


def storage_error(error: BaseException) -> StorageError:
    """asyncpg's (or the socket's) exception as the project's own, with its kind."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    code = getattr(error, "sqlstate", None)
    if isinstance(error, asyncpg.PostgresError) and code:
        reason = _REASONS.get(code, "unreachable" if code.startswith("08") else "other")
    elif isinstance(error, OSError | TimeoutError | asyncpg.InterfaceError):
        reason = "unreachable"
    else:
        reason = "other"
    return StorageError(text, reason=reason)


_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


async def _mapped(call: Awaitable[T]) -> T:
    try:
        return await call
    except _DRIVER_ERRORS as error:
        raise storage_error(error) from error


def _changed(status: str) -> int:
    """The row count in a command tag ("UPDATE 1", "INSERT 0 1", "DELETE 0"); 0 if none."""
    match = _COUNT.search(status or "")
    return int(match[1]) if match else 0


class PostgresTransaction:
    """Statements on one connection (inside a transaction, or borrowed for one statement)."""

    def __init__(self, connection: Any) -> None:
        self._conn = connection

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(await _mapped(self._conn.fetch(sql, *params)))

    async def fetchrow(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = await _mapped(self._conn.fetchrow(sql, *params))
        return row

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return _changed(await _mapped(self._conn.execute(sql, *params)))

    async def serialize(self, key: str) -> None:
        """Wait for, then hold to the transaction's end, the advisory lock named `key`."""
        await self.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", (key,))

    async def copy_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert `rows` into `table` with one COPY (copy-db's bulk load)."""
        await _mapped(self._conn.copy_records_to_table(table, records=rows, columns=list(columns)))


class PostgresDatabase:
    """A pool of connections to one PostgreSQL database; see the module's docstring."""

    dialect = "postgres"
    shared = True
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, pool: Any, url: str) -> None:
        self._pool = pool
        self._listener = Listener(url)  # its connection is made on the first listen()

    @classmethod
    @asynccontextmanager
    async def open(
        cls, url: str, *, min_size: int = POOL_MIN, max_size: int = POOL_MAX
    ) -> AsyncIterator[PostgresDatabase]:
        """A pool on the database at `url` (postgresql://USER@HOST:PORT/DBNAME); StorageError
        (reason "unreachable" when it can't be reached or logged into) if it can't be had."""
        try:
            pool = await asyncpg.create_pool(
                url, min_size=min_size, max_size=max_size, timeout=CONNECT_SECONDS
            )
        except (*_DRIVER_ERRORS, ValueError) as error:
            raise storage_error(error) from error
        db = cls(pool, url)
        try:
            yield db
        finally:
            await db._listener.close()
            with contextlib.suppress(*_DRIVER_ERRORS):
                await pool.close()

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(await _mapped(self._pool.fetch(sql, *params)))

    async def fetchrow(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = await _mapped(self._pool.fetchrow(sql, *params))
        return row

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return _changed(await _mapped(self._pool.execute(sql, *params)))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTransaction]:
        # Only the driver's own steps are mapped here (a statement's errors are mapped where
        # it runs); whatever the caller's code raises goes through as it is, after ROLLBACK.
        connection = await _mapped(self._pool.acquire())
        try:
            transaction = connection.transaction()
            await _mapped(transaction.start())
            try:
                yield PostgresTransaction(connection)
            except BaseException:
                with contextlib.suppress(*_DRIVER_ERRORS):
                    await transaction.rollback()
                raise
            await _mapped(transaction.commit())
        finally:
            await self._pool.release(connection)

    async def notify(self, channel: str, payload: str) -> None:
        await self.execute("SELECT pg_notify($1, $2)", (channel, payload))

    async def listen(self, channel: str, heard: Callable[[str], None]) -> None:
        await self._listener.listen(channel, heard)

    @asynccontextmanager
    async def exclusively(self, key: str) -> AsyncIterator[bool]:
        connection = await _mapped(self._pool.acquire())
        try:
            held = await _mapped(
                connection.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", key)
            )
            try:
                yield bool(held)
            finally:
                if held:
                    with contextlib.suppress(*_DRIVER_ERRORS):
                        await connection.execute(
                            "SELECT pg_advisory_unlock(hashtextextended($1, 0))", key
                        )
        finally:
            await self._pool.release(connection)

    async def legacy_schema_version(self) -> int:
        return 0  # PostgreSQL databases were always migrated with schema_migrations

    async def run_script(self, transaction: Any, script: str) -> None:
        for statement in statements(script):
            await transaction.execute(statement)

    async def migrated(self, transaction: Any, version: int) -> None:
        """Nothing beyond schema_migrations' row."""

    async def tables(self) -> list[str]:
        """The tables of the current schema (copy-db asks whether the database is empty)."""
        rows = await self.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
        )
        return [r[0] for r in rows]
