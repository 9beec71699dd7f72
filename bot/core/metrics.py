"""The bot's Prometheus metrics, served as `GET /metrics` by bot/http.py.

Counters are counted where things happen (the tracker, the MusicGPT client, the intake) and
live in a registry of the bot's own, not prometheus_client's global one, so two bots (or two
tests) in one process never share a count. What stands now (tasks queued, tasks at MusicGPT,
the poll budget) is not counted but read at scrape time from `Readings`, the database's
word and the tracker's, so it is right after a restart.

Every label has a fixed set of values, listed below and created at zero up front (a series
that exists from the start lets `increase()` see its first event). Nothing about a member,
a server, a prompt or a task goes in: only kinds, outcomes, status codes and reason classes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass

import aiohttp
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.core.errors import FormClosed, PermanentDeliveryError, UserFacingError
from bot.core.models import TaskKind

log = logging.getLogger(__name__)

KINDS = tuple(kind.value for kind in TaskKind)
# queued: accepted and charged; refused: turned away by the intake's checks (audio, lyrics,
# quota, spool...), nothing charged; the other three are how a queued request ended.
OUTCOMES = ("queued", "refused", "delivered", "failed", "cancelled")
ENDPOINTS = ("submit", "byId")
# byId answers: ok (2xx), rate_limited (429), error (another HTTP status), unreachable (no
# answer: connection refused, timeout, broken off).
BYID_RESULTS = ("ok", "rate_limited", "error", "unreachable")
# The statuses MusicGPT's answers mean something distinct by (client.py's `_judge`); any
# other is counted by its class, and "none" is no HTTP answer at all.
KNOWN_STATUSES = (400, 401, 402, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504)
STATUS_LABELS = (*(str(s) for s in KNOWN_STATUSES), "3xx", "4xx", "5xx", "other", "none")
# not_allowed: Discord refused the bot the channel (a permanent failure); the rest are
# attempts that are retried: Discord (or the output download) answering 429, 4xx, 5xx, the
# network failing, anything else.
DELIVERY_REASONS = ("not_allowed", "rate_limited", "http_4xx", "http_5xx", "network", "other")
# Completion to post: seconds usually, minutes when Discord or the download is slow or the
# bot was down; an hour and more lands in +Inf.
LATENCY_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)

READ_TIMEOUT = 2.0  # a scrape never waits longer than this for the database


@dataclass(frozen=True, slots=True)
class Readings:
    """What stands now, read at scrape time."""

    tasks_queued: int
    tasks_at_musicgpt: int  # being sent, or sent and not finished
    polls_per_minute: float  # the poll budget in use (lowered by 429s)
    polls_per_minute_configured: int  # MUSICGPT_POLLS_PER_MINUTE
    parallel: int  # tasks at MusicGPT at once in use (learned from 429s)
    parallel_configured: int  # MUSICGPT_MAX_PARALLEL


ReadingsSource = Callable[[], Awaitable[Readings]]


def status_label(status: int | None) -> str:
    """A MusicGPT HTTP status as one of STATUS_LABELS."""
    if status is None:
        return "none"
    if status in KNOWN_STATUSES:
        return str(status)
    if 300 <= status < 600:
        return f"{status // 100}xx"
    return "other"


def delivery_reason(error: BaseException) -> str:
    """A failed delivery attempt as one of DELIVERY_REASONS (duck-typed: no discord here)."""
    if isinstance(error, PermanentDeliveryError):
        return "not_allowed"
    status = getattr(error, "status", None)  # discord.HTTPException, aiohttp's answer errors
    if isinstance(status, int):
        if status == 429:
            return "rate_limited"
        if 400 <= status < 500:
            return "http_4xx"
        if 500 <= status < 600:
            return "http_5xx"
    if isinstance(error, aiohttp.ClientError | OSError | TimeoutError):
        return "network"
    return "other"


class Metrics:
    def __init__(self, *, process_collectors: bool = False) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self._requests = Counter(
            "singbot_requests",
            "Requests by kind and outcome (queued, refused, delivered, failed, cancelled).",
            ["kind", "outcome"],
            registry=registry,
        )
        self._byid = Counter(
            "singbot_musicgpt_byid_calls",
            "HTTP calls to MusicGPT's GET /v1/byId (status checks), by result.",
            ["result"],
            registry=registry,
        )
        self._errors = Counter(
            "singbot_musicgpt_errors",
            "MusicGPT calls that didn't get a 2xx, by endpoint and HTTP status (none: no answer).",
            ["endpoint", "status"],
            registry=registry,
        )
        self._delivery_failures = Counter(
            "singbot_delivery_failures",
            "Failed attempts to post a finished song to Discord, by reason.",
            ["reason"],
            registry=registry,
        )
        self._latency = Histogram(
            "singbot_completion_to_post_seconds",
            "Seconds from the bot recording MusicGPT's completion to the result being posted.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        for kind in KINDS:
            for outcome in OUTCOMES:
                self._requests.labels(kind, outcome)
        for result in BYID_RESULTS:
            self._byid.labels(result)
        for endpoint in ENDPOINTS:
            for status in STATUS_LABELS:
                self._errors.labels(endpoint, status)
        for reason in DELIVERY_REASONS:
            self._delivery_failures.labels(reason)
        self._readings = _ReadingsCollector()
        registry.register(self._readings)
        if process_collectors:
            # CPU, memory and open file descriptors (the HTTP server's connection cap is
            # about those), and the Python version: the bot's own process only.
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)

    # --- counting ------------------------------------------------------------------------

    def request(self, kind: TaskKind, outcome: str) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        self._requests.labels(kind.value, outcome).inc()

    @contextlib.contextmanager
    def refusals(self, kind: TaskKind) -> Iterator[None]:
        """Count a refusal when the block raises a UserFacingError (a form sent twice or
        closed is not a new request refused)."""
        try:
            yield
        except FormClosed:
            raise
        except UserFacingError:
            self.request(kind, "refused")
            raise

    def musicgpt_call(self, endpoint: str, status: int | None) -> None:
        """One HTTP attempt to MusicGPT ended with `status` (None: no answer)."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}")
        ok = status is not None and 200 <= status < 300
        if endpoint == "byId":
            result = (
                "ok"
                if ok
                else "unreachable"
                if status is None
                else "rate_limited"
                if status == 429
                else "error"
            )
            self._byid.labels(result).inc()
        if not ok:
            self._errors.labels(endpoint, status_label(status)).inc()

    def delivery_failed(self, error: BaseException) -> None:
        self._delivery_failures.labels(delivery_reason(error)).inc()

    def delivered(self, kind: TaskKind, completed_at: float | None, posted_at: float) -> None:
        self.request(kind, "delivered")
        if completed_at is not None:
            self._latency.observe(max(0.0, posted_at - completed_at))

    # --- serving -------------------------------------------------------------------------

    def read_from(self, source: ReadingsSource) -> None:
        """Where the gauges come from at scrape time (the tracker, in the bot)."""
        self._readings.source = source

    async def render(self) -> bytes:
        """The text format, with the readings read now."""
        await self._readings.refresh()
        return generate_latest(self.registry)


