"""`python -m bot.healthcheck` (the container's health check) against a local HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from bot.healthcheck import check, readyz_url
from tests.support.process import free_port

ROOT = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def serve(handler: Callable[[web.Request], Awaitable[web.Response]]) -> AsyncIterator[int]:
    """An HTTP server on a free port of 127.0.0.1 answering /readyz with `handler`."""
    app = web.Application()
    app.router.add_get("/readyz", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


@pytest.fixture
async def ready_port() -> AsyncIterator[int]:
    async def ready(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async with serve(ready) as port:
        yield port


@pytest.fixture
async def not_ready_port() -> AsyncIterator[int]:
    async def not_ready(request: web.Request) -> web.Response:
        return web.json_response({"ok": False, "failing": ["discord_connected"]}, status=503)

    async with serve(not_ready) as port:
        yield port


async def test_healthy_when_readyz_answers_200(ready_port: int) -> None:
    healthy, line = await asyncio.to_thread(check, {"WEBHOOK_PORT": str(ready_port)})
    assert healthy
    assert line == f"http://127.0.0.1:{ready_port}/readyz: 200"


async def test_unhealthy_with_the_failing_checks_when_readyz_says_503(
    not_ready_port: int,
) -> None:
    healthy, line = await asyncio.to_thread(check, {"WEBHOOK_PORT": str(not_ready_port)})
    assert not healthy
    assert "503" in line and "discord_connected" in line


async def test_unhealthy_when_nothing_listens() -> None:
    healthy, line = await asyncio.to_thread(check, {"WEBHOOK_PORT": str(free_port())})
    assert not healthy
    assert "no answer" in line


async def test_unhealthy_when_the_server_never_answers() -> None:
    held: list[asyncio.StreamWriter] = []

    async def accept_and_say_nothing(_: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        held.append(w)

    server = await asyncio.start_server(accept_and_say_nothing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        healthy, line = await asyncio.to_thread(check, {"WEBHOOK_PORT": str(port)}, 0.3)
        for writer in held:
            writer.close()
    assert not healthy
    assert "timed out" in line


def test_asks_the_port_the_bot_was_given_and_its_default() -> None:
    assert readyz_url({"WEBHOOK_PORT": "9123"}) == "http://127.0.0.1:9123/readyz"
    assert readyz_url({}) == "http://127.0.0.1:8080/readyz"  # Settings' default
    assert readyz_url({"WEBHOOK_PORT": " "}) == "http://127.0.0.1:8080/readyz"


@pytest.mark.parametrize(
    ("host", "asked"),
    [
        ("", "127.0.0.1"),
        ("0.0.0.0", "127.0.0.1"),  # every interface: the loopback among them
        ("127.0.0.1", "127.0.0.1"),
        ("::", "[::1]"),  # asyncio listens on "::" for IPv6 only
        ("10.0.0.5", "10.0.0.5"),  # one address: only it answers
    ],
)
def test_asks_an_address_the_bot_listens_on(host: str, asked: str) -> None:
    assert readyz_url({"WEBHOOK_HOST": host, "WEBHOOK_PORT": "8081"}) == (
        f"http://{asked}:8081/readyz"
    )


@pytest.mark.parametrize("port", ["0", "65536", "80a", "-1", "٨٠"])
def test_a_bad_port_is_unhealthy_and_says_so(port: str) -> None:
    healthy, line = check({"WEBHOOK_PORT": port})
    assert not healthy
    assert line == "unhealthy: WEBHOOK_PORT must be a port number between 1 and 65535"


async def run_module(port: int, tmp_path: Path, **extra: str) -> tuple[int, str]:
    """`python -m bot.healthcheck` as Docker runs it: the container's environment only."""
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "WEBHOOK_PORT": str(port)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.healthcheck",
        cwd=tmp_path,
        env=env | extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_the_command_exits_0_when_ready(ready_port: int, tmp_path: Path) -> None:
    # A proxy meant for the bot's outgoing calls must not take the check elsewhere.
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    code, output = await run_module(
        ready_port, tmp_path, HTTP_PROXY=dead_proxy, http_proxy=dead_proxy
    )
    assert (code, output.strip()) == (0, f"http://127.0.0.1:{ready_port}/readyz: 200")


async def test_the_command_exits_1_when_not_ready(not_ready_port: int, tmp_path: Path) -> None:
    code, output = await run_module(not_ready_port, tmp_path)
    assert code == 1
    assert "503" in output
    assert "Traceback" not in output
