"""Audio files encoded in-process with PyAV, for the media tests and the bench.

Every fixture is real output of FFmpeg's own encoders and muxers (bundled in PyAV's wheels),
so the checks are tested against what people's tools write, not hand-made bytes; odd and
hostile variants are derived from these bytes by the tests themselves.
"""

from __future__ import annotations

import functools
import math
import struct
from array import array
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error


@dataclass(frozen=True, slots=True)
class Recipe:
    """How to write one fixture: a muxer, an encoder and its settings."""

    container: str  # FFmpeg muxer name
    codec: str
    rate: int = 22050
    sample_fmt: str | None = None  # None: the encoder's first choice
    channels: int = 1
    bit_rate: int | None = None
    options: tuple[tuple[str, str], ...] = ()  # muxer options
    video: bool = False  # add a short video stream too


RECIPES: dict[str, Recipe] = {
    "mp3": Recipe("mp3", "libmp3lame", bit_rate=32_000),
    "flac": Recipe("flac", "flac", sample_fmt="s16"),
    "vorbis.ogg": Recipe("ogg", "vorbis", rate=44100, channels=2),  # its only layout
    "opus.ogg": Recipe("ogg", "libopus", rate=48000, bit_rate=16_000),
    "aac.m4a": Recipe("ipod", "aac", bit_rate=32_000),
    "alac.m4a": Recipe("ipod", "alac"),
    # moov first, as for streaming: a cut-off copy keeps the index of the whole song.
    "faststart.m4a": Recipe("ipod", "aac", bit_rate=32_000, options=(("movflags", "faststart"),)),
    "adts.aac": Recipe("adts", "aac", bit_rate=32_000),
    "s16.wav": Recipe("wav", "pcm_s16le"),
    "s24.wav": Recipe("wav", "pcm_s24le"),
    "f32.wav": Recipe("wav", "pcm_f32le"),
    "ima.wav": Recipe("wav", "adpcm_ima_wav"),
    "msadpcm.wav": Recipe("wav", "adpcm_ms"),
    "mp3in.wav": Recipe("wav", "libmp3lame", bit_rate=32_000),
    "rf64.wav": Recipe("wav", "pcm_s16le", options=(("rf64", "always"),)),
    "aiff": Recipe("aiff", "pcm_s16be"),
    "wma": Recipe("asf", "wmav2", bit_rate=32_000),
    "ac3": Recipe("ac3", "ac3", rate=48000, bit_rate=96_000),
    "wv": Recipe("wv", "wavpack"),
    "tta": Recipe("tta", "tta"),
    "mka": Recipe("matroska", "flac", sample_fmt="s16"),
    "webm": Recipe("webm", "libopus", rate=48000, bit_rate=16_000),
    "caf": Recipe("caf", "pcm_s16le"),
    "mp2": Recipe("mp2", "mp2", rate=16000, bit_rate=32_000),
    "fmp4.m4a": Recipe(
        "mp4", "aac", bit_rate=32_000, options=(("movflags", "frag_keyframe+empty_moov"),)
    ),
    "video.mp4": Recipe("mp4", "aac", bit_rate=32_000, video=True),
}


@functools.cache
def _second(rate: int, hz: int) -> bytes:
    step = 2 * math.pi * hz / rate
    return array("h", (round(12000 * math.sin(step * i)) for i in range(rate))).tobytes()


