"""Tests for bot.core.media.inspect (and the probe and converter it runs in the worker).

The files are encoded in-process with PyAV (`tests/support/media.py`, the `media` fixture);
damaged and hostile variants are derived from those bytes here. The committed fixtures in
tests/fixtures/audio, which the e2e tests upload, are checked too.
"""

from __future__ import annotations

import random
import shutil
import struct
from pathlib import Path

import av
import pytest

from bot.core.errors import AudioRejected, UserFacingError
from bot.core.media.inspect import AudioInfo, describe_size, inspect_audio_async
from bot.core.media.worker import MediaWorker
from tests.support.media import (
    Fixtures,
    decoded_seconds,
    mp4_boxes,
    patch_wav_fmt,
    wav_chunks,
)

FIXTURES = Path(__file__).parents[3] / "fixtures" / "audio"
LIMIT = 25 * 1024 * 1024
HINT = "Send an audio file (MP3, WAV, FLAC, OGG, M4A and most others)."
# Every accepted file's length is within this of what a full decode gives (issue 9).
TOLERANCE = 0.5


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def copy(tmp_path: Path, source: Path, name: str | None = None) -> Path:
    """A copy to check: a converted file is written beside its source."""
    return Path(shutil.copy(source, tmp_path / (name or source.name)))


async def check(worker: MediaWorker, path: Path, *, max_bytes: int = LIMIT) -> AudioInfo:
    return await inspect_audio_async(path, max_bytes=max_bytes, member=1, worker=worker)


async def rejection(worker: MediaWorker, path: Path, *, max_bytes: int = LIMIT) -> str:
    with pytest.raises(AudioRejected) as info:
        await check(worker, path, max_bytes=max_bytes)
    # The message is what the user sees: it must be the same on both attributes.
    assert info.value.user_message == str(info.value)
    return info.value.user_message


# --------------------------------------------------------------------------------------------
# Accepted as they are


@pytest.mark.parametrize(
    ("name", "fmt", "mime"),
    [
        ("mp3", "mp3", "audio/mpeg"),
        ("flac", "flac", "audio/flac"),
        ("vorbis.ogg", "ogg", "audio/ogg"),
        ("opus.ogg", "ogg", "audio/ogg"),
        ("aac.m4a", "m4a", "audio/mp4"),
        ("alac.m4a", "m4a", "audio/mp4"),
        ("faststart.m4a", "m4a", "audio/mp4"),
        ("adts.aac", "aac", "audio/aac"),
        ("s16.wav", "wav", "audio/wav"),
        ("s24.wav", "wav", "audio/wav"),
        ("f32.wav", "wav", "audio/wav"),
    ],
)
async def test_sent_as_is(
    worker: MediaWorker, media: Fixtures, tmp_path: Path, name: str, fmt: str, mime: str
) -> None:
    path = copy(tmp_path, media(name, 6.0))
    info = await check(worker, path)
    assert (info.format, info.mime, info.path) == (fmt, mime, path)
    assert info.size == path.stat().st_size
    assert info.duration == pytest.approx(decoded_seconds(path), abs=TOLERANCE)
    assert info.duration == pytest.approx(6.0, abs=TOLERANCE)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # nothing written


@pytest.mark.parametrize(
    ("name", "fmt", "seconds"),
    [
        ("tone.mp3", "mp3", 2.5),
        # No ID3 tag, no Xing header, MPEG-2.5 frames (FF E3).
        ("tone_noid3.mp3", "mp3", 2.5),
        ("tone.wav", "wav", 2.5),
        ("tone.flac", "flac", 2.5),
        ("tone.ogg", "ogg", 2.5),
        ("voice.ogg", "ogg", 2.5),  # Opus in Ogg: what a Discord voice message is
        ("tone.m4a", "m4a", 2.5),
        ("tone.aac", "aac", 2.5),
        ("long30.mp3", "mp3", 30.0),
    ],
)
async def test_committed_fixtures_still_pass(
    worker: MediaWorker, tmp_path: Path, name: str, fmt: str, seconds: float
) -> None:
    # The e2e tests upload these; they must keep passing as they are.
    path = copy(tmp_path, FIXTURES / name)
    info = await check(worker, path)
    assert (info.format, info.path) == (fmt, path)
    assert info.duration == pytest.approx(seconds, abs=0.25)
    assert info.duration == pytest.approx(decoded_seconds(path), abs=TOLERANCE)


