"""Fixtures shared by the whole suite.

End-to-end tests (tests/e2e, marked `e2e` by tests/e2e/conftest.py) run the real bot and take
most of the suite's two minutes; the browser tests (tests/browser, marked `browser` and `e2e`
by tests/browser/conftest.py) drive it from headless Chromium. `pytest -m "not e2e"` runs the
rest, leaving both out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.support.world import discord_openapi_note


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client session, for talking to a stand-in or the bot by hand."""
    async with aiohttp.ClientSession() as session:
        yield session


def pytest_report_header() -> str | None:
    note = discord_openapi_note()
    return f"e2e: {note}" if note else None
