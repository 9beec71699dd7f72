"""The store's boundaries: the driver stays in its adapter, the SQL stays portable."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
ADAPTER = ROOT / "bot" / "core" / "store" / "sqlite"
PG_ADAPTER = ROOT / "bot" / "core" / "store" / "postgres"
STORE = ROOT / "bot" / "core" / "store"


def production_files() -> list[Path]:
    return [p for folder in ("bot", "cogs") for p in (ROOT / folder).rglob("*.py")]


def test_no_driver_name_outside_the_sqlite_adapter() -> None:
    driver = re.compile(r"\b(sqlite3|aiosqlite)\b(?!\")")
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in production_files()
        if ADAPTER not in p.parents
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if driver.search(line.split("#")[0]) and "bot.sqlite3" not in line
    ]
    assert offenders == []


def test_no_asyncpg_outside_the_postgres_adapter() -> None:
    # Imports and uses; a docstring may still say which driver the adapter wraps.
    driver = re.compile(r"^\s*(import|from) asyncpg\b|\basyncpg\.\w")
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in production_files()
        if PG_ADAPTER not in p.parents
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if driver.search(line.split("#")[0])
    ]
    assert offenders == []


def test_the_repositories_write_sql_both_databases_read() -> None:
    sqlite_only = re.compile(
        r"IS \?|\?\d*\b|\bMAX\([^()]*,[^()]*\)|WITHOUT ROWID|executescript|lastrowid|PRAGMA"
        # ... and nothing only PostgreSQL reads: `::type` casts, ILIKE, its own functions
        r"|::|\bILIKE\b|\bpg_|\bNOW\(\)"
    )
    offenders = [
        f"{p.name}:{n}: {line.strip()}"
        for p in STORE.glob("*.py")
        if p.name != "migrate.py"
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if sqlite_only.search(line)
    ]
    assert offenders == []


def test_no_store_module_over_500_lines() -> None:
    long = [p.name for p in STORE.rglob("*.py") if len(p.read_text().splitlines()) > 500]
    assert long == []


def test_every_migration_exists_in_every_dialect() -> None:
    """A version is a portable `NNNN_name.sql` or one `NNNN_name.<dialect>.sql` per dialect;
    `migrations()` refuses anything else, so a missing variant fails here, not at a start."""
    from bot.core.store.migrate import DIALECTS, migrations, statements

    lists = {d: migrations(d) for d in DIALECTS}
    versions = {d: [(m.version, m.name) for m in found] for d, found in lists.items()}
    assert versions["sqlite"] == versions["postgres"]
    sqlite_only = re.compile(r"AUTOINCREMENT|WITHOUT ROWID|PRAGMA|sqlite_master|\bREAL\b")
    for m in lists["postgres"]:
        sql = "\n".join(statements(m.sql))  # comments may name what they replace
        assert not sqlite_only.search(sql), f"migration {m.version} in SQLite's dialect"