async def test_judges_by_content_not_name(
    worker: MediaWorker, media: Fixtures, tmp_path: Path
) -> None:
    path = copy(tmp_path, media("mp3"), "song.wav")
    assert (await check(worker, path)).format == "mp3"
    path = copy(tmp_path, media("opus.ogg"), "song")
    assert (await check(worker, path)).format == "ogg"


# --------------------------------------------------------------------------------------------
# Converted to FLAC (issue 9: "Real files refused or mismeasured", "Texts")


@pytest.mark.parametrize(
    "name",
    [
        "aiff",
        "wma",  # was called "a WMV video"
        "caf",
        "ac3",
        "wv",  # WavPack
        "tta",
        "dsf",  # DSD: decoded at 352.8 kHz, converted at 96 kHz
        "mka",  # was called "an MKV video"
        "webm",  # audio-only WebM: was called "a WebM video"
        "ima.wav",  # compressed WAVs were measured ~1000x too short
        "msadpcm.wav",
        "mp3in.wav",
        "rf64.wav",  # was refused
        "s24be.wav",  # big-endian 24-bit ("RIFX"): was refused
        "mp2",  # MPEG layer 2 named .mp3
        "fmp4.m4a",  # fragmented MP4 (MediaRecorder, streaming ffmpeg): was "0 seconds long"
        "video.mp4",  # a video's sound track
    ],
)
async def test_converted_to_flac(
    worker: MediaWorker, media: Fixtures, tmp_path: Path, name: str
) -> None:
    path = copy(tmp_path, media(name, 6.0), f"upload.{name.rsplit('.', 1)[-1]}")
    info = await check(worker, path)
    assert (info.format, info.mime) == ("flac", "audio/flac")
    assert info.path == tmp_path / "upload.flac" and info.path.exists()
    assert info.size == info.path.stat().st_size
    with av.open(str(info.path)) as flac:
        assert flac.format.name == "flac"
        assert [s.type for s in flac.streams] == ["audio"]
    assert info.duration == pytest.approx(decoded_seconds(info.path), abs=TOLERANCE)
    assert info.duration == pytest.approx(decoded_seconds(path), abs=TOLERANCE)
    assert info.duration == pytest.approx(6.0, abs=TOLERANCE)
    # The FLAC itself passes as it is.
    again = await check(worker, info.path)
    assert (again.format, again.path) == ("flac", info.path)


async def test_compressed_wav_measured_by_its_samples(
    worker: MediaWorker, media: Fixtures, tmp_path: Path
) -> None:
    # Block-compressed WAVs: the old check divided the data size by the block size and got
    # 0.02 s for a minute, so every /inpaint range was "past the end".
    path = copy(tmp_path, media("ima.wav", 60.0))
    assert (await check(worker, path)).duration == pytest.approx(60.0, abs=TOLERANCE)


async def test_converted_flac_over_the_limit(
    worker: MediaWorker, media: Fixtures, tmp_path: Path
) -> None:
    source = media("wma", 20.0)
    path = copy(tmp_path, source)
    limit = source.stat().st_size + 1000  # the WMA fits; its FLAC (about 5x) doesn't
    message = await rejection(worker, path, max_bytes=limit)
    assert message.startswith("That audio has to be converted to FLAC for MusicGPT")
    assert f"over the {describe_size(limit)} limit" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no FLAC left


# --------------------------------------------------------------------------------------------
# Truncated and damaged files: the length is what decodes, not what the header says