def tone(samples: int, rate: int, start: int = 0, hz: int = 440) -> bytes:
    """`samples` of a sine as packed 16-bit mono, from sample number `start`.

    A whole number of cycles fits in a second, so one second is computed and repeated.
    """
    second = _second(rate, hz)
    begin = (start % rate) * 2
    needed = begin + samples * 2
    return (second * (needed // len(second) + 1))[begin:needed]


def _picture(shade: int) -> av.VideoFrame:
    frame = av.VideoFrame(32, 32, "yuv420p")
    for plane in frame.planes:
        plane.update(bytes([shade]) * plane.buffer_size)
    return frame


def _add_video(out: av.container.OutputContainer) -> av.VideoStream:
    video = out.add_stream("mpeg4", rate=5)
    assert isinstance(video, av.VideoStream)
    video.width = video.height = 32
    video.pix_fmt = "yuv420p"
    return video


def _mux_video(out: av.container.OutputContainer, video: av.VideoStream, seconds: float) -> None:
    for i in range(max(1, round(seconds * 5))):
        picture = _picture(i * 9 % 255)
        picture.pts = i
        out.mux(video.encode(picture))
    out.mux(video.encode(None))


def encode(path: Path, recipe: Recipe, seconds: float = 2.5) -> Path:
    """Write `seconds` of a 440 Hz tone at `path` following `recipe`."""
    layout = "mono" if recipe.channels == 1 else "stereo"
    with av.open(str(path), "w", format=recipe.container, options=dict(recipe.options)) as out:
        stream = out.add_stream(recipe.codec, rate=recipe.rate)
        assert isinstance(stream, av.AudioStream)
        codec = stream.codec_context
        codec.layout = layout
        if recipe.sample_fmt:
            codec.format = recipe.sample_fmt
        if recipe.bit_rate:
            codec.bit_rate = recipe.bit_rate
        if recipe.codec == "vorbis":
            codec.options = {"strict": "experimental"}
        video = _add_video(out) if recipe.video else None
        resampler = av.AudioResampler(format=codec.format.name, layout=layout, rate=recipe.rate)
        total = round(seconds * recipe.rate)
        block = 4096
        for fed in range(0, total, block):
            n = min(block, total - fed)
            frame = av.AudioFrame(format="s16", layout="mono", samples=n)
            frame.planes[0].update(tone(n, recipe.rate, fed))
            frame.sample_rate = recipe.rate
            frame.pts = fed
            frame.time_base = Fraction(1, recipe.rate)
            for converted in resampler.resample(frame):
                out.mux(stream.encode(converted))
        for converted in resampler.resample(None):
            out.mux(stream.encode(converted))
        out.mux(stream.encode(None))
        if video is not None:
            _mux_video(out, video, seconds)
    return path


def rifx_s24be(path: Path, seconds: float = 2.5, rate: int = 22050) -> Path:
    """A big-endian 24-bit WAV ("RIFX"), which FFmpeg's wav muxer can't write but reads."""
    samples = array("h", tone(round(seconds * rate), rate))
    data = b"".join((v * 256).to_bytes(3, "big", signed=True) for v in samples)
    fmt = struct.pack(">HHIIHH", 1, 1, rate, rate * 3, 3, 24)
    body = b"WAVE" + b"fmt " + struct.pack(">I", len(fmt)) + fmt
    body += b"data" + struct.pack(">I", len(data)) + data
    path.write_bytes(b"RIFX" + struct.pack(">I", len(body)) + body)
    return path


def dsf(path: Path, seconds: float = 2.5) -> Path:
    """A mono DSD64 file (Sony DSF) of DSD silence: FFmpeg decodes it, nothing encodes it."""
    rate = 2_822_400
    block = 4096  # bytes per channel per block
    blocks = max(1, round(seconds * rate / 8 / block))
    data = b"\x69" * (block * blocks)  # 0x69: the DSD idle pattern
    fmt = b"fmt " + struct.pack("<Q", 52)
    fmt += struct.pack("<IIIIIIQII", 1, 0, 1, 1, rate, 1, len(data) * 8, block, 0)
    chunk = b"data" + struct.pack("<Q", 12 + len(data)) + data
    header = b"DSD " + struct.pack("<QQQ", 28, 28 + len(fmt) + len(chunk), 0)
    path.write_bytes(header + fmt + chunk)
    return path


def video_only(path: Path, seconds: float = 1.0) -> Path:
    """An MP4 with one MPEG-4 video stream and no sound."""
    with av.open(str(path), "w", format="mp4") as out:
        _mux_video(out, _add_video(out), seconds)
    return path


def decoded_seconds(path: Path) -> float:
    """The length of the first audio stream by decoding all of it: the reference lengths.

    Like a player, it skips what doesn't decode (a cut-off last frame) and counts the rest.
    """
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = 0
        try:
            for packet in container.demux(stream):
                try:
                    samples += sum(frame.samples for frame in packet.decode())
                except av.error.FFmpegError:
                    continue
        except av.error.FFmpegError:
            pass
        return samples / stream.codec_context.sample_rate


class Fixtures:
    """Encodes each recipe once per session, on first use (see the `media` fixture)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._made: dict[tuple[str, float], Path] = {}

    def __call__(self, name: str, seconds: float = 2.5) -> Path:
        key = (name, seconds)
        if key not in self._made:
            path = self._root / f"{seconds:g}s-{name.replace('.', '_')}.{name.rsplit('.', 1)[-1]}"
            if name == "video-only.mp4":
                self._made[key] = video_only(path, seconds)
            elif name == "dsf":
                self._made[key] = dsf(path, seconds)
            elif name == "s24be.wav":
                self._made[key] = rifx_s24be(path, seconds)
            else:
                self._made[key] = encode(path, RECIPES[name], seconds)
        return self._made[key]

    def bytes(self, name: str, seconds: float = 2.5) -> bytes:
        return self(name, seconds).read_bytes()


# --------------------------------------------------------------------------------------------
# Crafted files: each is a real encoded file with its structure bent the way an attacker or a
# broken tool would bend it.


def wav_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(id, offset of the body, declared size) of each chunk of a RIFF/WAVE file."""
    chunks = []
    offset = 12
    while offset + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, offset)
        chunks.append((chunk_id, offset + 8, size))
        offset += 8 + size + (size & 1)
    return chunks


def patch_wav_fmt(data: bytes, **fields: int) -> bytes:
    """A WAV with fields of its fmt chunk replaced (tag, channels, rate, byte_rate, align, bits)."""
    names = ("tag", "channels", "rate", "byte_rate", "align", "bits")
    [(_, at, _)] = [c for c in wav_chunks(data) if c[0] == b"fmt "]
    values = dict(zip(names, struct.unpack_from("<HHIIHH", data, at), strict=True))
    values.update(fields)
    out = bytearray(data)
    struct.pack_into("<HHIIHH", out, at, *(values[n] for n in names))
    return bytes(out)


def junk_wav(wav: bytes, total: int) -> bytes:
    """`wav` with empty JUNK chunks between its fmt and data chunks, up to `total` bytes."""
    chunks = wav_chunks(wav)
    [(_, data_at, _)] = [c for c in chunks if c[0] == b"data"]
    head, rest = wav[: data_at - 8], wav[data_at - 8 :]
    count = max(0, (total - len(wav)) // 8)
    body = head[12:] + b"JUNK\x00\x00\x00\x00" * count + rest
    return b"RIFF" + struct.pack("<I", min(len(body) + 4, 0xFFFFFFFF)) + b"WAVE" + body


def padded_flac(flac: bytes, total: int) -> bytes:
    """`flac` with empty PADDING metadata blocks after STREAMINFO, up to `total` bytes."""
    assert flac[:4] == b"fLaC"
    streaminfo_len = int.from_bytes(flac[5:8], "big")
    end_si = 8 + streaminfo_len
    first = bytes([flac[4] & 0x7F]) + flac[5:end_si]  # STREAMINFO, no longer the last block
    rest = flac[end_si:]
    # The blocks after STREAMINFO keep their own "last" flags; the padding goes before them.
    count = max(0, (total - len(flac)) // 4)
    if flac[4] & 0x80:
        # STREAMINFO was the only block: the last padding block must say it is the last.
        return b"fLaC" + first + b"\x01\x00\x00\x00" * (count - 1) + b"\x81\x00\x00\x00" + rest
    return b"fLaC" + first + b"\x01\x00\x00\x00" * count + rest


def mp4_boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of the top-level boxes of an MP4."""
    boxes = []
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, offset)
        boxes.append((kind, offset, size))
        if size < 8:
            break
        offset += size
    return boxes


def stuffed_moov(m4a: bytes, total: int) -> bytes:
    """`m4a` whose moov box starts with empty `free` child boxes, up to `total` bytes.

    The file's chunk offsets (stco) point into mdat; when moov grows in front of mdat they
    would be wrong, so the moov is moved to the end first (as many encoders write it).
    """
    boxes = mp4_boxes(m4a)
    moov = next(b for b in boxes if b[0] == b"moov")
    others = b"".join(m4a[o : o + s] for k, o, s in boxes if k != b"moov")
    if moov[1] < next(o for k, o, _ in boxes if k == b"mdat"):
        # moov before mdat: removing it shifts mdat back by its size; fix every stco offset.
        shift = moov[2]
        body = bytearray(m4a[moov[1] + 8 : moov[1] + moov[2]])
        at = body.find(b"stco")
        while at != -1:
            count = struct.unpack_from(">I", body, at + 8)[0]
            for i in range(count):
                pos = at + 12 + 4 * i
                struct.pack_into(">I", body, pos, struct.unpack_from(">I", body, pos)[0] - shift)
            at = body.find(b"stco", at + 4)
        moov_body = bytes(body)
    else:
        moov_body = m4a[moov[1] + 8 : moov[1] + moov[2]]
    count = max(0, (total - len(m4a)) // 8)
    stuffed = b"\x00\x00\x00\x08free" * count + moov_body
    return others + struct.pack(">I", 8 + len(stuffed)) + b"moov" + stuffed
