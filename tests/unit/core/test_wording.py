"""Counts in words: the noun agrees with the number in log lines and members' texts."""

from __future__ import annotations

import pytest

from bot.core.wording import count


@pytest.mark.parametrize(
    ("n", "expected"),
    [(0, "0 servers"), (1, "1 server"), (2, "2 servers"), (1.0, "1 server"), (2.5, "2.5 servers")],
)
def test_count(n: float, expected: str) -> None:
    assert count(n, "server") == expected


def test_an_irregular_plural() -> None:
    assert count(1, "entry", "entries") == "1 entry"
    assert count(3, "entry", "entries") == "3 entries"


def test_members_read_counts_that_agree() -> None:
    from bot.core.models import QuotaLimits, QuotaRefusal, QuotaUsage
    from bot.core.servers import settings_text
    from bot.core.servers.guild_settings import GuildSettings
    from bot.core.songs.quota import refusal_message

    one = QuotaLimits(daily=1, active=1)
    daily = refusal_message(QuotaRefusal("daily", QuotaUsage(1, 0)), one, 0.0)
    assert daily.startswith("You've made today's song. ")
    active = refusal_message(QuotaRefusal("active", QuotaUsage(0, 1)), one, 0.0)
    assert active.startswith("You already have 1 of 1 song in progress. ")
    assert "can make 1 song a day" in settings_text.quota_set(GuildSettings(), one, None)
