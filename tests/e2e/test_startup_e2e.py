"""Start-up as an owner meets it: every failure is one log line naming cause and fix.

The owner's mistakes (a bad token, a taken port, an unusable database path) end the process
with exit code 2; Discord or the network being away is waited out, one line per attempt with
a capped backoff, and the bot connects once Discord is back. A normal start says "ready".
The Discord stand-in is made to refuse, hang or answer 401 by an `Outage` middleware that
the test switches on and off.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from tests.support.process import free_port
from tests.support.world import World, poll_until, world

# Every line the bot prints starts with the log format's timestamp; a traceback's don't.
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ +\S+: ")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Outage:
    """What the Discord stand-in does to the bot's requests while `mode` is set:
    "refuse" (REST and gateway answer 503), "hang" (REST accepts and never answers),
    "gateway" (only the gateway upgrade is refused), "sync" (only the command sync answers
    503) or "401" (REST refuses the token)."""

    def __init__(self, mode: str | None = None) -> None:
        self.mode = mode
        self.over = asyncio.Event()

    def set(self, mode: str | None) -> None:
        self.mode = mode
        if mode is None:
            self.over.set()
        else:
            self.over.clear()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        gateway = request.path == "/gateway"
        if self.mode == "gateway" and gateway:
            return web.Response(status=503)
        if self.mode == "refuse":
            return web.Response(status=503)
        if self.mode == "sync" and request.method == "PUT" and request.path.endswith("/commands"):
            return web.Response(status=503)
        if self.mode == "hang" and not gateway:
            await self.over.wait()
        if self.mode == "401" and request.path.endswith("/users/@me"):
            return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)
        return await handler(request)


def lines(w: World) -> list[str]:
    return w.bot.log_text().splitlines()


def assert_one_line_each(w: World) -> None:
    """No traceback, nothing spread over several lines: every line is a log record's."""
    text = w.bot.log_text()
    assert "Traceback" not in text, text
    strays = [line for line in lines(w) if not LINE.match(line)]
    assert strays == [], text


async def exit_code(w: World, timeout: float = 30) -> int:
    await w.bot.start()
    await poll_until(lambda: not w.bot.running, timeout, "the bot to exit")
    code = w.bot.returncode
    assert code is not None
    return code


def failure_lines(w: World) -> list[str]:
    return [line for line in lines(w) if " ERROR " in line or " WARNING " in line]


# --- the owner's mistakes: exit 2, one line ------------------------------------------------


async def test_a_refused_token_is_one_line_and_exit_2(tmp_path: Path) -> None:
    outage = Outage("401")
    dc_options = {"middlewares": [outage.middleware]}
    async with world(tmp_path, start=False, log_level="INFO", dc_options=dc_options) as w:
        assert await exit_code(w) == 2, w.bot.log_text()
        assert_one_line_each(w)
        [failure] = failure_lines(w)
        assert "DISCORD_TOKEN" in failure and "Reset Token" in failure
        assert w.dc.token not in w.bot.log_text()


