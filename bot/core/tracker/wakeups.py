"""Waking the tracker's loops in every process on the database, not only in this one.

The dispatcher and the poller sleep on asyncio events. With several processes on one
PostgreSQL database, a task queued (or a slot freed, or a task made due) in one process must
wake the loops of the others too, without each of them polling the table. A `SharedEvent` is
such an event: its `set()` wakes this process as before and also tells the others, by
`Store.notify` on its channel (PostgreSQL's NOTIFY). What another process tells runs the
channel's action here, without telling anyone again.

Tells are coalesced: while one NOTIFY is on its way, any number of `set()`s on a channel add
one more. A process hears its own NOTIFYs too and passes over them by their payload (a token
of its own). On SQLite the database tells only this process, which knows already: nothing
happens beyond the local event.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
from collections.abc import Callable, Mapping

from bot.core.errors import StorageError
from bot.core.store.port import WakeupStore

log = logging.getLogger(__name__)

DISPATCH = "singbot_dispatch"  # a task queued or back in the queue, a slot at MusicGPT freed
POLLS = "singbot_polls"  # a task due for polling (a submit, a webhook), or its next poll moved


class Wakeups:
    def __init__(self, store: WakeupStore) -> None:
        self._store = store
        self._token = secrets.token_hex(8)  # this process's own NOTIFYs carry it
        self._pending: dict[str, None] = {}  # channels to tell, in order
        self._sender: asyncio.Task[None] | None = None
        self._listening = False
        self._hearing = False  # running another process's wake-up: not told on again
        self._failing = False  # the last notify failed (said once, not once per wake-up)

    def event(self, channel: str) -> SharedEvent:
        return SharedEvent(self, channel)

    async def start(self, actions: Mapping[str, Callable[[], None]]) -> None:
        """Run `actions[channel]` whenever another process tells `channel`; from now on,
        this process's events tell the others."""
        for channel, action in actions.items():
            await self._store.listen(channel, functools.partial(self._heard, action))
        self._listening = True

    async def stop(self, flush: float = 2.0) -> None:
        """Hear no more; what this process still has to tell (the last submits of its
        shutdown, say) goes out first, within `flush` seconds."""
        sender = self._sender
        if sender is not None and not sender.done():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(sender), flush)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        self._listening = False

    def tell(self, channel: str) -> None:
        """Wake `channel`'s listeners in the other processes, soon (never waiting here)."""
        if not self._listening or self._hearing:
            return
        self._pending[channel] = None
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send(), name="wakeups")

    async def _send(self) -> None:
        while self._pending:
            channel = next(iter(self._pending))
            del self._pending[channel]
            try:
                await self._store.notify(channel, self._token)
            except StorageError as error:
                # The others still find the work when their own timers or events wake them.
                if not self._failing:
                    log.warning("couldn't wake the other processes (%s)", error)
                self._failing = True
                continue
            if self._failing:
                log.info("waking the other processes again")
                self._failing = False

    def _heard(self, action: Callable[[], None], payload: str) -> None:
        if payload == self._token or not self._listening:
            return
        self._hearing = True
        try:
            action()
        finally:
            self._hearing = False


class SharedEvent(asyncio.Event):
    """An asyncio event whose `set()` also wakes the other processes on `channel`."""

    def __init__(self, wakeups: Wakeups, channel: str) -> None:
        super().__init__()
        self._wakeups = wakeups
        self.channel = channel

    def set(self) -> None:
        super().set()
        self._wakeups.tell(self.channel)

    def set_here(self) -> None:
        """Wake this process's loop alone (a look of its own; nothing to tell the others)."""
        super().set()


def wake_here(event: asyncio.Event) -> None:
    """`event.set()`, without telling the other processes when it is a `SharedEvent`."""
    if isinstance(event, SharedEvent):
        event.set_here()
    else:
        event.set()