@pytest.mark.parametrize("name", ["mp3", "flac", "faststart.m4a", "adts.aac", "opus.ogg"])
async def test_truncated_file_gets_its_real_length(
    worker: MediaWorker, media: Fixtures, tmp_path: Path, name: str
) -> None:
    # Headers (Xing, STREAMINFO, a moov before the data) still claim 60 s; 20 s are there.
    data = media.bytes(name, 60.0)
    path = write(tmp_path, f"cut.{name.rsplit('.', 1)[-1]}", data[: len(data) // 3])
    info = await check(worker, path)
    real = decoded_seconds(path)
    assert 15 < real < 25
    assert info.duration == pytest.approx(real, abs=TOLERANCE)


async def test_header_claims_are_not_believed(
    worker: MediaWorker, media: Fixtures, tmp_path: Path
) -> None:
    # What the old check trusted: FFmpeg's own header-based estimate says 60 s.
    data = media.bytes("mp3", 60.0)
    path = write(tmp_path, "cut.mp3", data[: len(data) // 3])
    with av.open(str(path)) as container:
        assert container.duration is not None and container.duration / 1e6 > 50
    assert (await check(worker, path)).duration < 25


async def test_damaged_midway_says_where(
    worker: MediaWorker, media: Fixtures, tmp_path: Path
) -> None:
    # An M4A whose index is whole but whose audio after ~12 s is noise: it opens, and plays
    # until there.
    data = media.bytes("faststart.m4a", 20.0)
    cut = len(data) * 6 // 10
    path = write(tmp_path, "bad.m4a", data[:cut] + random.Random(1).randbytes(len(data) - cut))
    message = await rejection(worker, path)
    assert message.startswith("That audio file is damaged after 0:1")
    seconds = int(message.removesuffix(".").rsplit(":", 1)[1])
    assert abs(seconds - decoded_seconds(path)) <= 2


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tag": 0}, f"That file's audio is in a format no decoder plays. {HINT}"),
        ({"bits": 36, "align": 5}, f"That file's audio is in a format no decoder plays. {HINT}"),
        (
            # 1 Hz: the old check accepted 4,410,000 s of audio.
            {"rate": 1, "byte_rate": 2},
            "That file says its audio plays at 1 Hz, which no player can; it may be damaged.",
        ),
    ],
)
async def test_wavs_no_decoder_plays(
    worker: MediaWorker, media: Fixtures, tmp_path: Path, fields: dict[str, int], message: str
) -> None:
    path = write(tmp_path, "odd.wav", patch_wav_fmt(media.bytes("s16.wav"), **fields))
    assert await rejection(worker, path) == message


async def test_wav_without_samples(worker: MediaWorker, media: Fixtures, tmp_path: Path) -> None:
    data = media.bytes("s16.wav")
    [(_, at, _)] = [c for c in wav_chunks(data) if c[0] == b"data"]
    header = bytearray(data[:at])
    header[at - 4 : at] = b"\x00\x00\x00\x00"
    header[4:8] = struct.pack("<I", len(header) - 8)
    assert await rejection(worker, write(tmp_path, "silent.wav", bytes(header))) == (
        "That audio file is 0 seconds long."
    )


@pytest.mark.parametrize(("name", "keep"), [("aac.m4a", 0.5), ("flac", 0.001), ("wma", 0.002)])
async def test_cut_before_any_audio(
    worker: MediaWorker, media: Fixtures, tmp_path: Path, name: str, keep: float
) -> None:
    # aac.m4a keeps its moov at the end: cut in half, nothing says what the samples are.
    data = media.bytes(name, 6.0)
    path = write(tmp_path, f"cut.{name.rsplit('.', 1)[-1]}", data[: max(40, int(len(data) * keep))])
    message = await rejection(worker, path)
    assert "damaged" in message or "0 seconds" in message, message
    assert "video" not in message


# --------------------------------------------------------------------------------------------
# Refusals name what the file is


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("image.png", f"That file is a PNG image, not audio. {HINT}"),
        ("fake.mp3", f"That file is text, not audio. {HINT}"),
        ("document.pdf", f"That file is a PDF document, not audio. {HINT}"),
        ("archive.zip", f"That file is a ZIP archive, not audio. {HINT}"),
    ],
)
async def test_refuses_committed_fixture(
    worker: MediaWorker, tmp_path: Path, name: str, message: str
) -> None:
    assert await rejection(worker, copy(tmp_path, FIXTURES / name)) == message


