"""The store's boundaries: the driver stays in its adapter, the SQL stays portable."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
ADAPTER = ROOT / "bot" / "core" / "store" / "sqlite"
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


def test_the_repositories_write_sql_both_databases_read() -> None:
    sqlite_only = re.compile(
        r"IS \?|\?\d*\b|\bMAX\([^()]*,[^()]*\)|WITHOUT ROWID|executescript|lastrowid|PRAGMA"
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
