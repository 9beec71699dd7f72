"""Tests for bot.media.inspect: content sniffing, durations, rejections and sizes.

The fixtures in tests/fixtures/audio are real (tiny) files made once with ffmpeg and
committed; nothing here needs ffmpeg. Damaged and odd variants are derived from them in
tmp_path so that every case is built from bytes a real encoder wrote.
"""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import mutagen
import pytest
from mutagen.flac import FLAC
from mutagen.id3 import ID3
from mutagen.id3 import error as ID3Error
from mutagen.mp3 import HeaderNotFoundError
from mutagen.mp4 import MP4, MP4Info
from mutagen.wave import WAVE, WaveStreamInfo

from bot.errors import AudioRejected, UserFacingError
from bot.media.inspect import AudioInfo, describe_size, inspect_audio, inspect_audio_async

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
        ("tone.ogg", 30),  # cut inside the first page: no whole identification packet
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


def test_inspect_module_does_not_import_discord() -> None:
    # bot.media.inspect is a service: it must stay usable (and testable) without discord.py.
    source = (Path(__file__).parents[2] / "bot" / "media" / "inspect.py").read_text()
    assert "import discord" not in source
    assert "from discord" not in source


# --------------------------------------------------------------------------------------------
# What mutagen gets wrong or doesn't offer. Each case is why a hand parser in
# bot.media.inspect exists; if one of these fails after a mutagen upgrade, that parser may be
# replaceable by mutagen's own API.


def test_mutagen_trusts_the_declared_wav_data_size(tmp_path: Path) -> None:
    data = bytearray(fixture_bytes("tone.wav"))
    at = _wav_data_offset(bytes(data))
    data[at + 4 : at + 8] = b"\xff\xff\xff\xff"
    piped = write(tmp_path, "piped.wav", bytes(data))
    cut = write(tmp_path, "cut.wav", fixture_bytes("tone.wav")[: at + 8 + 10_000])
    piped_info, cut_info = WAVE(piped).info, WAVE(cut).info
    assert isinstance(piped_info, WaveStreamInfo) and isinstance(cut_info, WaveStreamInfo)
    assert piped_info.length > 86_400  # days
    assert cut_info.length == pytest.approx(2.5)  # half of it is missing


def test_mutagen_reads_no_flac_frames(tmp_path: Path) -> None:
    data = fixture_bytes("tone.flac")
    frames = data.index(b"\xff\xf8")  # the first frame's sync code
    spoiled = write(tmp_path, "bad.flac", data[:frames] + b"\x00" * (len(data) - frames))
    assert FLAC(spoiled).info.length == pytest.approx(2.5)


def test_mutagen_reports_only_the_sound_track_of_a_video() -> None:
    info = MP4(FIXTURES / "clip.mp4").info
    assert isinstance(info, MP4Info)
    assert info.codec.startswith("mp4a")  # nothing says there is a video track too


def test_mutagen_takes_adts_behind_an_id3_tag_for_mp3(tmp_path: Path) -> None:
    path = write(tmp_path, "upload.bin", id3_tag() + fixture_bytes("tone.aac"))
    with pytest.raises(HeaderNotFoundError):
        mutagen.File(path)


def test_mutagen_id3_size_leaves_out_the_footer_and_refuses_unknown_flags() -> None:
    tag = bytearray(id3_tag())
    tag[5] |= 0x10  # footer present
    footer = b"3DI" + bytes(tag[3:10])
    assert ID3(io.BytesIO(bytes(tag) + footer)).size == len(tag)
    tag[5] |= 0x01  # a flag ID3v2.4 doesn't define
    with pytest.raises(ID3Error):
        ID3(io.BytesIO(bytes(tag) + footer))
