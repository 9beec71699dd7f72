"""Time as the services see it: one seam, so unit tests can move time instead of sleeping."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Unix seconds; the store and the tracker share this clock."""

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def sleep_or_wake(clock: Clock, wakeup: asyncio.Event, seconds: float | None) -> None:
    """Return after `seconds` (None: never) or as soon as `wakeup` is set, whichever is first.

    The caller clears `wakeup` before it looks at the work, so a wake-up that comes while it
    works is not lost.
    """
    if wakeup.is_set():
        return
    if seconds is None:
        await wakeup.wait()
        return
    woken = asyncio.ensure_future(wakeup.wait())
    slept = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait((woken, slept), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in (woken, slept):
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
