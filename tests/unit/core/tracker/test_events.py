""" "Task N changed" (`bot/core/tracker/events.py`): published without waiting for anyone."""

from __future__ import annotations

from bot.core.models import TaskStatus
from tests.unit.core.tracker.conftest import DONE, Harness, sing


async def test_every_change_is_published_without_waiting_for_anyone(harness: Harness, musicgpt):
    musicgpt.results = [DONE]
    events = harness.tracker.events
    await harness.tracker.start()
    task = await harness.submit(sing())
    assert await events.take() == [task.id]  # queued: published by submit itself
    await harness.until(task.id, TaskStatus.DELIVERED)
    # Submitted, completed and delivered, coalesced: nobody was consuming meanwhile.
    assert await events.take() == [task.id]
    assert events.pending() == 0
