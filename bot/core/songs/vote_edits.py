"""Editing a result message as votes come in: at most once per interval per message, however
fast people click, and never losing the last click.

A click only marks its message "changed" (`touch`, a set insertion: the click's
acknowledgement never waits for an edit). One worker per changed message calls the injected
`edit(key)`, which reads the counts as they are *then* and edits the message, so any number of
clicks between two edits cost one edit, and the last edit always shows the final counts:

- the first click on a quiet message is shown at once;
- later ones wait until `interval` has passed since the previous edit began, then share one
  edit (with the default second, the counts are shown about a second after the last click,
  well within the 5 s promised, and one message is edited at most once a second, under
  Discord's per-channel limit of five edits in five seconds);
- a click that comes while an edit is under way marks the message again, so it gets one more
  edit after that one;
- an edit that raises is tried again later (backing off up to `max_retry_delay`), up to
  `max_failures` times in a row; `EditGone` (the message or its channel is gone) stops at once.

Everything waits on the injected `bot.core.clock.Clock`, so tests move time instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Final, Generic, TypeVar

from bot.core.clock import Clock

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

INTERVAL: Final = 1.0  # seconds between two edits of one message
RETRY_DELAY: Final = 2.0  # after a failed edit; doubles each time it fails again
MAX_RETRY_DELAY: Final = 30.0
MAX_FAILURES: Final = 8  # in a row, about two minutes of trying; the next click starts afresh


class EditGone(Exception):
    """Raised by an edit callback when the message can't ever be edited again (deleted, or
    the bot was removed from its channel): no retries."""


class EditCoalescer(Generic[K]):
    """Calls `edit(key)` for keys that were `touch`ed, at most once per `interval` per key."""

    def __init__(
        self,
        edit: Callable[[K], Awaitable[None]],
        clock: Clock,
        *,
        interval: float = INTERVAL,
        retry_delay: float = RETRY_DELAY,
        max_retry_delay: float = MAX_RETRY_DELAY,
        max_failures: int = MAX_FAILURES,
    ) -> None:
        self._edit = edit
        self._clock = clock
        self._interval = interval
        self._retry_delay = max(retry_delay, interval)
        self._max_retry_delay = max(max_retry_delay, self._retry_delay)
        self._max_failures = max_failures
        self._changed: set[K] = set()
        self._workers: dict[K, asyncio.Task[None]] = {}
        self._closed = False

    def touch(self, key: K) -> None:
        """`key`'s message changed: show it soon. Returns at once."""
        if self._closed:
            return
        self._changed.add(key)
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._work(key), name=f"vote-edits-{key}")

    def pending(self) -> int:
        """Messages with an edit to come (or one under way, or the pause after one)."""
        return len(self._workers)

    async def close(self) -> None:
        """Stop every worker; edits not yet made are dropped (the counts are in the store,
        and the next click after a restart shows them)."""
        self._closed = True
        workers = list(self._workers.values())
        for worker in workers:
            worker.cancel()
        for worker in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def _work(self, key: K) -> None:
        failures = 0
        try:
            while key in self._changed:
                self._changed.discard(key)
                started = self._clock.now()
                try:
                    await self._edit(key)
                except EditGone:
                    log.info("the message of %s is gone; no more vote edits for it", key)
                    self._changed.discard(key)
                    return
                except Exception:
                    failures += 1
                    self._changed.add(key)  # not shown yet: still to do
                    if failures >= self._max_failures:
                        log.exception(
                            "gave up editing the votes of %s after %d tries", key, failures
                        )
                        self._changed.discard(key)
                        return
                    delay = min(self._retry_delay * 2 ** (failures - 1), self._max_retry_delay)
                    log.warning("editing the votes of %s failed; again in %.0f s", key, delay)
                    await self._clock.sleep(delay)
                    continue
                failures = 0
                # Hold the message's slot until the interval is over: clicks meanwhile wait
                # for one shared edit, and a click just after this worker ends may edit at once.
                wait = started + self._interval - self._clock.now()
                if wait > 0:
                    await self._clock.sleep(wait)
        finally:
            self._workers.pop(key, None)
