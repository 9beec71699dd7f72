"""Storage for tasks, quota charges, settings and a few bot-wide values. All SQL lives here.

    database.py     what an adapter provides: statements, transactions (the port to SQL)
    sqlite/         the SQLite adapter (the only code that knows the SQLite driver)
    postgres/       the PostgreSQL adapter (the only code that knows asyncpg)
    migrate.py      migrations/NNNN_*.sql applied in order, recorded in schema_migrations
    tasks.py        songs and their quota charges; transitions.py: a song's guarded steps
    threads.py settings.py copies.py usage.py inputs.py waveforms.py votes.py blobs.py: one
                    feature each
    limits.py       MusicGPT's limits as all processes share them (poll budget, parallelism)
    port.py         the narrow Protocols each consumer depends on

`Store` puts the repositories together behind one object, so the bot opens one thing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from bot.core.errors import StorageError
from bot.core.store.blobs import BlobRepository
from bot.core.store.copies import CopyRepository
from bot.core.store.database import Database
from bot.core.store.inputs import InputRepository
from bot.core.store.limits import LimitRepository
from bot.core.store.migrate import applied_versions
from bot.core.store.migrate import migrate as apply_migrations
from bot.core.store.rows import KeptInput, Lease, UsageLine, utc_day
from bot.core.store.settings import GuildSettingsRepository, ValueRepository
from bot.core.store.tasks import TaskRepository
from bot.core.store.threads import ThreadRepository
from bot.core.store.transitions import TaskTransitions
from bot.core.store.usage import UsageRepository
from bot.core.store.votes import VoteRepository
from bot.core.store.waveforms import WaveformRepository


def is_database_url(where: Path | str) -> bool:
    return isinstance(where, str) and where.split("://", 1)[0].lower() in ("postgresql", "postgres")


@asynccontextmanager
async def open_database(where: Path | str, *, create: bool = True) -> AsyncIterator[Database]:
    """The adapter for `where` (a PostgreSQL URL, or an SQLite path), not migrated."""
    if is_database_url(where):
        from bot.core.store.postgres import PostgresDatabase

        async with PostgresDatabase.open(str(where)) as pg:
            yield pg
    else:
        from bot.core.store.sqlite import SqliteDatabase

        async with SqliteDatabase.open(where, create=create) as lite:
            yield lite


__all__ = ["DatabaseError", "KeptInput", "Lease", "StorageError", "Store", "UsageLine", "utc_day"]

# What a failed read or write raises (the adapter maps its driver's errors to it).
DatabaseError = StorageError


class Store(
    TaskRepository,
    TaskTransitions,
    ThreadRepository,
    ValueRepository,
    GuildSettingsRepository,
    CopyRepository,
    UsageRepository,
    InputRepository,
    WaveformRepository,
    VoteRepository,
    BlobRepository,
    LimitRepository,
):
    """Every repository over one database."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)

    @classmethod
    @asynccontextmanager
    async def open(cls, where: Path | str, *, migrate: bool = True) -> AsyncIterator[Store]:
        """The database at `where`, migrated to the latest schema: a PostgreSQL URL
        (`postgresql://...`, DATABASE_URL), or else the path of an SQLite file (made if
        missing). With `migrate=False`, an existing database as it is (to read beside the bot).
        """
        async with open_database(where, create=migrate) as db:
            if migrate:
                await apply_migrations(db)
            yield cls(db)

    @property
    def dialect(self) -> str:
        """Which database it is: "sqlite" or "postgres"."""
        return self._db.dialect

    @property
    def shared(self) -> bool:
        """Whether other processes may use this database at once (PostgreSQL)."""
        return self._db.shared

    def exclusively(self, key: str) -> AbstractAsyncContextManager[bool]:
        """Periodic work one process at a time: see `Database.exclusively`."""
        return self._db.exclusively(key)

    async def schema_version(self) -> int:
        """The last migration applied."""
        return max(await applied_versions(self._db), default=0)

    async def notify(self, channel: str, payload: str) -> None:
        """Wake the listeners on `channel` in every process (`Database.notify`)."""
        await self._db.notify(channel, payload)

    async def listen(self, channel: str, heard: Callable[[str], None]) -> None:
        await self._db.listen(channel, heard)

    async def ping(self) -> bool:
        return await self._db.fetchrow("SELECT 1") is not None
