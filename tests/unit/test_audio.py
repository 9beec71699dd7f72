"""Tests for bot.audio: content sniffing, durations, rejections, downloads and URL checks.

The fixtures in tests/fixtures/audio are real (tiny) files made once with ffmpeg and
committed; nothing here needs ffmpeg. Damaged and odd variants are derived from them in
tmp_path so that every case is built from bytes a real encoder wrote.
"""

from __future__ import annotations

import asyncio
import random
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.audio import (
    AudioInfo,
    check_audio_url,
    describe_size,
    download_to_file,
    inspect_audio,
    inspect_audio_async,
)
from bot.errors import AudioRejected, UserFacingError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "audio"
LIMIT = 25 * 1024 * 1024
HINT = "Send MP3, WAV, FLAC, OGG or M4A."
DAMAGED = "I couldn't read that audio file; it may be damaged."


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def rejection(path: Path, *, max_bytes: int = LIMIT) -> str:
    with pytest.raises(AudioRejected) as info:
        inspect_audio(path, max_bytes=max_bytes)
    # The message is what the user sees: it must be the same on both attributes.
    assert info.value.user_message == str(info.value)
    return info.value.user_message


def id3_tag() -> bytes:
    """The ID3v2 tag at the head of tone.mp3, to glue in front of other streams."""
    data = fixture_bytes("tone.mp3")
    assert data[:3] == b"ID3"
    size = 0
    for b in data[6:10]:
        size = (size << 7) | b
    return data[: 10 + size]


# --------------------------------------------------------------------------------------------
# Accepted files


@pytest.mark.parametrize(
    ("name", "fmt", "mime", "seconds"),
    [
        ("tone.mp3", "mp3", "audio/mpeg", 2.5),
        # No ID3 tag, no Xing header, MPEG-2.5 frames (FF E3) that filetype doesn't know.
        ("tone_noid3.mp3", "mp3", "audio/mpeg", 2.5),
        ("tone.wav", "wav", "audio/wav", 2.5),
        ("tone.flac", "flac", "audio/flac", 2.5),
        ("tone.ogg", "ogg", "audio/ogg", 2.5),
        # Opus in Ogg: what a Discord voice message is.
        ("voice.ogg", "ogg", "audio/ogg", 2.5),
        ("tone.m4a", "m4a", "audio/mp4", 2.5),
        ("tone.aac", "aac", "audio/aac", 2.5),
        ("long30.mp3", "mp3", "audio/mpeg", 30.0),
    ],
)
def test_accepts_each_format(name: str, fmt: str, mime: str, seconds: float) -> None:
    path = FIXTURES / name
    info = inspect_audio(path, max_bytes=LIMIT)
    assert info == AudioInfo(
        format=fmt, mime=mime, size=path.stat().st_size, duration=info.duration
    )
    assert info.duration == pytest.approx(seconds, abs=0.25)


def test_fixtures_stay_small() -> None:
    for path in FIXTURES.iterdir():
        assert path.stat().st_size < 60 * 1024, path.name


def test_accepts_str_path() -> None:
    info = inspect_audio(str(FIXTURES / "tone.flac"), max_bytes=LIMIT)
    assert info.format == "flac"


def test_judges_by_content_not_name(tmp_path: Path) -> None:
    path = write(tmp_path, "song.wav", fixture_bytes("tone.mp3"))
    assert inspect_audio(path, max_bytes=LIMIT).format == "mp3"
    path = write(tmp_path, "song", fixture_bytes("tone.ogg"))
    assert inspect_audio(path, max_bytes=LIMIT).format == "ogg"


def test_flac_behind_an_id3_tag(tmp_path: Path) -> None:
    # filetype says "mp3" for anything starting with ID3; the stream behind it decides.
    path = write(tmp_path, "tagged.flac", id3_tag() + fixture_bytes("tone.flac"))
    info = inspect_audio(path, max_bytes=LIMIT)
    assert (info.format, info.mime) == ("flac", "audio/flac")
    assert info.duration == pytest.approx(2.5, abs=0.01)


