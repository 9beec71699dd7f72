"""PostgreSQL's LISTEN on a connection of its own, made again whenever it drops.

A pooled connection can't listen: the pool hands it to the next statement. So the listener
holds one connection outside the pool, for as long as the database is open. A dropped
connection (a restarted server, a killed backend, a network cut) is noticed by asyncpg's
termination callback, or at the latest by a `SELECT 1` every CHECK_SECONDS; it is then made
again (waiting longer after each failed try, up to RETRY_MAX), and every listener is called
once with "" since whatever was said meanwhile was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

CONNECT_SECONDS = 10.0
CHECK_SECONDS = 15.0
RETRY_FIRST, RETRY_MAX = 0.5, 30.0
_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)

Heard = Callable[[str], None]


class Listener:
    def __init__(self, url: str) -> None:
        self._url = url
        self._heard: dict[str, list[Heard]] = {}
        self._connection: Any = None  # asyncpg.Connection while listening
        self._lost = asyncio.Event()
        self._listening = asyncio.Event()  # set while every channel is listened to
        self._task: asyncio.Task[None] | None = None

    async def listen(self, channel: str, heard: Heard) -> None:
        """Call `heard` for every notify on `channel`. Returns once the connection listens
        (or after CONNECT_SECONDS without one: it keeps trying meanwhile)."""
        new_channel = channel not in self._heard
        self._heard.setdefault(channel, []).append(heard)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="postgres-listen")
        elif new_channel and self._connection is not None:
            try:
                await self._connection.add_listener(channel, self._deliver)
            except _ERRORS:
                self._lost.set()  # made again with every channel
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), CONNECT_SECONDS)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _deliver(self, _connection: Any, _pid: int, channel: str, payload: str) -> None:
        for heard in self._heard.get(channel, ()):
            try:
                heard(payload)
            except Exception:
                log.exception("a listener on %s failed", channel)

    async def _run(self) -> None:
        delay = RETRY_FIRST
        dropped = False
        while True:
            try:
                connection = await asyncpg.connect(self._url, timeout=CONNECT_SECONDS)
            except _ERRORS as error:
                log.warning("couldn't listen on the database (%s); again in %.0f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            try:
                await self._listen_on(connection, missed=dropped)
            except _ERRORS as error:
                log.warning("the database's listening connection dropped (%s)", error)
            finally:
                self._connection = None
                self._listening.clear()
                connection.terminate()
            dropped = True
            delay = RETRY_FIRST

    async def _listen_on(self, connection: Any, *, missed: bool) -> None:
        """Listen on `connection` until it drops."""
        self._lost.clear()
        connection.add_termination_listener(lambda _connection: self._lost.set())
        for channel in list(self._heard):
            await connection.add_listener(channel, self._deliver)
        self._connection = connection
        self._listening.set()
        if missed:
            log.info("listening on the database again")
            for channel in list(self._heard):
                self._deliver(connection, 0, channel, "")
        while not self._lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), CHECK_SECONDS)
            if not self._lost.is_set():  # a peer gone without a word shows here
                await connection.fetchval("SELECT 1", timeout=CONNECT_SECONDS)
        log.warning("the database's listening connection dropped")
