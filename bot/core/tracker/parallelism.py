"""How many tasks MusicGPT takes at once, learned from its 429s instead of trusted from a setting.

MUSICGPT_MAX_PARALLEL is what the owner believes their plan allows; MusicGPT answers a submit
beyond the real figure with 429. So the figure the dispatcher uses drops to what MusicGPT was
running when it refused (at least 1), and goes back up by one at a time, no more often than
every `raise_interval` seconds, while submits succeed: an owner who set it too high loses
nothing but a refused submit now and then, which goes back to the head of the queue.

The figure is one for all processes on the database (`musicgpt_limits`, name `parallel`): a
429 one process meets lowers it for every dispatcher, and the step back up is taken once per
interval, by whichever process submits first after it. The dispatcher reads it before each
claim (`current`).
"""

from __future__ import annotations

import dataclasses
import logging

from bot.core.clock import Clock
from bot.core.store.limits import PARALLEL, SharedLimit
from bot.core.store.port import LimitStore

log = logging.getLogger(__name__)


class LearnedParallelism:
    def __init__(
        self, store: LimitStore, configured: int, clock: Clock, *, raise_interval: float
    ) -> None:
        self.configured = configured
        self._store = store
        self._clock = clock
        self._raise_interval = raise_interval
        self._seen = SharedLimit(PARALLEL)  # the row as this process last read or wrote it

    def _limit(self, limit: SharedLimit) -> int:
        return (
            self.configured if limit.learned is None else min(int(limit.learned), self.configured)
        )

    @property
    def limit(self) -> int:
        """The figure in use, as last read (`current` reads it again)."""
        return self._limit(self._seen)

    @property
    def took_only(self) -> int | None:
        """What MusicGPT ran when it last said 429."""
        return self._seen.took_only

    @property
    def limited(self) -> bool:
        """Using fewer than the setting allows."""
        return self.limit < self.configured

    async def current(self) -> int:
        """The figure in use now, over all processes."""
        self._seen = await self._store.shared_limit(PARALLEL)
        return self.limit

    async def refused(self, running: int) -> None:
        """A submit was answered 429 while MusicGPT had `running` of ours (all processes')."""
        learned = max(1, min(running, self.configured))
        now = self._clock.now()
        before = self._seen

        def learn(limit: SharedLimit) -> SharedLimit:
            nonlocal before
            before = limit
            return dataclasses.replace(limit, learned=learned, took_only=learned, changed_at=now)

        self._seen = await self._store.change_limit(PARALLEL, learn)
        if learned != self._limit(before) or learned != before.took_only:
            log.warning("%s", self.describe())

    async def took(self, running: int) -> None:
        """A submit succeeded; MusicGPT now runs `running` of ours (all processes')."""
        now = self._clock.now()
        before = self._seen

        def learn(limit: SharedLimit) -> SharedLimit:
            nonlocal before
            before = limit
            current = self._limit(limit)
            if current >= self.configured:
                return limit
            if running > current:
                # Submits sent before the limit dropped got through: MusicGPT took that many.
                took = min(running, self.configured)
                return dataclasses.replace(limit, learned=took, took_only=took, changed_at=now)
            if limit.changed_at is None or now - limit.changed_at >= self._raise_interval:
                return dataclasses.replace(limit, learned=current + 1, changed_at=now)
            return limit

        self._seen = await self._store.change_limit(PARALLEL, learn)
        if self._seen == before:
            return
        if self._seen.took_only != before.took_only or running > self._limit(before):
            log.warning("%s", self.describe())
        else:
            log.info(
                "trying %d at once again (MUSICGPT_MAX_PARALLEL=%d)", self.limit, self.configured
            )

    def describe(self) -> str | None:
        """What was learned, for the log and /readyz; None while nothing was refused."""
        took_only = self._seen.took_only
        if took_only is None:
            return None
        if self.limit >= self.configured:
            return (
                f"MusicGPT took only {took_only} at once earlier; using all "
                f"{self.configured} of MUSICGPT_MAX_PARALLEL={self.configured} again"
            )
        return (
            f"MusicGPT took only {took_only} at once; using {self.limit} of "
            f"MUSICGPT_MAX_PARALLEL={self.configured}"
        )
