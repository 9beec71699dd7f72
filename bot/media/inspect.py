"""Check that an uploaded file really is audio we can send, and how long it is.

Everything here judges a file by its *content*: a text file renamed to `song.mp3` is still text,
and an MP3 saved as `song.wav` is still an MP3. `filetype` sniffs the first bytes; `mutagen`
then parses the stream headers, which both confirms the sniff and gives the duration.

Parsing is synchronous (mutagen does blocking file I/O); `inspect_audio_async` keeps that work
off the event loop. Nothing here knows about Discord.
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, TypeVar

import filetype
from mutagen import FileType, StreamInfo
from mutagen.aac import AAC, AACInfo
from mutagen.flac import FLAC
from mutagen.mp3 import MPEGInfo
from mutagen.mp4 import MP4, MP4Info
from mutagen.ogg import OggFileType, OggPage
from mutagen.oggflac import OggFLAC, OggFLACStreamInfo
from mutagen.oggopus import OggOpus, OggOpusInfo
from mutagen.oggvorbis import OggVorbis, OggVorbisInfo
from mutagen.wave import WAVE, WaveStreamInfo

from bot.errors import AudioRejected

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_I = TypeVar("_I", bound=StreamInfo)

__all__ = [
    "ACCEPTED_FORMATS",
    "AudioInfo",
    "describe_size",
    "inspect_audio",
    "inspect_audio_async",
    "too_big",
]

ACCEPTED_FORMATS: Final = "MP3, WAV, FLAC, OGG or M4A"
_SEND_HINT: Final = f"Send {ACCEPTED_FORMATS}."
_DAMAGED: Final = "I couldn't read that audio file; it may be damaged."
_EMPTY: Final = "That file is empty."

# filetype itself looks at no more than the first 8 KiB.
_SNIFF_BYTES: Final = 8192
# An MP3 without an ID3 tag is only recognised by its frames; the first one must start this
# close to the beginning, so that a random binary file with a chance frame sync deep inside
# is not taken for audio.
_MAX_MP3_JUNK: Final = 4096
# A moov box holds the index of the whole file: a few KB for a song. Anything this large is
# not a song we can send (and we refuse to read it into memory).
_MAX_MOOV_BYTES: Final = 16 * 1024 * 1024

# MP4 sample-entry codecs we pass on: AAC (and anything else carried as `mp4a`) and Apple
# Lossless, which is what people actually have in .m4a files.
_MP4_AUDIO_CODECS: Final = ("mp4a", "alac")
# filetype names these ISO-BMFF / QuickTime containers; all are checked track by track.
_MP4_KINDS: Final = frozenset({"m4a", "mp4", "m4v", "mov", "3gp"})

_MIME: Final = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
}

# How to name what a rejected file is, by filetype's extension. Anything not listed is named
# from its MIME type (see `_describe_kind`).
_KIND_NAMES: Final = {
    "jpg": "a JPEG image",
    "png": "a PNG image",
    "apng": "a PNG image",
    "gif": "a GIF image",
    "webp": "a WebP image",
    "heic": "a HEIC image",
    "avif": "an AVIF image",
    "ico": "an icon",
    "psd": "a Photoshop file",
    "pdf": "a PDF document",
    "zip": "a ZIP archive",
    "rar": "a RAR archive",
    "7z": "a 7-Zip archive",
    "gz": "a gzip archive",
    "tar": "a TAR archive",
    "exe": "a Windows program",
    "elf": "a program",
    "doc": "a Word document",
    "docx": "a Word document",
    "odt": "a text document",
    "xls": "a spreadsheet",
    "xlsx": "a spreadsheet",
    "ods": "a spreadsheet",
    "ppt": "a presentation",
    "pptx": "a presentation",
    "odp": "a presentation",
    "epub": "an e-book",
    "sqlite": "a database",
    "mkv": "an MKV video",
    "webm": "a WebM video",
    "avi": "an AVI video",
    "wmv": "a WMV video",
    "flv": "an FLV video",
    "mpg": "an MPEG video",
    "midi": "a MIDI file",
    "aiff": "AIFF audio",
    "amr": "AMR audio",
}


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What `inspect_audio` found out about an accepted file."""

    format: str  # "mp3" | "wav" | "flac" | "ogg" | "m4a" | "aac"
    mime: str
    size: int  # bytes
    duration: float | None  # seconds; None when the container doesn't say


class _Unreadable(Exception):
    """Internal: the file claims a format but its structure doesn't hold up."""


