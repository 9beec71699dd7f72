"""The schema as numbered `.sql` files (`migrations/0001_*.sql`, ...), applied in order at
start-up and recorded in `schema_migrations`, one row per applied file.

A database made before this table existed recorded its version in SQLite's
`PRAGMA user_version` instead (the adapter's `legacy_schema_version`): the first run records
those versions as applied, without running them again, and goes on from there.
"""

from __future__ import annotations

import dataclasses
import re
from importlib import resources

from bot.core.clock import SystemClock
from bot.core.store.database import Database

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
)


@dataclasses.dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> tuple[Migration, ...]:
    """Every migration file, in order; versions are 1, 2, 3, ... without gaps."""
    found = []
    for entry in resources.files("bot.core.store.migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError("migration files must be numbered 0001, 0002, ... without gaps")
    return tuple(found)


def statements(script: str) -> list[str]:
    """A migration's statements, one by one (no statement of ours holds a `;` inside)."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


async def applied_versions(db: Database) -> set[int]:
    rows = await db.fetch("SELECT version FROM schema_migrations")
    return {int(r[0]) for r in rows}


async def migrate(db: Database) -> int:
    """Apply every migration not yet recorded, each in its own transaction; the version the
    database is at afterwards. Two processes starting at once apply each one once."""
    now = SystemClock().now()
    known = migrations()
    legacy = await db.legacy_schema_version()
    async with db.transaction() as tx:
        await tx.execute(_CREATE_TABLE)
        if await tx.fetchrow("SELECT 1 FROM schema_migrations LIMIT 1") is None:
            for m in known[:legacy]:
                await tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                    (m.version, m.name, now),
                )
    for m in known:
        async with db.transaction() as tx:
            # Read again inside the transaction: another process may just have applied it.
            if await tx.fetchrow(
                "SELECT 1 FROM schema_migrations WHERE version = $1", (m.version,)
            ):
                continue
            await db.run_script(tx, m.sql)
            await tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                (m.version, m.name, now),
            )
            await db.migrated(tx, m.version)
    return max(await applied_versions(db), default=0)