def test_adts_behind_an_id3_tag(tmp_path: Path) -> None:
    path = write(tmp_path, "tagged.aac", id3_tag() + fixture_bytes("tone.aac"))
    info = inspect_audio(path, max_bytes=LIMIT)
    assert info.format == "aac"
    assert info.duration == pytest.approx(2.5, abs=0.3)


def test_m4a_with_a_generic_mp4_brand(tmp_path: Path) -> None:
    # Many encoders label audio-only files "isom"; filetype then calls them video/mp4.
    data = fixture_bytes("tone.m4a")
    assert data[8:12] == b"M4A "
    path = write(tmp_path, "audio.mp4", data[:8] + b"isom" + data[12:])
    info = inspect_audio(path, max_bytes=LIMIT)
    assert (info.format, info.mime) == ("m4a", "audio/mp4")
    assert info.duration == pytest.approx(2.5, abs=0.1)


def _wav_data_offset(data: bytes) -> int:
    offset = data.index(b"data")
    assert data[:4] == b"RIFF"
    return offset


def test_streamed_wav_with_unknown_sizes(tmp_path: Path) -> None:
    # A WAV written to a pipe can't go back to fill in its sizes and leaves 0xFFFFFFFF;
    # taken at face value that is six days of audio.
    data = bytearray(fixture_bytes("tone.wav"))
    data[4:8] = b"\xff\xff\xff\xff"
    at = _wav_data_offset(bytes(data))
    data[at + 4 : at + 8] = b"\xff\xff\xff\xff"
    path = write(tmp_path, "piped.wav", bytes(data))
    assert inspect_audio(path, max_bytes=LIMIT).duration == pytest.approx(2.5, abs=0.01)


def test_truncated_wav_counts_only_what_is_there(tmp_path: Path) -> None:
    data = fixture_bytes("tone.wav")
    at = _wav_data_offset(data)
    half = 10_000  # 8 kHz, 8-bit mono: 8000 bytes a second
    path = write(tmp_path, "cut.wav", data[: at + 8 + half])
    assert inspect_audio(path, max_bytes=LIMIT).duration == pytest.approx(1.25, abs=0.01)


def test_flac_of_unknown_length(tmp_path: Path) -> None:
    # total_samples 0 in STREAMINFO means "not known" (a live encode), not "0 seconds".
    data = bytearray(fixture_bytes("tone.flac"))
    assert data[:4] == b"fLaC"
    streaminfo = 8  # "fLaC" + the 4-byte block header
    # total_samples: the low 36 bits of bytes 10..17 of STREAMINFO.
    data[streaminfo + 13] &= 0xF0
    data[streaminfo + 14 : streaminfo + 18] = b"\x00\x00\x00\x00"
    path = write(tmp_path, "stream.flac", bytes(data))
    info = inspect_audio(path, max_bytes=LIMIT)
    assert info.format == "flac"
    assert info.duration is None


async def test_inspect_audio_async() -> None:
    info = await inspect_audio_async(FIXTURES / "tone.ogg", max_bytes=LIMIT)
    assert info.format == "ogg"
    with pytest.raises(AudioRejected, match="PNG image"):
        await inspect_audio_async(FIXTURES / "image.png", max_bytes=LIMIT)


# --------------------------------------------------------------------------------------------
# Rejected files


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("image.png", f"That file is a PNG image, not audio. {HINT}"),
        ("fake.mp3", f"That file is text, not audio. {HINT}"),
        ("document.pdf", f"That file is a PDF document, not audio. {HINT}"),
        ("archive.zip", f"That file is a ZIP archive, not audio. {HINT}"),
        ("clip.mp4", f"That file is an MP4 video, not audio. {HINT}"),
        ("tone_mp2.mp3", f"That file is MPEG layer 2 audio, not MP3. {HINT}"),
    ],
)
def test_rejects_fixture(name: str, message: str) -> None:
    assert rejection(FIXTURES / name) == message


