"""Fixtures shared by the whole suite.

End-to-end tests (tests/e2e, marked `e2e` by tests/e2e/conftest.py) run the real bot and take
most of the suite's two minutes; the browser tests (tests/browser, marked `browser` and `e2e`
by tests/browser/conftest.py) drive it from headless Chromium. `pytest -m "not e2e"` runs the
rest, leaving both out.

Tests that ask for `postgres_url` talk to a real PostgreSQL, each in a database of its own
(tests/support/postgres.py); they are marked `postgres`, and skip with one line saying how to
get a server when none answers (under CI=true they fail instead).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.support import postgres
from tests.support.world import discord_openapi_note


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client session, for talking to a stand-in or the bot by hand."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The PostgreSQL server the tests use, as an admin URL; asked once a run. Skips (fails
    under CI=true) every test that needs it when it doesn't answer."""
    url = postgres.admin_url()
    reason = asyncio.run(postgres.unreachable(url))
    if reason is not None:
        postgres.no_server(url, reason)
    return url


@pytest.fixture
async def postgres_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database for this test alone (its URL), dropped after it."""
    async with postgres.fresh_database(postgres_admin_url) as url:
        yield url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "postgres_admin_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


def pytest_report_header() -> str | None:
    note = discord_openapi_note()
    return f"e2e: {note}" if note else None