@pytest.mark.parametrize("webhooks", [True, False], ids=["webhooks", "polling"])
async def test_a_taken_webhook_port_is_one_line_and_exit_2(tmp_path: Path, webhooks: bool) -> None:
    """In every mode: when polling the port still serves /livez, /readyz and /metrics."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with world(tmp_path, start=False, log_level="INFO") as w:
            w.env["WEBHOOK_PORT"] = str(port)
            w.env["WEBHOOK_HOST"] = "127.0.0.1"
            if webhooks:
                w.env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
            else:
                w.env.pop("PUBLIC_BASE_URL", None)
            assert await exit_code(w) == 2, w.bot.log_text()
            assert_one_line_each(w)
            [failure] = failure_lines(w)
            assert f"WEBHOOK_PORT {port} on 127.0.0.1: address already in use" in failure
            assert w.dc.find_requests() == []  # found before anything was asked of Discord


def _parent_is_a_file(tmp: Path) -> Path:
    (tmp / "a-file").write_text("not a folder")
    return tmp / "a-file" / "bot.sqlite3"


def _not_a_database(tmp: Path) -> Path:
    path = tmp / "db" / "bot.sqlite3"
    path.parent.mkdir()
    path.write_bytes(b"these are somebody's notes, not SQLite\n" * 100)
    return path


def _read_only_folder(tmp: Path) -> Path:
    folder = tmp / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    return folder / "bot.sqlite3"


@pytest.mark.parametrize(
    ("make_path", "says"),
    [
        pytest.param(_parent_is_a_file, "can't be used", id="folder-cannot-be-created"),
        pytest.param(_not_a_database, "not an SQLite database", id="not-a-database"),
        pytest.param(
            _read_only_folder,
            "permission denied",
            id="not-writable",
            marks=pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere"),
        ),
    ],
)
async def test_an_unusable_database_path_is_one_line_and_exit_2(
    tmp_path: Path, make_path: Callable[[Path], Path], says: str
) -> None:
    path = make_path(tmp_path)
    async with world(tmp_path, start=False, log_level="INFO", DATABASE_PATH=str(path)) as w:
        assert await exit_code(w) == 2, w.bot.log_text()
        assert_one_line_each(w)
        [failure] = failure_lines(w)
        assert f"DATABASE_PATH {path}" in failure and says in failure


# --- Discord away: retried, one line per attempt, never an exit ------------------------------


async def attempts(w: World, pattern: str, count: int, timeout: float) -> list[str]:
    """The bot's attempt lines matching `pattern`, once there are `count` of them."""

    def found() -> list[str] | None:
        matching = [line for line in lines(w) if re.search(pattern, line)]
        return matching if len(matching) >= count else None

    try:
        result: list[str] = await poll_until(found, timeout, f"{count} lines like {pattern!r}")
    except TimeoutError as error:
        raise AssertionError(f"{error}\n{w.bot.log_text()}") from error
    return result


@pytest.mark.parametrize(
    ("api_base", "reason"),
    [
        pytest.param(f"http://127.0.0.1:{free_port()}", "connection refused", id="refused"),
        pytest.param("http://discord.invalid", "doesn't resolve", id="dns"),
    ],
)
async def test_an_unreachable_discord_is_retried_with_backoff_until_stopped(
    tmp_path: Path, api_base: str, reason: str
) -> None:
    async with world(tmp_path, start=False, log_level="INFO", DISCORD_API_BASE=api_base) as w:
        await w.bot.start()
        # Attempts after 1, 2 and 4 s: three lines within the 7 s of backoff (and the DNS
        # lookups), the process up all along.
        tries = await attempts(w, r"can't reach Discord", 3, timeout=30)
        assert all(reason in line for line in tries), tries
        assert [re.search(r"retrying in (\d+) s", t)[1] for t in tries[:3]] == ["1", "2", "4"]
        assert w.bot.running
        assert await w.bot.stop() == 0
        assert_one_line_each(w)
        assert "stopped" in lines(w)[-1]


async def test_discord_that_accepts_and_never_answers_is_retried_then_connected(
    tmp_path: Path,
) -> None:
    outage = Outage("hang")
    dc_options = {"middlewares": [outage.middleware]}
    async with world(tmp_path, start=False, log_level="INFO", dc_options=dc_options) as w:
        await w.bot.start()
        # Each attempt gives up after 10 s without an answer (not aiohttp's five minutes).
        tries = await attempts(w, r"can't reach Discord", 2, timeout=40)
        assert all("no answer within 10 s" in t for t in tries), tries
        assert w.bot.running
        outage.set(None)
        await w.wait_healthy(timeout=30)
        assert_one_line_each(w)


