"""bot/core/metrics.py on its own, the count points in the tracker and the MusicGPT client, and
who may read GET /metrics. The real bot's /metrics is tests/e2e/test_metrics_e2e.py's."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

import bot.core.metrics
from bot.core.errors import (
    AudioRejected,
    FormClosed,
    MusicGPTError,
    MusicGPTRateLimited,
    PermanentDeliveryError,
    QuotaExceeded,
)
from bot.core.metrics import (
    BYID_RESULTS,
    DELIVERY_REASONS,
    ENDPOINTS,
    KINDS,
    OUTCOMES,
    STATUS_LABELS,
    Metrics,
    Readings,
    delivery_reason,
    status_label,
)
from bot.core.models import TaskKind, TaskStatus
from bot.core.musicgpt.client import MusicGPTClient
from bot.core.store import Store
from bot.core.tracker import Tracker
from bot.http import Health, HttpServer, MetricsAccess, metrics_public
from tests.standins.musicgpt import MusicGPTStandIn
from tests.unit.conftest import FakeClock, drive
from tests.unit.core.tracker.conftest import (
    DONE,
    LIMITS,
    SETTINGS,
    FakeMusicGPT,
    FakePoster,
    sing,
)
from tests.unit.test_http import FakeTracker, database_ok

READINGS = Readings(
    tasks_queued=3,
    tasks_at_musicgpt=2,
    polls_per_minute=10.0,
    polls_per_minute_configured=20,
    parallel=1,
    parallel_configured=5,
)
# Every label value a metric may carry: nothing else may ever show up.
BOUNDS: dict[str, dict[str, tuple[str, ...]]] = {
    "singbot_requests_total": {"kind": KINDS, "outcome": OUTCOMES},
    "singbot_musicgpt_byid_calls_total": {"result": BYID_RESULTS},
    "singbot_musicgpt_errors_total": {"endpoint": ENDPOINTS, "status": STATUS_LABELS},
    "singbot_delivery_failures_total": {"reason": DELIVERY_REASONS},
}


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def scraped(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return parse((await metrics.render()).decode())


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str):
    return found[(name, tuple(sorted(labels.items())))]


def total(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return sum(v for (n, _), v in found.items() if n == name)


# --- the module ---------------------------------------------------------------------------


async def test_counts_land_on_their_labels_and_every_series_exists_from_the_start() -> None:
    metrics = Metrics()
    found = await scraped(metrics)
    for name, bounds in BOUNDS.items():
        combinations = 1
        for values in bounds.values():
            combinations *= len(values)
        assert len([key for key in found if key[0] == name]) == combinations, name
        assert total(found, name) == 0
    metrics.request(TaskKind.SING, "queued")
    metrics.request(TaskKind.SING, "queued")
    metrics.request(TaskKind.INPAINT, "cancelled")
    metrics.musicgpt_call("byId", 200)
    metrics.musicgpt_call("byId", 429)
    metrics.musicgpt_call("byId", None)
    metrics.musicgpt_call("submit", 201)
    metrics.musicgpt_call("submit", 422)
    metrics.delivery_failed(PermanentDeliveryError("no"))
    metrics.delivered(TaskKind.SING, completed_at=100.0, posted_at=103.5)
    found = await scraped(metrics)
    assert value(found, "singbot_requests_total", kind="sing", outcome="queued") == 2
    assert value(found, "singbot_requests_total", kind="inpaint", outcome="cancelled") == 1
    assert value(found, "singbot_requests_total", kind="sing", outcome="delivered") == 1
    assert total(found, "singbot_requests_total") == 4
    assert value(found, "singbot_musicgpt_byid_calls_total", result="ok") == 1
    assert value(found, "singbot_musicgpt_byid_calls_total", result="rate_limited") == 1
    assert value(found, "singbot_musicgpt_byid_calls_total", result="unreachable") == 1
    assert total(found, "singbot_musicgpt_byid_calls_total") == 3  # submits aren't byId
    assert value(found, "singbot_musicgpt_errors_total", endpoint="byId", status="429") == 1
    assert value(found, "singbot_musicgpt_errors_total", endpoint="byId", status="none") == 1
    assert value(found, "singbot_musicgpt_errors_total", endpoint="submit", status="422") == 1
    assert total(found, "singbot_musicgpt_errors_total") == 3  # 2xx answers are no errors
    assert value(found, "singbot_delivery_failures_total", reason="not_allowed") == 1
    assert value(found, "singbot_completion_to_post_seconds_count") == 1
    assert value(found, "singbot_completion_to_post_seconds_sum") == pytest.approx(3.5)
    assert value(found, "singbot_completion_to_post_seconds_bucket", le="2.0") == 0
    assert value(found, "singbot_completion_to_post_seconds_bucket", le="5.0") == 1


async def test_labels_stay_within_their_bounds_whatever_is_counted() -> None:
    metrics = Metrics()
    for status in (None, 0, 99, 200, 204, 301, 400, 418, 429, 451, 500, 599, 600, 999):
        for endpoint in ENDPOINTS:
            metrics.musicgpt_call(endpoint, status)
    for error in (OSError(), TimeoutError(), ValueError(), _Status(418), _Status(503)):
        metrics.delivery_failed(error)
    with pytest.raises(ValueError, match="outcome"):
        metrics.request(TaskKind.SING, "lost")
    with pytest.raises(ValueError, match="endpoint"):
        metrics.musicgpt_call("files", 200)
    for (name, labels), _ in (await scraped(metrics)).items():
        if name in BOUNDS:
            for label, label_value in labels:
                assert label_value in BOUNDS[name][label], (name, label, label_value)


@given(st.one_of(st.none(), st.integers(min_value=-(10**6), max_value=10**6)))
def test_any_status_maps_to_a_fixed_label(status: int | None) -> None:
    assert status_label(status) in STATUS_LABELS


class _Status(Exception):
    """What discord.HTTPException and aiohttp's answer errors have in common."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (PermanentDeliveryError("I'm not allowed"), "not_allowed"),
        (_Status(429), "rate_limited"),
        (_Status(404), "http_4xx"),
        (_Status(503), "http_5xx"),
        (aiohttp.ClientConnectionError(), "network"),
        (ConnectionResetError(), "network"),
        (TimeoutError(), "network"),
        (RuntimeError("boom"), "other"),
    ],
)
def test_delivery_failures_are_classed(error: BaseException, reason: str) -> None:
    assert delivery_reason(error) == reason


