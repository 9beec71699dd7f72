"""Every test in tests/e2e runs the real bot between the stand-ins: all are marked `e2e`.

The tests of delivery, restarts and buttons run on both databases (`on_both_databases`).

Each world checks at its end that the bot's Discord requests match Discord's OpenAPI
description (tests.support.world); when the spec file is absent the run says so once, as a
skipped test in tests/e2e/test_discord_openapi_e2e.py (and in the header, tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import env

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def on_both_databases(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs a test twice: the bot on SQLite at DATABASE_PATH, then with DATABASE_URL set to
    a fresh PostgreSQL database of the test's own. A module opts in with
    `pytestmark = pytest.mark.usefixtures("on_both_databases")`; its worlds need no change
    (tests.support.env.DEFAULT_DATABASE_URL), and reading the bot's state goes through
    `World.bot_database`."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    url: str = request.getfixturevalue("postgres_url")
    env.DEFAULT_DATABASE_URL = url
    try:
        yield "postgres"
    finally:
        env.DEFAULT_DATABASE_URL = None
