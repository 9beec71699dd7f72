"""The result message's edits as votes come in: coalesced per message, never losing the
last click, retried when an edit fails."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest

from bot.core.songs.vote_edits import EditCoalescer, EditGone
from bot.core.songs.votes import Tally, click, result_line
from tests.unit.conftest import FakeClock, drive
from tests.unit.core.songs.test_votes import FakeVotes


class FakeMessages:
    """Result messages: what each shows, and every edit made, with the time it was made."""

    def __init__(self, votes: FakeVotes, clock: FakeClock) -> None:
        self.votes = votes
        self.clock = clock
        self.shown: dict[int, str] = {}
        self.edits: list[tuple[float, int, str]] = []
        self.failures = 0  # the next edits that fail
        self.gone: set[int] = set()
        self.tries = 0

    async def edit(self, task_id: int) -> None:
        self.tries += 1
        # What the Discord side does: read the counts now, render, edit.
        line = result_line(Tally.of(await self.votes.vote_counts(task_id), 2))
        await asyncio.sleep(0)  # the HTTP request
        if task_id in self.gone:
            raise EditGone(task_id)
        if self.failures:
            self.failures -= 1
            raise RuntimeError("503 from Discord")
        self.shown[task_id] = line
        self.edits.append((self.clock.now(), task_id, line))


@pytest.fixture
def votes() -> FakeVotes:
    return FakeVotes()


@pytest.fixture
def messages(votes: FakeVotes, clock: FakeClock) -> FakeMessages:
    return FakeMessages(votes, clock)


@pytest.fixture
async def edits(messages: FakeMessages, clock: FakeClock) -> AsyncIterator[EditCoalescer[int]]:
    coalescer = EditCoalescer(messages.edit, clock, interval=1.0)
    yield coalescer
    await coalescer.close()


async def settle(coalescer: EditCoalescer[int], clock: FakeClock, step: float = 0.1) -> None:
    async def idle() -> bool:
        return coalescer.pending() == 0

    await drive(clock, idle, step=step)


async def test_twenty_clicks_within_a_second_cost_a_few_edits_and_show_the_end(
    votes: FakeVotes, messages: FakeMessages, edits: EditCoalescer[int], clock: FakeClock
) -> None:
    started = clock.now()
    for member in range(20):
        await click(votes, 12, 2, 1 + member % 3 // 2, member)  # 14 for take 1, 6 for take 2
        edits.touch(12)
        await asyncio.sleep(0)
        clock.advance(0.05)
    last_click = clock.now()
    await settle(edits, clock)
    assert await votes.vote_counts(12) == {1: 14, 2: 6}  # every click counted
    assert 1 <= len(messages.edits) <= 3, messages.edits
    times = [at for at, _, _ in messages.edits]
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))
    assert messages.shown[12] == "Take 1 leads with 14 👍."
    assert times[-1] - last_click <= 5.0
    assert times[0] - started <= 0.1  # the first click is shown at once


async def test_a_lone_click_is_shown_at_once_and_a_later_one_after_the_interval(
    votes: FakeVotes, messages: FakeMessages, edits: EditCoalescer[int], clock: FakeClock
) -> None:
    await click(votes, 12, 2, 2, 1)
    edits.touch(12)
    for _ in range(3):
        await asyncio.sleep(0)
    assert messages.shown[12] == "Take 2 leads with 1 👍."
    await click(votes, 12, 2, 1, 2)
    edits.touch(12)
    for _ in range(3):
        await asyncio.sleep(0)
    assert len(messages.edits) == 1  # still within the interval
    await settle(edits, clock)
    assert messages.shown[12] == "Takes 1 and 2 are tied at 1 👍 each."
    assert messages.edits[1][0] - messages.edits[0][0] >= 1.0


async def test_messages_are_edited_independently(
    votes: FakeVotes, messages: FakeMessages, edits: EditCoalescer[int], clock: FakeClock
) -> None:
    for task_id in (12, 13):
        await click(votes, task_id, 2, 1, 1)
        edits.touch(task_id)
    await settle(edits, clock)
    assert {task_id for _, task_id, _ in messages.edits} == {12, 13}
    assert len(messages.edits) == 2


async def test_a_failed_edit_is_tried_again_not_lost(
    votes: FakeVotes, messages: FakeMessages, edits: EditCoalescer[int], clock: FakeClock
) -> None:
    messages.failures = 2
    await click(votes, 12, 2, 1, 1)
    edits.touch(12)
    await settle(edits, clock)
    assert messages.tries == 3
    assert messages.shown[12] == "Take 1 leads with 1 👍."


async def test_a_click_during_a_failing_edit_is_shown_by_the_retry(
    votes: FakeVotes, messages: FakeMessages, edits: EditCoalescer[int], clock: FakeClock
) -> None:
    messages.failures = 1
    await click(votes, 12, 2, 1, 1)
    edits.touch(12)
    for _ in range(3):
        await asyncio.sleep(0)
    await click(votes, 12, 2, 2, 2)
    await click(votes, 12, 2, 2, 3)
    edits.touch(12)
    await settle(edits, clock)
    assert messages.shown[12] == "Take 2 leads with 2 👍."
    assert len(messages.edits) == 1


async def test_edits_give_up_after_many_failures_and_start_afresh_on_the_next_click(
    votes: FakeVotes, messages: FakeMessages, clock: FakeClock
) -> None:
    coalescer = EditCoalescer(messages.edit, clock, interval=1.0, max_failures=3)
    messages.failures = 3
    await click(votes, 12, 2, 1, 1)
    coalescer.touch(12)
    await settle(coalescer, clock)
    assert messages.tries == 3 and 12 not in messages.shown
    coalescer.touch(12)
    await settle(coalescer, clock)
    assert messages.shown[12] == "Take 1 leads with 1 👍."
    await coalescer.close()


async def test_a_message_that_is_gone_is_not_tried_again(
    votes: FakeVotes, messages: FakeMessages, edits: EditCoalescer[int], clock: FakeClock
) -> None:
    messages.gone.add(12)
    edits.touch(12)
    await settle(edits, clock)
    assert messages.tries == 1


async def test_retries_back_off(votes: FakeVotes, messages: FakeMessages, clock: FakeClock) -> None:
    tried_at: list[float] = []

    async def timed(task_id: int) -> None:
        tried_at.append(clock.now())
        await messages.edit(task_id)

    coalescer = EditCoalescer(timed, clock, interval=1.0, retry_delay=2.0)
    messages.failures = 3
    coalescer.touch(12)
    await settle(coalescer, clock, step=0.5)
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(tried_at)]
    assert gaps == [2.0, 4.0, 8.0]
    await coalescer.close()


async def test_close_stops_the_workers(messages: FakeMessages, clock: FakeClock) -> None:
    coalescer = EditCoalescer(messages.edit, clock)
    messages.failures = 100
    coalescer.touch(12)
    for _ in range(3):
        await asyncio.sleep(0)
    assert coalescer.pending() == 1
    await coalescer.close()
    assert coalescer.pending() == 0
    coalescer.touch(12)  # after close: ignored
    assert coalescer.pending() == 0
