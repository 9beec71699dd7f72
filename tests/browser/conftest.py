"""The playground as a subprocess and a headless Chromium page on it (playground.browser).
Without Chromium or Playwright these tests are skipped, saying why.

Every test here is marked `browser`, and `e2e` too (the real bot runs behind the page), so
`pytest -m "not e2e"` leaves them out as it does tests/e2e, and `pytest -m browser` picks
them alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from playground.browser import Playground, chromium_missing, launch

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def playground(tmp_path: Path) -> Iterator[Playground]:
    reason = chromium_missing()
    if reason:
        pytest.skip(reason)
    running = Playground(tmp_path / "playground.log")
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


@pytest.fixture
def page(playground: Playground) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            tab.set_default_timeout(60_000)
            tab.goto(playground.url)
            yield tab
        finally:
            browser.close()