def test_refusals_count_what_the_member_is_told_but_not_a_closed_form() -> None:
    metrics = Metrics()
    for error in (AudioRejected("no"), QuotaExceeded("later"), FormClosed("sent"), KeyError()):
        with pytest.raises(type(error)), metrics.refusals(TaskKind.INPAINT):
            raise error
    with metrics.refusals(TaskKind.INPAINT):
        pass
    found = asyncio.run(scraped(metrics))
    assert value(found, "singbot_requests_total", kind="inpaint", outcome="refused") == 2
    assert total(found, "singbot_requests_total") == 2


async def test_two_bots_count_apart_and_nothing_goes_to_the_global_registry() -> None:
    one, two = Metrics(), Metrics()
    one.request(TaskKind.SING, "queued")
    assert value(await scraped(one), "singbot_requests_total", kind="sing", outcome="queued") == 1
    assert value(await scraped(two), "singbot_requests_total", kind="sing", outcome="queued") == 0
    assert REGISTRY.get_sample_value("singbot_requests_total", {"kind": "sing"}) is None
    assert not [k for k in parse((await Metrics().render()).decode()) if k[0].startswith("process")]
    with_process = await scraped(Metrics(process_collectors=True))
    assert value(with_process, "process_open_fds") > 0


async def test_gauges_are_read_at_scrape_time_and_left_out_when_the_read_fails() -> None:
    metrics = Metrics()
    readings = [READINGS]

    async def read() -> Readings:
        if not readings:
            raise OSError("database gone")
        return readings[0]

    assert "singbot_tasks_queued" not in (await metrics.render()).decode()  # no source yet
    metrics.read_from(read)
    found = await scraped(metrics)
    assert value(found, "singbot_tasks_queued") == 3
    assert value(found, "singbot_tasks_at_musicgpt") == 2
    assert value(found, "singbot_poll_budget_per_minute") == 10
    assert value(found, "singbot_poll_budget_configured_per_minute") == 20
    assert value(found, "singbot_musicgpt_parallel") == 1
    assert value(found, "singbot_musicgpt_parallel_configured") == 5
    readings[:] = [Readings(0, 7, 20.0, 20, 5, 5)]
    assert value(await scraped(metrics), "singbot_tasks_at_musicgpt") == 7  # not cached
    readings.clear()
    text = (await metrics.render()).decode()
    assert "singbot_tasks_" not in text and "singbot_requests_total" in text