# --------------------------------------------------------------------------------------------
# Sizes


def describe_size(n: int) -> str:
    """A size for people: "812 bytes", "48.5 KB", "25 MB".

    Units are binary (1 MB = 1024 * 1024 bytes) but labelled KB/MB, as Discord does, so the
    limits we print match the ones users see in the Discord client.
    """
    return _describe_size(n)


def _describe_size(n: int, *, round_up: bool = False) -> str:
    # round_up is for the size of a rejected file, so that a file one byte over a 25 MB limit
    # reads "25.1 MB", never "25 MB; the limit is 25 MB".
    if n < 1024:
        return "1 byte" if n == 1 else f"{n} bytes"
    value = n / 1024
    unit = "KB"
    for bigger in ("MB", "GB", "TB"):
        # Move up a unit before the number would print as "1024 KB".
        if value < 1023.95:
            break
        value /= 1024
        unit = bigger
    if value >= 100:
        shown = str(math.ceil(value) if round_up else round(value))
    else:
        tenths = math.ceil(value * 10) if round_up else round(value * 10)
        shown = f"{tenths / 10:.1f}".removesuffix(".0")
    return f"{shown} {unit}"


def too_big(size: int, max_bytes: int) -> AudioRejected:
    """The refusal for a file of `size` bytes over a `max_bytes` limit (for the caller to raise)."""
    return AudioRejected(
        f"That file is {_describe_size(size, round_up=True)}; "
        f"the limit is {describe_size(max_bytes)}."
    )


# --------------------------------------------------------------------------------------------
# Inspecting a file


def inspect_audio(path: str | Path, *, max_bytes: int) -> AudioInfo:
    """Check that the file at `path` is audio we accept, and read its duration.

    Raises AudioRejected with a short message for the user when it isn't. An OSError (the
    file is missing or unreadable) is our problem, not the user's, and is left to propagate.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise AudioRejected(_EMPTY)
    if size > max_bytes:
        raise too_big(size, max_bytes)

    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
        audio_offset = _skip_id3(f)
        if audio_offset:
            f.seek(audio_offset)
            payload = f.read(_SNIFF_BYTES)
        else:
            payload = head

    fmt = _classify(head, payload, audio_offset)
    if fmt is None:
        # Nothing recognised it. An MP3 with no ID3 tag and a frame header filetype doesn't
        # know (MPEG-2.5, or CRC-protected) has nothing but its frames to go by: let mutagen
        # look for a run of valid frames right at the start before giving up.
        try:
            return _read_mp3(path, size, audio_offset, strict=True)
        except _Unreadable:
            pass
        if _looks_like_text(head):
            raise AudioRejected(f"That file is text, not audio. {_SEND_HINT}")
        raise AudioRejected(f"That file doesn't look like audio. {_SEND_HINT}")

    try:
        return _READERS[fmt](path, size, audio_offset)
    except _Unreadable as exc:
        log.debug("unreadable %s file %s: %s", fmt, path, exc)
        raise AudioRejected(_DAMAGED) from None


async def inspect_audio_async(path: str | Path, *, max_bytes: int) -> AudioInfo:
    """`inspect_audio` in a worker thread: mutagen's reads would otherwise block the loop."""
    return await asyncio.to_thread(inspect_audio, path, max_bytes=max_bytes)


def _skip_id3(f: BinaryIO) -> int:
    """Offset of the first byte after any ID3v2 tags at the start of the file (0 if none).

    Some taggers stack several tags, and an ID3 tag can also precede FLAC or ADTS AAC, so we
    look past it to see what the audio really is instead of trusting "ID3" to mean MP3.

    By hand because mutagen has no public "where does the audio start": `mutagen.id3.ID3`
    reads the whole tag into memory and parses every frame (cover art included) only to
    report its `size`, which leaves out a footer (the footer flag is private), and it refuses
    tags whose version or flags it doesn't know, which would send us back to guessing from
    "ID3". MPEGInfo skips tags on its own, but that only helps once we know it is MP3.
    """
    offset = 0
    for _ in range(8):  # a handful of stacked tags at most; don't loop on a crafted file
        f.seek(offset)
        header = f.read(10)
        if len(header) < 10 or header[:3] != b"ID3":
            break
        size_bytes = header[6:10]
        if any(b & 0x80 for b in size_bytes):
            break  # not a valid (synchsafe) size: not a real tag
        tag_size = 0
        for b in size_bytes:
            tag_size = (tag_size << 7) | b
        has_footer = bool(header[5] & 0x10)
        offset += 10 + tag_size + (10 if has_footer else 0)
    return offset


