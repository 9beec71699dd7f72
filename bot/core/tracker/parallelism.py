"""How many tasks MusicGPT takes at once, learned from its 429s instead of trusted from a setting.

MUSICGPT_MAX_PARALLEL is what the owner believes their plan allows; MusicGPT answers a submit
beyond the real figure with 429. So the figure the dispatcher uses drops to what MusicGPT was
running when it refused (at least 1), and goes back up by one at a time, no more often than
every `raise_interval` seconds, while submits succeed: an owner who set it too high loses
nothing but a refused submit now and then, which goes back to the head of the queue.
"""

from __future__ import annotations

import logging
import math

from bot.core.clock import Clock

log = logging.getLogger(__name__)


class LearnedParallelism:
    def __init__(self, configured: int, clock: Clock, *, raise_interval: float) -> None:
        self.configured = configured
        self.limit = configured
        self.took_only: int | None = None  # what MusicGPT ran when it last said 429
        self._clock = clock
        self._raise_interval = raise_interval
        self._changed_at = -math.inf

    @property
    def limited(self) -> bool:
        """Using fewer than the setting allows."""
        return self.limit < self.configured

    def refused(self, running: int) -> None:
        """A submit was answered 429 while MusicGPT had `running` of ours."""
        learned = max(1, min(running, self.configured))
        self._changed_at = self._clock.now()
        if learned != self.limit or learned != self.took_only:
            self.limit = self.took_only = learned
            log.warning("%s", self.describe())

    def took(self, running: int) -> None:
        """A submit succeeded; MusicGPT now runs `running` of ours."""
        now = self._clock.now()
        if not self.limited:
            return
        if running > self.limit:
            # Submits sent before the limit dropped got through: MusicGPT took that many.
            self.limit = self.took_only = min(running, self.configured)
            self._changed_at = now
            log.warning("%s", self.describe())
        elif now - self._changed_at >= self._raise_interval:
            self.limit += 1
            self._changed_at = now
            log.info(
                "trying %d at once again (MUSICGPT_MAX_PARALLEL=%d)", self.limit, self.configured
            )

    def describe(self) -> str | None:
        """What was learned, for the log and /readyz; None while nothing was refused."""
        if self.took_only is None:
            return None
        if self.limit >= self.configured:
            return (
                f"MusicGPT took only {self.took_only} at once earlier; using all "
                f"{self.configured} of MUSICGPT_MAX_PARALLEL={self.configured} again"
            )
        return (
            f"MusicGPT took only {self.took_only} at once; using {self.limit} of "
            f"MUSICGPT_MAX_PARALLEL={self.configured}"
        )