async def test_a_refused_gateway_at_start_is_retried_then_connected(tmp_path: Path) -> None:
    """discord.py 2.7 ends its own loop here in `AttributeError: 'NoneType' object has no
    attribute 'sequence'` (issue #10520); the bot retries the first connection itself."""
    outage = Outage("gateway")
    dc_options = {"middlewares": [outage.middleware]}
    async with world(tmp_path, start=False, log_level="INFO", dc_options=dc_options) as w:
        await w.bot.start()
        tries = await attempts(w, r"can't open Discord's gateway", 2, timeout=30)
        assert all("HTTP 503" in t for t in tries), tries
        assert w.bot.running
        outage.set(None)
        await w.wait_healthy(timeout=30)
        await attempts(w, r"ready as", 1, timeout=10)
        text = w.bot.log_text()
        assert "AttributeError" not in text
        assert_one_line_each(w)


async def test_discord_failing_the_command_sync_after_login_is_retried(tmp_path: Path) -> None:
    # Logged in, then Discord fails the first call after it: no traceback, no exit.
    outage = Outage("sync")
    dc_options = {"middlewares": [outage.middleware]}
    async with world(tmp_path, start=False, log_level="INFO", dc_options=dc_options) as w:
        await w.bot.start()
        tries = await attempts(w, r"couldn't sync my commands", 2, timeout=30)
        assert all("HTTP 503" in t for t in tries), tries
        assert w.bot.running
        outage.set(None)
        await w.wait_healthy(timeout=30)
        await attempts(w, r"ready as", 1, timeout=10)
        assert w.dc.commands(w.dc.guild_id), "the commands were synced in the end"
        assert_one_line_each(w)


async def test_losing_discord_logs_one_line_per_reconnect_attempt(tmp_path: Path) -> None:
    outage = Outage()
    dc_options = {"middlewares": [outage.middleware]}
    async with world(tmp_path, log_level="INFO", dc_options=dc_options) as w:
        before = len(lines(w))
        outage.set("refuse")
        await w.dc.gateway_drop()
        tries = await attempts(w, r"lost the connection to Discord", 3, timeout=40)
        during = lines(w)[before:]
        # Each attempt is its one line; nothing else is said while Discord is away.
        assert len(during) == len(tries) or len(during) == len(tries) + 1, during
        assert all("HTTP 503" in t for t in tries), tries
        outage.set(None)
        # Reconnect attempts come at most 60 s apart (discord.py's own backoff grows to 1024).
        await attempts(w, r"reconnected to Discord|ready as", 2, timeout=90)
        await w.wait_healthy(timeout=10)
        assert_one_line_each(w)


# --- a normal start ---------------------------------------------------------------------------


@pytest.mark.parametrize("webhooks", [True, False], ids=["webhooks", "polling"])
async def test_a_normal_start_says_ready_and_nothing_about_voice(
    tmp_path: Path, webhooks: bool
) -> None:
    async with world(tmp_path, webhooks=webhooks, log_level="INFO") as w:
        [ready] = await attempts(w, r"ready as", 1, timeout=10)
        mode = f"webhooks at http://127.0.0.1:{w.webhook_port}" if webhooks else "polling"
        assert f"ready as {w.dc.bot_user.username}" in ready
        assert "in 1 server;" in ready and ready.endswith(mode)  # not "1 guilds"
        text = w.bot.log_text()
        assert "PyNaCl" not in text and "davey" not in text
        assert failure_lines(w) == [], text
        assert_one_line_each(w)


async def test_ready_with_musicgpt_silent_says_what_that_means(tmp_path: Path) -> None:
    """MusicGPT not answering at start is said in the "ready" line itself, with what happens to
    songs meanwhile (their submit fails after its retries: "try again", refunded)."""
    async with world(tmp_path, start=False, log_level="INFO") as w:
        w.env["MUSICGPT_API_BASE"] = f"http://127.0.0.1:{free_port()}/api/public"
        await w.bot.start()
        [ready] = await attempts(w, r"ready as", 1, timeout=30)
        assert " WARNING " in ready, ready
        assert "in 1 server; " in ready
        assert "but MusicGPT isn't answering (could not connect" in ready
        assert "songs asked for fail with “try again in a few minutes” and are refunded" in ready
        assert_one_line_each(w)