def _is_adts(buf: bytes) -> bool:
    # By hand: mutagen can't sniff this. Its own format guess (mutagen.File) takes anything
    # starting with "ID3" for MP3 and recognises ADTS only by a .aac/.adts file name.
    # 12-bit sync, then the layer bits, which are always 00 in ADTS (MP3 frames have 01).
    return len(buf) >= 2 and buf[0] == 0xFF and (buf[1] & 0xF6) == 0xF0


def _classify(head: bytes, payload: bytes, audio_offset: int) -> str | None:
    """Which reader to use, from the first bytes; None if nothing recognised them.

    Raises AudioRejected for files that are recognisably something else.
    """
    if audio_offset:
        # An ID3 tag: filetype always says MP3 for these, so judge by what follows the tag.
        if payload.startswith(b"fLaC"):
            return "flac"
        if _is_adts(payload):
            return "aac"
        return "mp3"

    kind = filetype.guess(head)
    if kind is None:
        return None
    ext = kind.extension
    if ext in ("mp3", "wav", "flac", "ogg", "aac"):
        return ext
    if ext in _MP4_KINDS:
        # filetype calls an .m4a "video/mp4" when its brand is isom/mp42 and vice versa;
        # only the track list can tell audio from video.
        return "m4a"
    name = _describe_kind(ext, kind.mime)
    if kind.mime.startswith("audio/"):
        raise AudioRejected(f"That file is {name}, which I can't send. {_SEND_HINT}")
    raise AudioRejected(f"That file is {name}, not audio. {_SEND_HINT}")