async def test_video_without_sound(worker: MediaWorker, media: Fixtures, tmp_path: Path) -> None:
    path = copy(tmp_path, media("video-only.mp4"))
    assert await rejection(worker, path) == f"That file is a video with no audio track. {HINT}"


async def test_committed_video_clip_gives_its_sound(worker: MediaWorker, tmp_path: Path) -> None:
    info = await check(worker, copy(tmp_path, FIXTURES / "clip.mp4"))
    assert info.format == "flac" and info.duration == pytest.approx(1.0, abs=TOLERANCE)


async def test_renamed_image_is_still_an_image(worker: MediaWorker, tmp_path: Path) -> None:
    path = copy(tmp_path, FIXTURES / "image.png", "song.mp3")
    assert await rejection(worker, path) == f"That file is a PNG image, not audio. {HINT}"


async def test_random_bytes(worker: MediaWorker, tmp_path: Path) -> None:
    path = write(tmp_path, "noise.mp3", random.Random(7).randbytes(20_000))
    assert await rejection(worker, path) == f"That file doesn't look like audio. {HINT}"


@pytest.mark.parametrize("name", ["wma", "webm", "mka"])
async def test_damaged_audio_containers_are_not_called_videos(
    worker: MediaWorker, media: Fixtures, tmp_path: Path, name: str
) -> None:
    # The header survives, the rest is zeros: still "audio", never "a WebM video".
    data = media.bytes(name)
    path = write(tmp_path, f"x.{name}", data[:64] + bytes(len(data) - 64))
    message = await rejection(worker, path)
    assert "video" not in message, message


async def test_rejection_is_a_user_facing_error(worker: MediaWorker, tmp_path: Path) -> None:
    with pytest.raises(UserFacingError):
        await check(worker, copy(tmp_path, FIXTURES / "image.png"))


async def test_empty_file(worker: MediaWorker, tmp_path: Path) -> None:
    assert await rejection(worker, write(tmp_path, "empty.mp3", b"")) == "That file is empty."


async def test_too_big_by_size_alone(worker: MediaWorker, tmp_path: Path) -> None:
    # A sparse file: the size check comes before any process reads it.
    path = tmp_path / "huge.wav"
    with path.open("wb") as f:
        f.truncate(int(31.2 * 1024 * 1024))
    assert await rejection(worker, path) == "That file is 31.2 MB; the limit is 25 MB."


async def test_limits_are_exact(worker: MediaWorker, tmp_path: Path) -> None:
    path = copy(tmp_path, FIXTURES / "tone.wav")  # 20,078 bytes
    assert await rejection(worker, path, max_bytes=10_000) == (
        "That file is 19.7 KB; the limit is 9.8 KB."
    )
    assert (await check(worker, path, max_bytes=path.stat().st_size)).format == "wav"
    edge = tmp_path / "edge.mp3"
    with edge.open("wb") as f:
        f.truncate(LIMIT + 1)
    assert await rejection(worker, edge) == "That file is 25.1 MB; the limit is 25 MB."


async def test_missing_file_is_not_the_users_fault(worker: MediaWorker, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await check(worker, tmp_path / "nope.mp3")


async def test_fragmented_mp4_is_told_apart(media: Fixtures) -> None:
    # What the converter decision rests on: the fixture really is fragmented, the other not.
    assert b"moof" in {kind for kind, _, _ in mp4_boxes(media.bytes("fmp4.m4a"))}
    assert b"moof" not in {kind for kind, _, _ in mp4_boxes(media.bytes("aac.m4a"))}


# --------------------------------------------------------------------------------------------
# Sizes


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
