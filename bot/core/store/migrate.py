"""The schema as numbered `.sql` files (`migrations/0001_*.sql`, ...), applied in order at
start-up and recorded in `schema_migrations`, one row per applied version.

A migration is one portable file, `NNNN_name.sql`, that both databases run; where the two
dialects differ (SQLite's `INTEGER PRIMARY KEY AUTOINCREMENT` and `REAL`, PostgreSQL's
`BIGINT GENERATED ... AS IDENTITY` and `DOUBLE PRECISION`, a CHECK widened in place),
`NNNN_name.postgres.sql` and/or `NNNN_name.sqlite.sql` stand in for it in that dialect.
Every version must exist for every dialect (`migrations()` checks), so adding one is adding
a portable file, or one file per dialect.

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

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)(?:\.(sqlite|postgres))?\.sql$")
DIALECTS = ("sqlite", "postgres")

# DOUBLE PRECISION: a float64 in PostgreSQL (its REAL is float32), REAL affinity in SQLite.
_CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
)


@dataclasses.dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(
    dialect: str = "sqlite", package: str = "bot.core.store.migrations"
) -> tuple[Migration, ...]:
    """Every migration in `dialect`, in order: for each version its `.<dialect>.sql` file if
    there is one, else its portable `.sql`. Versions are 1, 2, 3, ... without gaps, each with
    one name, and each one exists in every dialect."""
    if dialect not in DIALECTS:
        raise ValueError(f"no migrations for dialect {dialect!r}")
    files: dict[int, dict[str | None, tuple[str, str]]] = {}
    for entry in resources.files(package).iterdir():
        match = _FILE.match(entry.name)
        if match:
            variants = files.setdefault(int(match[1]), {})
            variants[match[3]] = (match[2], entry.read_text(encoding="utf-8"))
    if sorted(files) != list(range(1, len(files) + 1)):
        raise RuntimeError("migration files must be numbered 0001, 0002, ... without gaps")
    found = []
    for version, variants in sorted(files.items()):
        if len({name for name, _ in variants.values()}) != 1:
            raise RuntimeError(f"migration {version:04d}: its files have different names")
        missing = [d for d in DIALECTS if d not in variants and None not in variants]
        if missing:
            raise RuntimeError(
                f"migration {version:04d} has no portable .sql and no {missing[0]} variant"
            )
        name, sql = variants.get(dialect) or variants[None]
        found.append(Migration(version, name, sql))
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
    known = migrations(db.dialect)
    legacy = await db.legacy_schema_version()
    async with db.transaction() as tx:
        await tx.serialize("migrate")  # PostgreSQL: one process migrates at a time
        await tx.execute(_CREATE_TABLE)
        if await tx.fetchrow("SELECT 1 FROM schema_migrations LIMIT 1") is None:
            for m in known[:legacy]:
                await tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                    (m.version, m.name, now),
                )
    for m in known:
        async with db.transaction() as tx:
            await tx.serialize("migrate")
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
