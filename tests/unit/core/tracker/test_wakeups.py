"""Wake-ups across processes (`bot/core/tracker/wakeups.py`): an event set in one process runs
the channel's action in another, once, and is not echoed back or told on again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from bot.core.errors import StorageError
from bot.core.store import Store
from bot.core.tracker.wakeups import DISPATCH, POLLS, Wakeups

BOUND = 20.0


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.changed = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        self.changed.set()

    async def reaches(self, n: int) -> None:
        async def wait() -> None:
            while self.count < n:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), BOUND)


@pytest.mark.postgres
async def test_an_event_set_in_one_process_runs_the_action_in_the_other(
    postgres_url: str,
) -> None:
    async with Store.open(postgres_url) as one_db, Store.open(postgres_url) as other_db:
        one, other = Wakeups(one_db), Wakeups(other_db)
        mine, theirs, raw = Counter(), Counter(), Counter()
        await one.start({DISPATCH: mine})
        await other.start({DISPATCH: theirs})
        await one_db.listen(DISPATCH, lambda _payload: raw())
        queued = one.event(DISPATCH)
        queued.set()
        assert queued.is_set()  # this process is woken at once, as before
        await theirs.reaches(1)
        await raw.reaches(1)  # the sender heard its own notify too...
        assert mine.count == 0  # ...and passed over it
        await one.stop()
        await other.stop()


class CountingStore:
    """A store's wake-up part, counting the notifies sent."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.sent = 0

    async def notify(self, channel: str, payload: str) -> None:
        self.sent += 1
        await self._store.notify(channel, payload)

    async def listen(self, channel: str, heard: Callable[[str], None]) -> None:
        await self._store.listen(channel, heard)


async def test_what_another_process_told_is_not_told_on_again(store: Store) -> None:
    """Two processes' wake-ups over one database (the SQLite adapter tells its own
    listeners, so both hear each other here). The dispatcher's action sets its own event,
    which tells the others as a rule: not when the wake-up came from them."""
    one_db, other_db = CountingStore(store), CountingStore(store)
    one, other = Wakeups(one_db), Wakeups(other_db)
    mine = Counter()
    their_event = other.event(DISPATCH)
    await one.start({DISPATCH: mine})
    await other.start({DISPATCH: their_event.set})
    one.event(DISPATCH).set()
    await asyncio.wait_for(their_event.wait(), BOUND)
    for _ in range(10):  # let any notify the action might have started go out
        await asyncio.sleep(0)
    assert (one_db.sent, other_db.sent, mine.count) == (1, 0, 0)
    other.event(POLLS).set()  # set by the process itself: told as usual
    for _ in range(10):
        await asyncio.sleep(0)
    assert other_db.sent == 1
    await one.stop()
    await other.stop()


async def test_a_database_that_cant_notify_is_said_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.core.tracker.wakeups")
    counting = CountingStore(store)
    refusals = [StorageError("database or disk is full", reason="full")] * 3
    real_notify = counting.notify

    async def notify(channel: str, payload: str) -> None:
        if refusals:
            raise refusals.pop()
        await real_notify(channel, payload)

    counting.notify = notify  # type: ignore[method-assign]
    wakeups = Wakeups(counting)
    await wakeups.start({})
    for _ in range(4):
        wakeups.event(DISPATCH).set()
        for _ in range(10):  # the notify's task runs
            await asyncio.sleep(0)
    said = [r.getMessage() for r in caplog.records if r.name == "bot.core.tracker.wakeups"]
    assert said == [
        "couldn't wake the other processes (database or disk is full)",
        "waking the other processes again",
    ]
    assert counting.sent == 1
    await wakeups.stop()