async def test_a_slow_database_costs_a_scrape_its_deadline_and_a_burst_one_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bot.core.metrics, "READ_TIMEOUT", 0.05)
    metrics = Metrics()
    reads = 0
    release = asyncio.Event()

    async def read() -> Readings:
        nonlocal reads
        reads += 1
        await release.wait()
        return READINGS

    metrics.read_from(read)
    texts = await asyncio.gather(*(metrics.render() for _ in range(10)))
    assert reads == 1
    assert all(b"singbot_tasks_queued" not in text for text in texts)  # timed out: left out
    release.set()
    assert value(await scraped(metrics), "singbot_tasks_queued") == 3
    assert reads == 2


# --- the count points -----------------------------------------------------------------------


@pytest.fixture
async def tracked(
    store: Store, clock: FakeClock
) -> AsyncIterator[tuple[Tracker, Metrics, FakeMusicGPT, FakePoster]]:
    metrics, musicgpt, poster = Metrics(), FakeMusicGPT(), FakePoster()
    tracker = Tracker(store, musicgpt, SETTINGS, clock=clock, metrics=metrics)
    tracker.attach(poster)
    metrics.read_from(tracker.readings)
    try:
        yield tracker, metrics, musicgpt, poster
    finally:
        await tracker.stop()


async def until_status(store: Store, clock: FakeClock, task_id: int, status: TaskStatus) -> None:
    async def reached() -> bool:
        task = await store.get_task(task_id)
        return task is not None and task.status is status

    await drive(clock, reached)


async def test_the_tracker_counts_each_outcome_and_the_latency_once(
    tracked: tuple[Tracker, Metrics, FakeMusicGPT, FakePoster], store: Store, clock: FakeClock
) -> None:
    tracker, metrics, musicgpt, poster = tracked
    musicgpt.results = [DONE]
    poster.failures = [_Status(503)]  # the first post fails and is retried
    first = await tracker.submit(sing(1), limits=LIMITS, audio_duration=None)
    second = await tracker.submit(sing(2), limits=LIMITS, audio_duration=None)
    assert not isinstance(first, Exception) and not isinstance(second, Exception)
    found = await scraped(metrics)
    assert value(found, "singbot_requests_total", kind="sing", outcome="queued") == 2
    assert value(found, "singbot_tasks_queued") == 2
    assert await tracker.cancel(second.id, 2) is not None  # type: ignore[union-attr]
    await tracker.start()
    await until_status(store, clock, first.id, TaskStatus.DELIVERED)  # type: ignore[union-attr]
    found = await scraped(metrics)
    assert value(found, "singbot_requests_total", kind="sing", outcome="cancelled") == 1
    assert value(found, "singbot_requests_total", kind="sing", outcome="delivered") == 1
    assert value(found, "singbot_requests_total", kind="sing", outcome="failed") == 0
    assert value(found, "singbot_delivery_failures_total", reason="http_5xx") == 1
    assert value(found, "singbot_completion_to_post_seconds_count") == 1
    assert value(found, "singbot_tasks_queued") == 0
    assert value(found, "singbot_tasks_at_musicgpt") == 0


async def test_a_failed_request_is_counted_once(
    tracked: tuple[Tracker, Metrics, FakeMusicGPT, FakePoster], store: Store, clock: FakeClock
) -> None:
    tracker, metrics, musicgpt, _ = tracked
    musicgpt.submit_error = MusicGPTError("nope")
    await tracker.start()
    task = await tracker.submit(sing(), limits=LIMITS, audio_duration=None)
    await until_status(store, clock, task.id, TaskStatus.FAILED)  # type: ignore[union-attr]
    assert await tracker.apply_update(task.id, DONE) is None  # type: ignore[union-attr]
    found = await scraped(metrics)
    assert value(found, "singbot_requests_total", kind="sing", outcome="failed") == 1


API_KEY = "sk-metrics-test-0123456789"


