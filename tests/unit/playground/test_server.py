"""The playground's HTTP boundary (playground/server.py): only its own page may drive it.
A cross-site form (text/plain or multipart, a foreign Origin) and a DNS-rebound Host are
refused before any handler runs; the page's own JSON requests, files in base64, go through.
The world behind it is a small fake: these requests never reach the stand-ins."""

from __future__ import annotations

import base64
import socket
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import aiohttp
import pytest

from playground.server import PlaygroundServer


class FakeDiscord:
    def __init__(self) -> None:
        self.attachments: list[tuple[str, bytes]] = []
        self.posted: list[tuple[str, dict[str, bytes]]] = []
        self.the_guild = SimpleNamespace(locale="en-US")

    def guild(self) -> Any:
        return self.the_guild

    def add_attachment(self, filename: str, data: bytes) -> dict[str, Any]:
        self.attachments.append((filename, data))
        return {"id": len(self.attachments)}

    async def post_user_message(
        self, content: str, *, channel_id: int, user_id: int, files: dict[str, bytes]
    ) -> None:
        self.posted.append((content, files))


@pytest.fixture
async def served() -> AsyncIterator[tuple[PlaygroundServer, str]]:
    fake = SimpleNamespace(dc=FakeDiscord(), mg=SimpleNamespace(delay=3.0, webhooks_enabled=True))
    server = PlaygroundServer(cast(Any, fake))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.setblocking(False)
    await server.start(sock)
    try:
        yield server, f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()
        sock.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_the_pages_own_json_goes_through(
    served: tuple[PlaygroundServer, str], http: aiohttp.ClientSession
) -> None:
    server, url = served
    own = {"Origin": url}
    async with http.post(url + "/api/musicgpt", json={"delay": 5}, headers=own) as answer:
        assert answer.status == 200, await answer.text()
    assert server.w.mg.delay == 5
    # localhost is the same machine; no Origin is what curl and same-origin GETs send.
    localhost = {"Host": f"localhost:{server.port}"}
    async with http.post(url + "/api/musicgpt", json={}, headers=localhost) as answer:
        assert answer.status == 200


async def test_the_page_switches_the_servers_language(
    served: tuple[PlaygroundServer, str], http: aiohttp.ClientSession
) -> None:
    server, url = served
    own = {"Origin": url}
    for asked, kept in (("pt-BR", "pt-BR"), ("ko", "ko"), ("xx-YY", "en-US")):
        body = {"guild_locale": asked, "locale": "es-ES"}
        async with http.post(url + "/api/guild-locale", json=body, headers=own) as answer:
            assert answer.status == 200, await answer.text()
        assert server.w.dc.guild().locale == kept


async def test_files_come_as_base64_json(
    served: tuple[PlaygroundServer, str], http: aiohttp.ClientSession
) -> None:
    server, url = served
    dc = cast(FakeDiscord, server.w.dc)
    wav = b"RIFF\x00\x01binary\xff"
    file = {"name": "beat.wav", "data": base64.b64encode(wav).decode()}
    async with http.post(url + "/api/upload", json={"files": [file]}) as answer:
        assert answer.status == 200
        assert await answer.json() == {"id": "1", "filename": "beat.wav"}
    body = {"content": "hi", "files": [file], "channel_id": "5", "user_id": "6"}
    async with http.post(url + "/api/post", json=body) as answer:
        assert answer.status == 200
    assert dc.attachments == [("beat.wav", wav)]
    assert dc.posted == [("hi", {"beat.wav": wav})]
    broken = {"files": [{"name": "x", "data": "not base64!"}]}
    async with http.post(url + "/api/upload", json=broken) as answer:
        assert answer.status == 400
        assert "base64" in (await answer.json())["error"]


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        # A cross-site "simple" POST: no CORS preflight, so only the server can stop it.
        ({"Origin": "http://evil.example", "Content-Type": "text/plain"}, 403, "cross-site"),
        ({"Origin": "null", "Content-Type": "application/json"}, 403, "cross-site"),
        ({"Origin": "http://127.0.0.1:1", "Content-Type": "application/json"}, 403, "cross"),
        ({"Content-Type": "text/plain"}, 415, "JSON"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "JSON"),
        ({"Content-Type": "multipart/form-data; boundary=x"}, 415, "JSON"),
    ],
)
async def test_cross_site_and_non_json_posts_are_refused(
    served: tuple[PlaygroundServer, str],
    http: aiohttp.ClientSession,
    headers: dict[str, str],
    status: int,
    reason: str,
) -> None:
    server, url = served
    body = b'{"delay": 600}'
    async with http.post(url + "/api/musicgpt", data=body, headers=headers) as answer:
        assert answer.status == status
        assert reason in (await answer.json())["error"]
    assert server.w.mg.delay == 3.0  # untouched


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1", "[::1]:1"])
async def test_a_foreign_host_is_refused_even_for_reading(
    served: tuple[PlaygroundServer, str], http: aiohttp.ClientSession, host: str
) -> None:
    """DNS rebinding: a page on evil.example whose name now points at 127.0.0.1 sends its
    own Host, so its reads of /api/state (and the page) are refused."""
    server, url = served
    headers = {"Host": host.format(port=server.port)}
    for path in ("/api/state", "/", "/static/app.js"):
        async with http.get(url + path, headers=headers) as answer:
            assert answer.status == 403, path
            assert f"127.0.0.1:{server.port}" in (await answer.json())["error"]
    async with http.post(url + "/api/musicgpt", json={"delay": 9}, headers=headers) as answer:
        assert answer.status == 403
    assert server.w.mg.delay == 3.0
