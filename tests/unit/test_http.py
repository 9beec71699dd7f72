"""The webhook server on its own, with a fake tracker: what a stranger (or a stranger with the
secret) can send, and the bounds on connections. The slow-connection bounds are shortened
here so the tests are quick; tests/e2e/test_webhooks_e2e.py holds the real ones to account."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

import bot.http
from bot.core.clock import SystemClock
from bot.core.errors import MusicGPTConfigurationError, MusicGPTUnavailable
from bot.core.tracker.context import MusicGPTHealth
from bot.http import Health, HttpServer
from tests.support.sockets import SLOW_HEAD, dribble, read_until_closed

SECRET = "s" * 43


class FakeTracker:
    def __init__(self) -> None:
        self.webhooks: list[tuple[int, dict[str, Any]]] = []
        self.health = MusicGPTHealth(SystemClock())
        self.limits: dict[str, object] = {"musicgpt_parallel": {"using": 5, "configured": 5}}
        self.limits_read: list[bool] = []  # whether /readyz let it read the database

    async def handle_webhook(self, task_id: int, payload: dict[str, Any]) -> None:
        self.webhooks.append((task_id, payload))

    async def musicgpt_limits(self, *, read: bool = True) -> dict[str, object]:
        self.limits_read.append(read)
        return self.limits


async def database_ok() -> bool:
    return True


@contextlib.asynccontextmanager
async def serving(
    health: Health | None = None, tracker: FakeTracker | None = None
) -> AsyncIterator[tuple[HttpServer, FakeTracker, str]]:
    tracker = tracker or FakeTracker()
    health = health or Health(discord_connected=lambda: True, database_ok=database_ok)
    server = HttpServer(tracker, SECRET, health, host="127.0.0.1", port=0)  # type: ignore[arg-type]
    await server.start()
    try:
        yield server, tracker, f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()


async def post(url: str, body: bytes) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(url, data=body) as response:
        return response.status, await response.text()


async def get(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


async def test_a_good_webhook_reaches_the_tracker() -> None:
    async with serving() as (_, tracker, base):
        status, _ = await post(f"{base}/musicgpt/{SECRET}/123", b'{"status": "COMPLETED"}')
        assert status == 200
        assert tracker.webhooks == [(123, {"status": "COMPLETED"})]


@pytest.mark.parametrize(
    "task_id",
    ["１", "١", "+1", "-1", "1_0", " 1", "1.0", "0x1", str(2**63), "9" * 19, "%31%00", ""],
)
async def test_task_ids_other_than_ascii_digits_are_not_found(task_id: str) -> None:
    async with serving() as (_, tracker, base):
        status, _ = await post(f"{base}/musicgpt/{SECRET}/{task_id}", b'{"status": "x"}')
        assert status in (400, 404)
        assert tracker.webhooks == []


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"[" * 100_000, "expected JSON"),
        (b'{"a": ' * 2000 + b"1" + b"}" * 2000, "expected JSON"),
        (b"{", "expected JSON"),
        (b"\xff\xfe{}", "expected JSON"),
        (b'{"a": "\xed\xa0\x80"}', "expected JSON"),  # a UTF-8-encoded lone surrogate
        (b"", "expected JSON"),
        (b"[]", "expected an object"),
        (b"12", "expected an object"),
    ],
    ids=["deep-arrays", "deep-objects", "cut", "not-utf8", "surrogate", "empty", "list", "int"],
)
async def test_bad_json_is_a_400_without_a_traceback(
    body: bytes, complaint: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with serving() as (_, tracker, base):
        status, text = await post(f"{base}/musicgpt/{SECRET}/1", body)
        assert (status, complaint in text) == (400, True)
        assert tracker.webhooks == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_a_body_too_big_is_refused() -> None:
    async with serving() as (_, tracker, base):
        status, _ = await post(f"{base}/musicgpt/{SECRET}/1", b" " * (bot.http.MAX_BODY_BYTES + 1))
        assert status == 413 and tracker.webhooks == []


async def test_dribbled_headers_are_cut_off_and_health_still_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bot.http, "HEAD_SECONDS", 0.5)
    async with serving() as (server, _, base):
        dribblers = [
            asyncio.ensure_future(dribble(server.port, SLOW_HEAD, every=0.05)) for _ in range(20)
        ]
        # The empty lines a parser skips before a request don't count as the end of a head.
        dribblers.append(asyncio.ensure_future(dribble(server.port, b"\r\n" * 4 + SLOW_HEAD, 0.05)))
        while not all(d.done() for d in dribblers):
            status, _ = await get(f"{base}/healthz")
            assert status == 200
            await asyncio.sleep(0.05)
        for took, said in [d.result() for d in dribblers]:
            assert took < 0.5 + 2 and said == b""
        assert server.open_connections == 0


async def test_a_connection_that_sends_nothing_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.http, "HEAD_SECONDS", 0.3)
    async with serving() as (server, _, _base):
        took, said = await dribble(server.port, b"", every=0.0)
        assert took < 0.3 + 2 and said == b""


async def test_an_idle_kept_alive_connection_is_closed_after_its_response(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bot.http, "KEEPALIVE_SECONDS", 0.5)  # the real one: the e2e test's
    async with serving() as (server, _, _base):
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: bot\r\n\r\n")
        await writer.drain()
        answered = loop.time()
        said = await asyncio.wait_for(read_until_closed(reader), 30)
        writer.close()
        assert said.startswith(b"HTTP/1.1 200")
        # aiohttp's default keep-alive is an hour: ours reached it.
        assert loop.time() - answered < 0.5 + 2


async def test_a_dribbled_body_gets_a_408(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.http, "BODY_SECONDS", 0.3)
    async with serving() as (server, tracker, _base):
        head = f"POST /musicgpt/{SECRET}/1 HTTP/1.1\r\nHost: bot\r\nContent-Length: 50\r\n\r\n"
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(head.encode() + b"{")
        await writer.drain()
        said = await asyncio.wait_for(reader.read(65536), 10)
        writer.close()
        assert said.startswith(b"HTTP/1.1 408") and tracker.webhooks == []


async def test_connections_past_the_cap_are_closed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.http, "MAX_CONNECTIONS", 3)
    async with serving() as (server, _, _base):
        held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(3)]
        await asyncio.sleep(0.05)
        assert server.open_connections == 3
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        said = await asyncio.wait_for(read_until_closed(reader), 2)  # far below HEAD_SECONDS
        assert said == b""
        writer.close()
        for _, held_writer in held:
            held_writer.close()


async def test_readyz_checks_the_disk_and_healthz_is_the_same() -> None:
    disk: dict[str, bool | None] = {"ok": True}

    def disk_ok() -> bool:
        if disk["ok"] is None:
            raise OSError("statvfs failed")
        return bool(disk["ok"])

    health = Health(discord_connected=lambda: True, database_ok=database_ok, disk_ok=disk_ok)
    async with serving(health) as (_, _tracker, base):
        status, body = await get(f"{base}/readyz")
        assert (status, body["ok"], body["failing"], body["disk_ok"]) == (200, True, [], True)
        disk["ok"] = False
        status, body = await get(f"{base}/readyz")
        assert (status, body["ok"], body["failing"]) == (503, False, ["disk_ok"])
        status, body = await get(f"{base}/healthz")  # an alias of /readyz
        assert (status, body["failing"]) == (503, ["disk_ok"])
        status, body = await get(f"{base}/livez")  # the process still serves
        assert (status, body) == (200, {"ok": True})
        disk["ok"] = None
        status, body = await get(f"{base}/readyz")
        assert (status, body["failing"]) == (503, ["disk_ok"])


async def test_readyz_names_every_failing_check_and_livez_stays_200() -> None:
    async def database_down() -> bool:
        raise OSError("database is locked")

    health = Health(discord_connected=lambda: False, database_ok=database_down)
    async with serving(health) as (_, _tracker, base):
        status, body = await get(f"{base}/readyz")
        assert status == 503
        assert body["failing"] == ["discord_connected", "database_ok"]
        status, body = await get(f"{base}/healthz")
        assert status == 503 and body["failing"] == ["discord_connected", "database_ok"]
        assert await get(f"{base}/livez") == (200, {"ok": True})


async def test_the_default_disk_check_is_ready() -> None:
    async with serving() as (_, _tracker, base):
        status, body = await get(f"{base}/readyz")
        assert status == 200 and body["disk_ok"] is True


async def test_one_failed_musicgpt_call_is_not_an_outage_three_are() -> None:
    tracker = FakeTracker()
    async with serving(tracker=tracker) as (_, _, base):
        tracker.health.note(MusicGPTUnavailable("down"))
        status, body = await get(f"{base}/readyz")
        assert (status, body["musicgpt_reachable"], body["musicgpt_consecutive_failures"]) == (
            200,
            True,
            1,
        )
        tracker.health.note(MusicGPTUnavailable("down"))
        tracker.health.note(MusicGPTUnavailable("down"))
        status, body = await get(f"{base}/readyz")
        assert (status, body["failing"]) == (503, ["musicgpt_reachable"])
        tracker.health.note(None)
        status, body = await get(f"{base}/readyz")
        assert (status, body["failing"]) == (200, [])


async def test_a_refused_key_fails_readiness_by_name_and_the_limits_are_shown() -> None:
    tracker = FakeTracker()
    tracker.limits = {"musicgpt_parallel": {"using": 2, "configured": 5, "learned": "took 2"}}
    async with serving(tracker=tracker) as (_, _, base):
        tracker.health.note(MusicGPTConfigurationError("bad key"))
        status, body = await get(f"{base}/readyz")
        assert (status, body["failing"], body["musicgpt_reachable"]) == (
            503,
            ["musicgpt_key"],
            True,  # a 401 is an answer: MusicGPT is there, it just won't take the key
        )
        assert body["musicgpt_parallel"] == tracker.limits["musicgpt_parallel"]
        assert (await get(f"{base}/livez"))[0] == 200


async def test_readyz_says_which_shards_it_holds_and_which_database() -> None:
    shards = {1: True, 3: True}
    health = Health(
        discord_connected=lambda: True,
        database_ok=database_ok,
        database="postgresql",
        shards=lambda: shards,
        shard_count=4,
    )
    async with serving(health) as (_, _tracker, base):
        status, body = await get(f"{base}/readyz")
        assert (status, body["failing"], body["database"]) == (200, [], "postgresql")
        assert (body["shard_count"], body["shards"], body["shards_connected"]) == (
            4,
            [1, 3],
            [1, 3],
        )
        shards[3] = False  # one shard of two away: the process isn't connected to Discord
        status, body = await get(f"{base}/readyz")
        assert (status, body["failing"]) == (503, ["discord_connected"])
        assert (body["shards"], body["shards_connected"]) == ([1, 3], [1])


async def test_an_unsharded_process_holds_shard_0_of_1_on_sqlite() -> None:
    connected = {"now": True}
    health = Health(discord_connected=lambda: connected["now"], database_ok=database_ok)
    async with serving(health) as (_, _tracker, base):
        _, body = await get(f"{base}/readyz")
        assert (body["database"], body["shard_count"], body["shards"]) == ("sqlite", 1, [0])
        assert body["shards_connected"] == [0]
        connected["now"] = False
        status, body = await get(f"{base}/readyz")
        assert (status, body["shards_connected"], body["failing"]) == (
            503,
            [],
            ["discord_connected"],
        )


async def test_a_database_that_doesnt_answer_fails_readyz_in_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bot.http, "DATABASE_SECONDS", 0.2)

    async def database_hangs() -> bool:
        await asyncio.sleep(60)
        return True

    health = Health(discord_connected=lambda: True, database_ok=database_hangs)
    async with serving(health) as (_, tracker, base):
        status, body = await asyncio.wait_for(get(f"{base}/readyz"), 5)
        assert (status, body["database_ok"], body["failing"]) == (503, False, ["database_ok"])
        # The shared limits aren't read from a database that didn't answer: the last seen.
        assert tracker.limits_read == [False]