def test_rejection_is_an_audio_rejected_user_facing_error() -> None:
    with pytest.raises(UserFacingError):
        inspect_audio(FIXTURES / "image.png", max_bytes=LIMIT)


def test_renamed_image_is_still_an_image(tmp_path: Path) -> None:
    path = write(tmp_path, "song.mp3", fixture_bytes("image.png"))
    assert rejection(path) == f"That file is a PNG image, not audio. {HINT}"


def test_random_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, "noise.mp3", random.Random(7).randbytes(20_000))
    assert rejection(path) == f"That file doesn't look like audio. {HINT}"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"FORM\x00\x00\x10\x00AIFFCOMM", f"That file is AIFF audio, which I can't send. {HINT}"),
        (b"MThd\x00\x00\x00\x06\x00\x01", f"That file is a MIDI file, which I can't send. {HINT}"),
        (b"GIF89a\x01\x00\x01\x00", f"That file is a GIF image, not audio. {HINT}"),
    ],
)
def test_rejects_other_known_kinds(tmp_path: Path, header: bytes, message: str) -> None:
    path = write(tmp_path, "upload.mp3", header + b"\x00" * 200)
    assert rejection(path) == message


def test_empty_file(tmp_path: Path) -> None:
    assert rejection(write(tmp_path, "empty.mp3", b"")) == "That file is empty."


def test_too_big_by_size_alone(tmp_path: Path) -> None:
    # A sparse file: the size check must come before anything reads it.
    path = tmp_path / "huge.wav"
    with path.open("wb") as f:
        f.truncate(int(31.2 * 1024 * 1024))
    assert rejection(path) == "That file is 31.2 MB; the limit is 25 MB."


def test_too_big_real_fixture() -> None:
    path = FIXTURES / "tone.wav"  # 20,078 bytes
    assert rejection(path, max_bytes=10_000) == "That file is 19.7 KB; the limit is 9.8 KB."
    # Exactly at the limit is fine.
    assert inspect_audio(path, max_bytes=path.stat().st_size).format == "wav"


def test_one_byte_over_the_limit_never_reads_as_equal(tmp_path: Path) -> None:
    path = tmp_path / "edge.mp3"
    with path.open("wb") as f:
        f.truncate(LIMIT + 1)
    assert rejection(path) == "That file is 25.1 MB; the limit is 25 MB."


