"""The fast subsets CONTRIBUTING names are really fast: `-m "not e2e"` leaves out every test
that starts the real bot, tests/browser's headless Chromium ones included (marked `browser`
and `e2e` by tests/browser/conftest.py), and `-m browser` picks those alone."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.browser import conftest as browser_conftest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Item:
    """What the collection hook reads and writes of a pytest item."""

    path: Path
    marks: list[str] = field(default_factory=list)

    def add_marker(self, mark: Any) -> None:
        self.marks.append(mark.name)


def test_the_browser_tests_are_marked_browser_and_e2e() -> None:
    browser = Item(ROOT / "tests" / "browser" / "test_playground.py")
    unit = Item(ROOT / "tests" / "unit" / "test_markers.py")
    browser_conftest.pytest_collection_modifyitems([browser, unit])  # type: ignore[list-item]
    assert sorted(browser.marks) == ["browser", "e2e"]
    assert unit.marks == []


def test_both_markers_are_registered() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    markers = config["tool"]["pytest"]["ini_options"]["markers"]
    assert {line.split(":")[0] for line in markers} >= {"e2e", "browser", "postgres"}
