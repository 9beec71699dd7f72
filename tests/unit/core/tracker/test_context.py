"""What the tracker's parts share (`bot/core/tracker/context.py`): MusicGPT's health."""

from __future__ import annotations

from bot.core.errors import (
    MusicGPTConfigurationError,
    MusicGPTRateLimited,
    MusicGPTSubmitUncertain,
    MusicGPTUnavailable,
)
from bot.core.tracker.context import MusicGPTHealth
from tests.unit.conftest import FakeClock


def test_musicgpt_is_failing_after_three_failures_in_a_row_or_five_minutes_of_them() -> None:
    clock = FakeClock()
    health = MusicGPTHealth(clock)
    assert health.reachable and health.key_accepted is None
    health.note(MusicGPTUnavailable("x"))
    health.note(MusicGPTSubmitUncertain("x"))
    assert health.reachable and health.consecutive_failures == 2
    health.note(MusicGPTUnavailable("x"))
    assert not health.reachable
    health.note(None)
    assert health.reachable and health.consecutive_failures == 0
    health.note(MusicGPTUnavailable("x"))
    clock.advance(MusicGPTHealth.FAILING_WINDOW - 1)
    health.note(MusicGPTUnavailable("x"))
    assert health.reachable  # two failures, not yet five minutes apart
    clock.advance(1)
    health.note(MusicGPTUnavailable("x"))
    assert not health.reachable
    # 429s and 401s are answers: MusicGPT is there.
    health.note(MusicGPTRateLimited("busy"))
    assert health.reachable
    health.note(MusicGPTConfigurationError("bad key"))
    assert health.reachable and health.key_accepted is False