class _ReadingsCollector(Collector):
    """Gauges from the last `Readings`: prometheus_client collects synchronously, so the
    database is read (awaited, with a deadline) before the registry is rendered."""

    def __init__(self) -> None:
        self.source: ReadingsSource | None = None
        self._last: Readings | None = None
        self._reading: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        if self.source is None:
            return
        # Scrapes arriving while a read is under way share it, so a burst of them costs
        # the database one read (two indexed counts), not one each.
        if self._reading is None or self._reading.done():
            self._reading = asyncio.create_task(self._read(self.source), name="metrics-read")
        await asyncio.shield(self._reading)

    async def _read(self, source: ReadingsSource) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                self._last = await source()
        except Exception as error:
            # No figure rather than a stale one: a missing series is what alerts see.
            log.warning("metrics: couldn't read the task counts (%s)", type(error).__name__)
            self._last = None

    def collect(self) -> Iterable[Metric]:
        last = self._last
        if last is None:
            return []
        return [
            _gauge("singbot_tasks_queued", "Tasks waiting in the bot's queue.", last.tasks_queued),
            _gauge(
                "singbot_tasks_at_musicgpt",
                "Tasks being sent to or made by MusicGPT (what MUSICGPT_MAX_PARALLEL bounds).",
                last.tasks_at_musicgpt,
            ),
            _gauge(
                "singbot_poll_budget_per_minute",
                "byId polls a minute the poller allows itself now (halved by MusicGPT's 429s).",
                last.polls_per_minute,
            ),
            _gauge(
                "singbot_poll_budget_configured_per_minute",
                "MUSICGPT_POLLS_PER_MINUTE.",
                last.polls_per_minute_configured,
            ),
            _gauge(
                "singbot_musicgpt_parallel",
                "Tasks the bot lets MusicGPT run at once now (learned from its 429s).",
                last.parallel,
            ),
            _gauge(
                "singbot_musicgpt_parallel_configured",
                "MUSICGPT_MAX_PARALLEL.",
                last.parallel_configured,
            ),
        ]


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