def test_mp3_tag_followed_by_garbage(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.mp3", id3_tag() + random.Random(3).randbytes(30_000))
    assert rejection(path) == DAMAGED


def test_mp3_tag_with_nothing_behind_it(tmp_path: Path) -> None:
    assert rejection(write(tmp_path, "tag_only.mp3", id3_tag())) == DAMAGED


def test_mp3_frames_overwritten_with_garbage(tmp_path: Path) -> None:
    data = fixture_bytes("tone.mp3")
    tag = id3_tag()
    garbage = random.Random(5).randbytes(len(data) - len(tag))
    assert rejection(write(tmp_path, "bad.mp3", tag + garbage)) == DAMAGED


@pytest.mark.parametrize(
    ("name", "keep"),
    [
        ("tone.ogg", 3000),  # headers cut off mid-packet
        ("tone.m4a", 3000),  # moov comes last in this file: cut away
        ("tone.flac", 4000),  # metadata blocks cut off
        ("tone.flac", 100),
        ("tone.wav", 30),  # RIFF header without a whole fmt chunk
        ("tone.aac", 200),  # fewer ADTS frames than a stream needs
    ],
)
def test_truncated_files_are_damaged(tmp_path: Path, name: str, keep: int) -> None:
    path = write(tmp_path, name, fixture_bytes(name)[:keep])
    assert rejection(path) == DAMAGED


def test_flac_metadata_then_garbage(tmp_path: Path) -> None:
    data = fixture_bytes("tone.flac")
    # Walk the metadata blocks to where the audio frames start, then spoil the frames.
    offset = 4
    while True:
        is_last = data[offset] & 0x80
        offset += 4 + int.from_bytes(data[offset + 1 : offset + 4], "big")
        if is_last:
            break
    assert data[offset] == 0xFF
    spoiled = data[:offset] + b"\x00" * (len(data) - offset)
    assert rejection(write(tmp_path, "bad.flac", spoiled)) == DAMAGED


def test_wav_without_samples(tmp_path: Path) -> None:
    data = fixture_bytes("tone.wav")
    at = _wav_data_offset(data)
    header = bytearray(data[: at + 8])
    header[at + 4 : at + 8] = b"\x00\x00\x00\x00"
    header[4:8] = struct.pack("<I", len(header) - 8)
    assert rejection(write(tmp_path, "silent.wav", bytes(header))) == (
        "That audio file is 0 seconds long."
    )


def test_ogg_with_a_codec_we_dont_send(tmp_path: Path) -> None:
    data = fixture_bytes("voice.ogg")
    assert b"OpusHead" in data[:100]
    path = write(tmp_path, "odd.ogg", data.replace(b"OpusHead", b"XpusHead", 1))
    assert rejection(path) == (
        f"That OGG file doesn't hold Vorbis, Opus or FLAC audio, so I can't send it. {HINT}"
    )


def test_ogg_video(tmp_path: Path) -> None:
    # A first page whose only packet is a Theora identification header.
    packet = b"\x80theora" + b"\x00" * 34
    page = (
        b"OggS\x00\x02"
        + b"\x00" * 8  # granule position
        + b"\x01\x00\x00\x00"  # serial
        + b"\x00" * 4  # sequence
        + b"\x00" * 4  # CRC (not checked: we reject before any parser looks)
        + bytes([1, len(packet)])
        + packet
    )
    path = write(tmp_path, "video.ogg", page + fixture_bytes("tone.ogg"))
    assert rejection(path) == f"That file is an OGG video, not audio. {HINT}"


def test_missing_file_is_not_the_users_fault(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        inspect_audio(tmp_path / "nope.mp3", max_bytes=LIMIT)


# --------------------------------------------------------------------------------------------
# Sizes and URLs


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (1023, "1023 bytes"),
        (1024, "1 KB"),
        (1536, "1.5 KB"),
        (150 * 1024, "150 KB"),
        (1024 * 1024 - 1, "1 MB"),
        (8 * 1024 * 1024, "8 MB"),
        (25 * 1024 * 1024, "25 MB"),
        (int(31.2 * 1024 * 1024), "31.2 MB"),
        (500 * 1024 * 1024, "500 MB"),
        (3 * 1024**3, "3 GB"),
    ],
)
def test_describe_size(n: int, text: str) -> None:
    assert describe_size(n) == text


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
    assert info.value.user_message == "audio_url must be an http(s) link"


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
        ("/missing", "Couldn't download the attachment: HTTP 404 Not Found."),
        ("/error", "Couldn't download the attachment: HTTP 503 Service Unavailable."),
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
        "Couldn't download the attachment: the connection was cut off."
    )
    assert not dest.exists()


async def test_download_timeout(
    server: Server, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    dest = tmp_path / "upload.bin"
    with pytest.raises(AudioRejected) as info:
        await download_to_file(session, server.url("/slow"), dest, max_bytes=LIMIT)
    assert info.value.user_message == "Couldn't download the attachment: it timed out."
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
        "Couldn't download the attachment: couldn't connect to the server."
    )
    assert not dest.exists()


async def test_download_invalid_url(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    dest = tmp_path / "upload.bin"
    with pytest.raises(AudioRejected, match=r"^Couldn't download the attachment: "):
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


def test_audio_module_does_not_import_discord() -> None:
    # bot.audio is a service: it must stay usable (and testable) without discord.py.
    source = (Path(__file__).parents[2] / "bot" / "audio.py").read_text()
    assert "import discord" not in source
    assert "from discord" not in source