def _describe_kind(ext: str, mime: str) -> str:
    if ext in _KIND_NAMES:
        return _KIND_NAMES[ext]
    label = ext.upper()
    # The article follows how the letters are read out: "an SVG", "a PNG".
    article = "an" if label[:1] in set("AEFHILMNORSX8") else "a"
    if mime.startswith("image/"):
        return f"{article} {label} image"
    if mime.startswith("video/"):
        return f"{article} {label} video"
    if mime.startswith("font/") or mime.startswith("application/font"):
        return "a font"
    return f"{article} {label} file"


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The sniff window may cut a multi-byte character in half at its end.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def _clean_duration(seconds: float | None) -> float | None:
    """A usable duration, None if the container gave nonsense; rejects a zero-length stream."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    if seconds == 0:
        raise AudioRejected("That audio file is 0 seconds long.")
    return float(seconds)


def _info(fmt: str, size: int, duration: float | None) -> AudioInfo:
    return AudioInfo(format=fmt, mime=_MIME[fmt], size=size, duration=_clean_duration(duration))


def _stream_info(loaded: FileType, kind: type[_I]) -> _I:
    """`loaded.info`, checked to be the `kind` of StreamInfo its format always sets.

    mutagen declares `FileType.info` as None (load() fills it in), so its type says nothing.
    """
    info: object = loaded.info
    if not isinstance(info, kind):
        raise _Unreadable(f"no {kind.__name__}")
    return info


def _load(loader: Callable[[], _T]) -> _T:
    # mutagen raises its own errors for malformed files, but on hostile input its parsers can
    # also fail with struct.error, IndexError, ValueError... Any failure to parse means the
    # same thing to us: the file isn't what it claims to be.
    try:
        return loader()
    except Exception as exc:
        raise _Unreadable(f"{type(exc).__name__}: {exc}") from exc


# --------------------------------------------------------------------------------------------
# One reader per format. Each raises _Unreadable when the structure doesn't hold up, or
# AudioRejected when it does but the content is something we don't accept.


def _read_mp3(path: Path, size: int, audio_offset: int, *, strict: bool = False) -> AudioInfo:
    def load() -> MPEGInfo:
        with path.open("rb") as f:
            return MPEGInfo(f, offset=audio_offset)

    info = _load(load)
    # mutagen accepts a stream after as few as two frames in a row, flagging it "sketchy";
    # it wants four (or a Xing/VBRI header) to be sure. Garbage behind an ID3 tag can chain
    # two chance frame headers, so only a sure stream counts.
    if info.sketchy:
        raise _Unreadable("no run of valid MPEG frames")
    # `layer` and `frame_offset` are copied over from the first frame at run time, so
    # MPEGInfo's type doesn't declare them.
    if strict and getattr(info, "frame_offset", 0) - audio_offset > _MAX_MP3_JUNK:
        raise _Unreadable("first MPEG frame too far into the file")
    layer = getattr(info, "layer", None)
    if layer != 3:
        raise AudioRejected(f"That file is MPEG layer {layer} audio, not MP3. {_SEND_HINT}")
    return _info("mp3", size, info.length)


def _read_wav(path: Path, size: int, audio_offset: int) -> AudioInfo:
    info = _stream_info(_load(lambda: WAVE(path)), WaveStreamInfo)
    if info.channels <= 0 or info.sample_rate <= 0:
        raise _Unreadable("no channels or no sample rate")
    # The length by hand: mutagen trusts the data chunk's declared size. A WAV written to a
    # pipe declares 0xFFFFFFFF (mutagen says 536871 s for our 2.5 s tone) and a truncated
    # upload declares more than it has (still 2.5 s with half of it cut away). Count only the
    # bytes that are really there; mutagen doesn't expose the fmt chunk's block_align either.
    with path.open("rb") as f:
        block_align, data_size = _wav_data(f, size)
    return _info("wav", size, data_size // block_align / info.sample_rate)


def _wav_data(f: BinaryIO, size: int) -> tuple[int, int]:
    """(block_align, bytes of sample data actually present) of a RIFF/WAVE file."""
    f.seek(0)
    riff = f.read(12)
    streamed = riff[4:8] in (b"\x00\x00\x00\x00", b"\xff\xff\xff\xff")
    block_align = 0
    offset = 12
    while offset + 8 <= size:
        f.seek(offset)
        chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
        body = offset + 8
        if chunk_id == b"fmt ":
            fmt = f.read(16)
            if len(fmt) < 16:
                raise _Unreadable("short fmt chunk")
            block_align = struct.unpack("<H", fmt[12:14])[0]
        elif chunk_id == b"data":
            if block_align <= 0:
                raise _Unreadable("data before a usable fmt chunk")
            available = size - body
            if chunk_size == 0xFFFFFFFF or (chunk_size == 0 and streamed):
                return block_align, available  # size unknown when written: runs to EOF
            return block_align, min(chunk_size, available)
        offset = body + chunk_size + (chunk_size & 1)  # chunks are padded to even sizes
    raise _Unreadable("no data chunk")


def _read_flac(path: Path, size: int, audio_offset: int) -> AudioInfo:
    info = _load(lambda: FLAC(path)).info
    # mutagen only reads the metadata blocks (it gives the full length for a file whose
    # frames are zeroed or cut away) and keeps where they end to itself. Make sure an audio
    # frame follows them, or the "FLAC" is a header with nothing (or garbage) behind it.
    with path.open("rb") as f:
        _check_flac_frames(f, audio_offset)
    # total_samples 0 means the encoder didn't know the length (a stream): not 0 seconds.
    duration = info.length if info.total_samples else None
    return _info("flac", size, duration)


def _check_flac_frames(f: BinaryIO, offset: int) -> None:
    f.seek(offset)
    if f.read(4) != b"fLaC":
        raise _Unreadable("no fLaC marker")
    offset += 4
    while True:
        f.seek(offset)
        header = f.read(4)
        if len(header) < 4:
            raise _Unreadable("metadata runs past the end of the file")
        is_last = bool(header[0] & 0x80)
        offset += 4 + int.from_bytes(header[1:4], "big")
        if is_last:
            break
    f.seek(offset)
    sync = f.read(2)
    # A FLAC frame header starts with the 14-bit sync code 0b11111111111110 and a 0 bit.
    if len(sync) < 2 or sync[0] != 0xFF or (sync[1] & 0xFE) != 0xF8:
        raise _Unreadable("no audio frame after the metadata")


# How each codec's identification packet, the first packet of its stream, starts; and how to
# read the stream.
_OggInfo = OggVorbisInfo | OggOpusInfo | OggFLACStreamInfo
_OGG_AUDIO: Final[dict[bytes, tuple[type[OggFileType], type[_OggInfo]]]] = {
    b"\x01vorbis": (OggVorbis, OggVorbisInfo),
    b"OpusHead": (OggOpus, OggOpusInfo),
    b"\x7fFLAC\x01": (OggFLAC, OggFLACStreamInfo),
}
_OGG_THEORA: Final = b"\x80theora"


def _read_ogg(path: Path, size: int, audio_offset: int) -> AudioInfo:
    def first_page() -> OggPage:
        with path.open("rb") as f:
            return OggPage(f)

    packets = _load(first_page).packets
    ident = packets[0] if packets else b""
    # The first stream's codec decides: a video file must put its video stream first, so a
    # Theora header there means a video even if a Vorbis track follows.
    if ident.startswith(_OGG_THEORA):
        raise AudioRejected(f"That file is an OGG video, not audio. {_SEND_HINT}")
    readers = [reader for magic, reader in _OGG_AUDIO.items() if ident.startswith(magic)]
    if not readers:
        raise AudioRejected(
            f"That OGG file doesn't hold Vorbis, Opus or FLAC audio, so I can't send it. "
            f"{_SEND_HINT}"
        )
    file_type, info_type = readers[0]
    info = _stream_info(_load(lambda: file_type(path)), info_type)
    return _info("ogg", size, info.length)


def _read_m4a(path: Path, size: int, audio_offset: int) -> AudioInfo:
    mp4 = _load(lambda: MP4(path))
    with path.open("rb") as f:
        handlers = _load(lambda: _mp4_track_handlers(f, size))
    if b"vide" in handlers:
        raise AudioRejected(f"That file is an MP4 video, not audio. {_SEND_HINT}")
    if b"soun" not in handlers:
        raise AudioRejected(f"That file has no sound in it. {_SEND_HINT}")
    info = _stream_info(mp4, MP4Info)
    codec = info.codec or ""
    if not codec.startswith(_MP4_AUDIO_CODECS):
        shown = codec or "an unknown codec"
        raise AudioRejected(f"That M4A file uses {shown}, which I can't send. {_SEND_HINT}")
    return _info("m4a", size, info.length)


def _mp4_track_handlers(f: BinaryIO, size: int) -> list[bytes]:
    """The handler type ("soun", "vide", "text"...) of every track in an MP4/QuickTime file.

    By hand: mutagen only reports the first audio track (for clip.mp4, H.264 video with AAC
    sound, it says "mp4a.40.2, 1.1 s" and nothing else), and its atom tree
    (`mutagen.mp4._atom`) is internal. The handler types tell an .m4a from a video with a
    sound track, and cost one read of the (small) moov box.
    """
    offset = 0
    moov: bytes | None = None
    while offset + 8 <= size:
        f.seek(offset)
        header = f.read(16)
        box_size, box_type = struct.unpack(">I4s", header[:8])
        header_len = 8
        if box_size == 1:
            (box_size,) = struct.unpack(">Q", header[8:16])
            header_len = 16
        elif box_size == 0:
            box_size = size - offset  # "to the end of the file"
        if box_size < header_len:
            raise _Unreadable("bad box size")
        if box_type == b"moov":
            if box_size > _MAX_MOOV_BYTES:
                raise _Unreadable("moov box too large")
            f.seek(offset + header_len)
            moov = f.read(box_size - header_len)
            break
        offset += box_size
    if moov is None:
        raise _Unreadable("no moov box")
    return [
        hdlr[8:12]
        for trak in _boxes(moov, b"trak")
        for mdia in _boxes(trak, b"mdia")
        for hdlr in _boxes(mdia, b"hdlr")
    ]


def _boxes(buf: bytes, wanted: bytes) -> Iterator[bytes]:
    """Payloads of the child boxes of type `wanted` in a box payload."""
    offset = 0
    while offset + 8 <= len(buf):
        box_size, box_type = struct.unpack_from(">I4s", buf, offset)
        header_len = 8
        if box_size == 1 and offset + 16 <= len(buf):
            (box_size,) = struct.unpack_from(">Q", buf, offset + 8)
            header_len = 16
        elif box_size == 0:
            box_size = len(buf) - offset
        if box_size < header_len:
            raise _Unreadable("bad box size")
        if box_type == wanted:
            yield buf[offset + header_len : offset + box_size]
        offset += box_size


def _read_aac(path: Path, size: int, audio_offset: int) -> AudioInfo:
    # ADTS has no length field; mutagen estimates it from the bitrate of the first frames.
    info = _stream_info(_load(lambda: AAC(path)), AACInfo)
    return _info("aac", size, info.length)


_READERS: Final[dict[str, Callable[[Path, int, int], AudioInfo]]] = {
    "mp3": _read_mp3,
    "wav": _read_wav,
    "flac": _read_flac,
    "ogg": _read_ogg,
    "m4a": _read_m4a,
    "aac": _read_aac,
}