async def test_the_client_counts_every_byid_attempt_by_its_answer() -> None:
    metrics = Metrics()
    async with MusicGPTStandIn(api_key=API_KEY) as mg, aiohttp.ClientSession() as session:
        client = MusicGPTClient(
            session, mg.base_url, API_KEY, backoff_base=0.01, backoff_max=0.02, metrics=metrics
        )
        mg.faults.add("byId", "unavailable", count=2)  # retried twice, then answered 404
        with pytest.raises(MusicGPTError):
            await client.get_conversion(TaskKind.SING, task_id="no-such-task")
        mg.faults.add("byId", "rate_limit")
        with pytest.raises(MusicGPTRateLimited):
            await client.get_conversion(TaskKind.SING, task_id="no-such-task")
        found = await scraped(metrics)
        assert total(found, "singbot_musicgpt_byid_calls_total") == len(mg.by_id_requests) == 4
        assert value(found, "singbot_musicgpt_byid_calls_total", result="rate_limited") == 1
        assert value(found, "singbot_musicgpt_byid_calls_total", result="error") == 3
        assert value(found, "singbot_musicgpt_errors_total", endpoint="byId", status="503") == 2
        assert value(found, "singbot_musicgpt_errors_total", endpoint="byId", status="404") == 1
        assert API_KEY not in (await metrics.render()).decode()


# --- who may read it ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serving(access: MetricsAccess) -> AsyncIterator[str]:
    metrics = Metrics()
    metrics.request(TaskKind.SING, "delivered")
    health = Health(discord_connected=lambda: True, database_ok=database_ok)
    server = HttpServer(
        FakeTracker(),  # type: ignore[arg-type]
        "s" * 43,
        health,
        host="127.0.0.1",
        port=0,
        metrics=metrics,
        metrics_access=access,
    )
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}/metrics"
    finally:
        await server.stop()


async def get(url: str, **headers: str) -> tuple[int, str, Any]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, await response.text(), response.headers


TOKEN = "t0ken-for-metrics-0123456789"


async def test_a_token_is_asked_for_from_anyone_when_there_is_one() -> None:
    async with serving(MetricsAccess(TOKEN, public=False)) as url:
        assert (await get(url))[0] == 401
        assert (await get(url, Authorization=f"Bearer {TOKEN}x"))[0] == 401
        assert (await get(url, Authorization=TOKEN))[0] == 401  # the scheme is part of it
        status, text, headers = await get(url, Authorization=f"Bearer {TOKEN}")
        assert status == 200
        assert headers["Content-Type"].startswith("text/plain; version=")
        assert value(parse(text), "singbot_requests_total", kind="sing", outcome="delivered") == 1


async def test_without_a_token_metrics_are_open_on_a_private_port_and_off_on_a_public_one() -> None:
    async with serving(MetricsAccess(None, public=False)) as url:
        assert (await get(url))[0] == 200
    async with serving(MetricsAccess(None, public=True)) as url:
        status, text, _ = await get(url, Authorization="Bearer anything-at-all-000")
        assert status == 403 and "METRICS_TOKEN" in text


@pytest.mark.parametrize(
    ("host", "webhooks", "public"),
    [
        ("127.0.0.1", False, False),
        ("127.0.0.53", False, False),
        ("::1", False, False),
        ("[::1]", False, False),
        ("localhost", False, False),
        ("0.0.0.0", False, True),  # compose's default while polling: every interface
        ("::", False, True),
        ("192.168.1.20", False, True),
        ("bot.internal", False, True),  # a name may resolve to anything
        ("127.0.0.1", True, True),  # PUBLIC_BASE_URL's proxy or tunnel carries it out
    ],
)
def test_metrics_are_public_on_any_bind_but_loopback(
    host: str, webhooks: bool, public: bool
) -> None:
    assert metrics_public(host, webhooks=webhooks) is public


async def test_no_metrics_no_route() -> None:
    health = Health(discord_connected=lambda: True, database_ok=database_ok)
    server = HttpServer(FakeTracker(), "s" * 43, health, host="127.0.0.1", port=0)  # type: ignore[arg-type]
    await server.start()
    try:
        assert (await get(f"http://127.0.0.1:{server.port}/metrics"))[0] == 404
    finally:
        await server.stop()


def test_metrics_token_is_optional_long_and_never_shown() -> None:
    from bot.core.config import load_settings
    from bot.core.errors import ConfigError

    env = {"DISCORD_TOKEN": "d", "MUSICGPT_API_KEY": "m"}
    assert load_settings(env).metrics_token is None
    settings = load_settings({**env, "METRICS_TOKEN": TOKEN})
    assert settings.metrics_token == TOKEN and TOKEN not in repr(settings)
    for bad in ("short", "sixteen chars wi", "ünicode-token-0123456789"):
        with pytest.raises(ConfigError, match="METRICS_TOKEN must be at least 16 ASCII"):
            load_settings({**env, "METRICS_TOKEN": bad})
