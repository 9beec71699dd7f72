"""What /usage says, from the store's lines (Discord-free)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.servers.usage import month_bounds, usage_text
from bot.core.songs.budget import Spend
from bot.core.store import UsageLine

NOW = datetime(2026, 12, 15, 12, 0, tzinfo=UTC).timestamp()
RESET = "resets at 00:00 UTC (in 12 h)"


def test_month_bounds_are_the_utc_calendar_month() -> None:
    assert month_bounds(NOW) == ("2026-12-01", "2027-01-01")
    assert month_bounds(datetime(2027, 2, 28, 23, 59, tzinfo=UTC).timestamp()) == (
        "2027-02-01",
        "2027-03-01",
    )
    assert month_bounds(datetime(2027, 3, 1, 0, 0, tzinfo=UTC).timestamp())[0] == "2027-03-01"


def test_members_as_mentions_in_order_with_the_total_and_the_budget() -> None:
    top = [UsageLine(222, 3, 150.5), UsageLine(111, 1, 50)]
    text = usage_text(NOW, UsageLine(0, 5, 210.5), top, Spend(40, 100), RESET)
    lines = text.splitlines()
    assert lines[0] == "**This month's usage** (December 2026, UTC)"
    assert lines[1] == "1. <@222>: 3 songs, 150.5 credits"
    assert lines[2] == "2. <@111>: 1 song, 50 credits"
    assert lines[3] == "Server total: 5 songs, 210.5 credits."
    assert lines[4] == f"Today: 40 of the 100-credit daily budget spent; it {RESET}."


def test_no_budget_and_no_songs() -> None:
    text = usage_text(NOW, UsageLine(0, 0, 0), [], Spend(0, None), RESET)
    assert "No songs yet this month." in text
    assert text.endswith("Today: 0 credits spent; no budget.")
    assert "<@" not in text
