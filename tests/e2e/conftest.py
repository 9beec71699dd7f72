"""Every test in tests/e2e runs the real bot between the stand-ins: all are marked `e2e`.

Each world checks at its end that the bot's Discord requests match Discord's OpenAPI
description (tests.support.world); when the spec file is absent the run says so once, as a
skipped test in tests/e2e/test_discord_openapi_e2e.py (and in the header, tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)
