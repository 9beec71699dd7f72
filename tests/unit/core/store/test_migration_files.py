"""How migration files are chosen per dialect (bot.core.store.migrate.migrations)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.core.store.migrate import migrations


@pytest.fixture
def package(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """A throwaway package of migration files: `package(**{"0001_a.sql": "..."})`."""
    made: list[str] = []

    def make(**files: str) -> str:
        name = f"fake_migrations_{len(made)}"
        folder = tmp_path / name
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        for file, sql in files.items():
            (folder / file).write_text(sql)
        made.append(name)
        return name

    sys.path.insert(0, str(tmp_path))
    try:
        yield make
    finally:
        sys.path.remove(str(tmp_path))
        for name in made:
            sys.modules.pop(name, None)


def test_a_dialects_variant_stands_in_for_the_portable_file(package: Callable[..., str]) -> None:
    pkg = package(
        **{
            "0001_one.sql": "portable 1",
            "0002_two.sqlite.sql": "sqlite 2",
            "0002_two.postgres.sql": "postgres 2",
            "0003_three.sql": "portable 3",
            "0003_three.postgres.sql": "postgres 3",
        }
    )
    assert [m.sql for m in migrations("sqlite", pkg)] == ["portable 1", "sqlite 2", "portable 3"]
    assert [m.sql for m in migrations("postgres", pkg)] == [
        "portable 1",
        "postgres 2",
        "postgres 3",
    ]
    assert [m.name for m in migrations("postgres", pkg)] == ["one", "two", "three"]


@pytest.mark.parametrize(
    ("files", "says"),
    [
        ({"0001_a.sqlite.sql": "x"}, "no portable .sql and no postgres variant"),
        ({"0001_a.sql": "x", "0003_c.sql": "y"}, "without gaps"),
        ({"0001_a.sql": "x", "0001_b.postgres.sql": "y"}, "different names"),
    ],
)
def test_a_missing_variant_or_a_gap_is_refused(
    package: Callable[..., str], files: dict[str, str], says: str
) -> None:
    with pytest.raises(RuntimeError, match=says):
        migrations("sqlite", package(**files))
