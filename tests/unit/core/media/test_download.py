"""Tests for bot.core.media.download: streamed downloads against a real server, and URL checks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.core.config import Settings, origin_of
from bot.core.errors import AudioRejected
from bot.core.media.download import check_audio_url, download_to_file
from bot.core.media.inspect import inspect_audio_async
from bot.core.songs.outputs import OutputFetcher

FIXTURES = Path(__file__).parents[3] / "fixtures" / "audio"
LIMIT = 25 * 1024 * 1024


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# --------------------------------------------------------------------------------------------
# URLs


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://cdn.example.com/song.mp3", "https://cdn.example.com/song.mp3"),
        ("  http://example.com/a.wav?x=1 \n", "http://example.com/a.wav?x=1"),
        ("HTTPS://Example.com:8443/a.flac", "HTTPS://Example.com:8443/a.flac"),
        ("https://example.com/a%20b.mp3", "https://example.com/a%20b.mp3"),
    ],
)
def test_check_audio_url_ok(url: str, expected: str) -> None:
    assert check_audio_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/song.mp3",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "data:audio/mp3;base64,AAAA",
        "http://",
        "https:///song.mp3",
        "https://:443/song.mp3",
        "example.com/song.mp3",
        "//example.com/song.mp3",
        "https://exa mple.com/song.mp3",
        "https://example.com/my song.mp3",
        "https://example.com/\tsong.mp3",
        "https://example.com:99999/song.mp3",
        "https://example.com:port/song.mp3",
        "",
        "   ",
    ],
)
def test_check_audio_url_rejects(url: str) -> None:
    with pytest.raises(AudioRejected) as info:
        check_audio_url(url)
    assert info.value.user_message == (
        "`audio_url` must be an http or https link, like https://example.com/song.mp3."
    )


def test_check_audio_url_too_long() -> None:
    with pytest.raises(AudioRejected, match="too long"):
        check_audio_url("https://example.com/" + "a" * 3000)


# --------------------------------------------------------------------------------------------
# Downloads, against a real server on a real socket

SMALL_LIMIT = 64 * 1024
CHUNK = b"\x00" * 16 * 1024


class Server:
    def __init__(self, base: str) -> None:
        self.base = base
        self.stream_sent = 0  # bytes the endless stream managed to hand to the socket
        self.stream_done = asyncio.Event()

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    tone = fixture_bytes("tone.mp3")
    state: dict[str, Server] = {}

    async def ok(request: web.Request) -> web.Response:
        return web.Response(body=tone, content_type="audio/mpeg")

    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404, text="no such attachment")

    async def error(request: web.Request) -> web.Response:
        return web.Response(status=503, text="try later")

    async def big(request: web.Request) -> web.Response:
        # Content-Length says too much: the client must not read the body at all.
        return web.Response(body=b"\x00" * (SMALL_LIMIT + 1))

    async def endless(request: web.Request) -> web.StreamResponse:
        # Chunked, no Content-Length, and far more than the limit: only counting can stop it.
        srv = state["server"]
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            for _ in range(2048):  # 32 MB, more than socket buffers can swallow
                await resp.write(CHUNK)
                srv.stream_sent += len(CHUNK)
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            pass
        finally:
            srv.stream_done.set()
        return resp

    async def exact(request: web.Request) -> web.StreamResponse:
        # Chunked and exactly at the limit: allowed.
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(SMALL_LIMIT // len(CHUNK)):
            await resp.write(CHUNK)
        await resp.write_eof()
        return resp

    async def cut(request: web.Request) -> web.StreamResponse:
        # Promises 10 KB, sends 1 KB, hangs up.
        resp = web.StreamResponse(headers={"Content-Length": "10240"})
        await resp.prepare(request)
        await resp.write(b"\x00" * 1024)
        assert request.transport is not None
        request.transport.close()
        return resp

    async def slow(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write(b"\x00" * 1024)
        await asyncio.sleep(5)
        return resp

    app = web.Application()
    app.router.add_get("/tone.mp3", ok)
    app.router.add_get("/missing", missing)
    app.router.add_get("/error", error)
    app.router.add_get("/big", big)
    app.router.add_get("/endless", endless)
    app.router.add_get("/exact", exact)
    app.router.add_get("/cut", cut)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state["server"] = Server(f"http://{host}:{port}")
    try:
        yield state["server"]
    finally:
        await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10, sock_read=0.5)) as s:
        yield s


async def test_download_success(
    server: Server, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    dest = tmp_path / "in" / "upload.bin"  # the folder is created on demand
    n = await download_to_file(session, server.url("/tone.mp3"), dest, max_bytes=LIMIT)
    assert n == dest.stat().st_size == (FIXTURES / "tone.mp3").stat().st_size
    assert dest.read_bytes() == fixture_bytes("tone.mp3")
    assert (await inspect_audio_async(dest, max_bytes=LIMIT)).format == "mp3"


async def test_download_small_chunks(
    server: Server, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    dest = tmp_path / "upload.bin"
    n = await download_to_file(
        session, server.url("/tone.mp3"), dest, max_bytes=LIMIT, chunk_size=100
    )
    assert n == len(fixture_bytes("tone.mp3"))
    assert dest.read_bytes() == fixture_bytes("tone.mp3")


async def test_download_exactly_at_the_limit(
    server: Server, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    dest = tmp_path / "upload.bin"
    n = await download_to_file(session, server.url("/exact"), dest, max_bytes=SMALL_LIMIT)
    assert n == SMALL_LIMIT == dest.stat().st_size


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/missing", "I couldn't download the attachment (HTTP 404 Not Found). Please try again."),
        (
            "/error",
            "I couldn't download the attachment (HTTP 503 Service Unavailable). Please try again.",
        ),
    ],
)
async def test_download_http_error(
    server: Server, session: aiohttp.ClientSession, tmp_path: Path, path: str, message: str
) -> None:
    dest = tmp_path / "upload.bin"
    with pytest.raises(AudioRejected) as info:
        await download_to_file(session, server.url(path), dest, max_bytes=LIMIT)
    assert info.value.user_message == message
    assert not dest.exists()


async def test_download_too_big_by_content_length(
    server: Server, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    dest = tmp_path / "upload.bin"
    with pytest.raises(AudioRejected) as info:
        await download_to_file(session, server.url("/big"), dest, max_bytes=SMALL_LIMIT)
    assert info.value.user_message == "That file is 64.1 KB; the limit is 64 KB."
    assert not dest.exists()


async def test_download_too_big_while_streaming(
    server: Server, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    dest = tmp_path / "upload.bin"
    with pytest.raises(AudioRejected) as info:
        await download_to_file(session, server.url("/endless"), dest, max_bytes=SMALL_LIMIT)
    assert info.value.user_message == "That file is over the 64 KB limit."
    assert not dest.exists()  # the partial file is gone
    # The client hung up early: the server could not push the whole 32 MB.
    await asyncio.wait_for(server.stream_done.wait(), timeout=5)
    assert server.stream_sent < 2048 * len(CHUNK)


async def test_download_cut_off(
    server: Server, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    dest = tmp_path / "upload.bin"
    with pytest.raises(AudioRejected) as info:
        await download_to_file(session, server.url("/cut"), dest, max_bytes=LIMIT)
    assert info.value.user_message == (
        "I couldn't download the attachment: the connection was cut off. Please try again."
    )
    assert not dest.exists()


async def test_download_timeout(
    server: Server, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    dest = tmp_path / "upload.bin"
    with pytest.raises(AudioRejected) as info:
        await download_to_file(session, server.url("/slow"), dest, max_bytes=LIMIT)
    assert (
        info.value.user_message
        == "I couldn't download the attachment: it timed out. Please try again."
    )
    assert not dest.exists()


async def test_download_connection_refused(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    # Bind a port, then close it: nothing listens there any more.
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    dest = tmp_path / "upload.bin"
    with pytest.raises(AudioRejected) as info:
        await download_to_file(session, f"http://127.0.0.1:{port}/x", dest, max_bytes=LIMIT)
    assert info.value.user_message == (
        "I couldn't download the attachment: couldn't connect to the server. Please try again."
    )
    assert not dest.exists()


async def test_download_invalid_url(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    dest = tmp_path / "upload.bin"
    with pytest.raises(AudioRejected, match=r"^I couldn't download the attachment: "):
        await download_to_file(session, "ftp://example.com/x.mp3", dest, max_bytes=LIMIT)
    assert not dest.exists()


async def test_download_cancelled_removes_partial_file(
    server: Server, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    dest = tmp_path / "upload.bin"
    task = asyncio.create_task(
        download_to_file(session, server.url("/slow"), dest, max_bytes=LIMIT)
    )
    for _ in range(200):  # wait until the download is under way: the file exists
        await asyncio.sleep(0.01)
        if dest.exists():
            break
    assert dest.exists()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not dest.exists()


async def test_download_disk_error_is_not_the_users_fault(
    server: Server, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(OSError) as info:
        await download_to_file(
            session, server.url("/tone.mp3"), blocker / "upload.bin", max_bytes=LIMIT
        )
    assert not isinstance(info.value, AudioRejected)


def test_download_module_does_not_import_discord() -> None:
    # bot.core.media.download is a service: it must stay usable (and testable) without discord.py.
    source = (Path(__file__).parents[4] / "bot" / "core" / "media" / "download.py").read_text()
    assert "import discord" not in source
    assert "from discord" not in source


# --------------------------------------------------------------------------------------------
# Attachments: only from the allowed origins, redirects included


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


@pytest.fixture
async def redirecting() -> AsyncIterator[tuple[str, str, list[str]]]:
    """A 'Discord' server that redirects, and a loopback 'internal' server counting hits."""
    tone = fixture_bytes("tone.mp3")
    internal_hits: list[str] = []

    async def internal(request: web.Request) -> web.Response:
        internal_hits.append(request.path)
        return web.Response(body=tone)

    inner_runner, inner = await _serve(_app(("/secret", internal)))

    async def tone_route(request: web.Request) -> web.Response:
        return web.Response(body=tone)

    async def away(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{inner}/secret")

    async def same_host(request: web.Request) -> web.Response:
        raise web.HTTPFound("/tone.mp3")

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    outer_runner, outer = await _serve(
        _app(("/tone.mp3", tone_route), ("/away", away), ("/here", same_host), ("/loop", loop))
    )
    try:
        yield outer, inner, internal_hits
    finally:
        await outer_runner.cleanup()
        await inner_runner.cleanup()


def _app(*routes: tuple[str, object]) -> web.Application:
    app = web.Application()
    for path, handler in routes:
        app.router.add_get(path, handler)  # type: ignore[arg-type]
    return app


async def test_attachment_redirects_leave_no_allowed_origin(
    redirecting: tuple[str, str, list[str]], session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    outer, inner, internal_hits = redirecting
    allowed = {origin_of(outer)}
    dest = tmp_path / "a.part"
    # A redirect to another port on loopback (an internal service) is not followed.
    with pytest.raises(AudioRejected, match="isn't on Discord's servers"):
        await download_to_file(
            session, f"{outer}/away", dest, max_bytes=LIMIT, allowed_origins=allowed
        )
    # Nor is a link that starts off the allowed origins.
    with pytest.raises(AudioRejected, match="isn't on Discord's servers"):
        await download_to_file(
            session, f"{inner}/secret", dest, max_bytes=LIMIT, allowed_origins=allowed
        )
    with pytest.raises(AudioRejected, match="too many redirects"):
        await download_to_file(
            session, f"{outer}/loop", dest, max_bytes=LIMIT, allowed_origins=allowed
        )
    assert internal_hits == [] and not dest.exists()
    # A redirect within the allowed origin is fine.
    n = await download_to_file(
        session, f"{outer}/here", dest, max_bytes=LIMIT, allowed_origins=allowed
    )
    assert n == len(fixture_bytes("tone.mp3"))
    # MusicGPT's outputs (no allowed_origins) still follow redirects wherever they lead.
    other = tmp_path / "out.mp3"
    assert await download_to_file(session, f"{outer}/away", other, max_bytes=LIMIT) == n
    assert internal_hits == ["/secret"]


def test_discord_cdn_and_the_configured_api_host_are_the_attachment_origins() -> None:
    settings = Settings("t", "k", discord_api_base="http://127.0.0.1:8766/api/v10")
    assert settings.attachment_origins == {
        ("https", "cdn.discordapp.com", 443),
        ("https", "media.discordapp.net", 443),
        ("http", "127.0.0.1", 8766),
    }


async def test_downloaded_files_are_private(
    server: Server, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    dest = tmp_path / "new" / "a.mp3"
    await download_to_file(session, server.url("/tone.mp3"), dest, max_bytes=LIMIT)
    assert dest.stat().st_mode & 0o777 == 0o600
    assert dest.parent.stat().st_mode & 0o777 == 0o700
    # Also when the file was there before with a looser mode.
    dest.chmod(0o644)
    await download_to_file(session, server.url("/tone.mp3"), dest, max_bytes=LIMIT)
    assert dest.stat().st_mode & 0o777 == 0o600


async def test_the_outputs_folder_is_made_private(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    folder = tmp_path / "outputs"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)  # as an older version left it
    OutputFetcher(session, folder)
    assert folder.stat().st_mode & 0o777 == 0o700
