"""What a file really is, judged by FFmpeg's demuxers and decoders (through PyAV).

This module runs in the bounded worker process (`bot.core.media.worker`), never in the bot: it
parses untrusted files, and a crafted one may cost a parser seconds or gigabytes. It returns
a `Verdict` (plain data, sent back over a pipe); wording of refusals lives here too, because
only here is it known what the file is.

The length is measured, not read from headers: every packet of the audio stream is demuxed
to the real end of the file (a truncated MP3 whose header claims 600 s is as long as the
frames that are there), and the first and the last packets are decoded, so a file that opens
but doesn't play is refused instead of spending a generation.
"""

from __future__ import annotations

import collections
import contextlib
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Final

import av
import av.error
import filetype

from bot.core.i18n import N_
from bot.core.i18n.said import Said, said
from bot.core.media.names import HINT, describe_kind, looks_like_text, not_audio

# Formats MusicGPT takes as they are: (FFmpeg demuxer, codecs) -> our format name.
# Anything else that decodes as audio is converted to FLAC first (`bot.core.media.convert`).
_AS_IS: Final[dict[str, tuple[frozenset[str], str]]] = {
    "mp3": (frozenset({"mp3"}), "mp3"),
    # Little-endian integer or float PCM in a plain RIFF file; RIFX, RF64 and compressed
    # WAVs (ADPCM, GSM, MP3-in-WAV) are converted (see `_sendable`).
    "wav": (frozenset({"pcm_u8", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le"}), "wav"),
    "flac": (frozenset({"flac"}), "flac"),
    "ogg": (frozenset({"vorbis", "opus"}), "ogg"),
    "mov,mp4,m4a,3gp,3g2,mj2": (frozenset({"aac", "alac"}), "m4a"),
    "aac": (frozenset({"aac"}), "aac"),  # ADTS, as phones and some recorders write it
}
# Sample rates a real recording can have. A WAV claiming 1 Hz "plays" for weeks; DSD256
# decodes at 1.4 MHz.
_MIN_RATE: Final = 1000
_MAX_RATE: Final = 3_000_000
# Packets decoded at each end. A few are enough to know a decoder plays the stream; the tail
# starts with a few more whose errors don't count (see `_window`).
_HEAD_PACKETS: Final = 24
_TAIL_PACKETS: Final = 16
_TAIL_WARMUP: Final = 8
_SNIFF_BYTES: Final = 8192
# Top-level MP4 boxes looked at to tell a fragmented file; real files have a handful.
_MAX_TOP_BOXES: Final = 64
# Chunks before a WAV's audio, or children of an MP4's moov box, that real files never exceed.
_MAX_CHUNKS: Final = 1000


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the worker found: a refusal, or audio sent as is (`format`) or to be converted."""

    refusal: dict[str, object] | None = None  # a `Said` as its record: JSON, not a pickle
    format: str | None = None  # "mp3" | "wav" | "flac" | "ogg" | "m4a" | "aac"; None: convert
    duration: float = 0.0  # seconds, measured
    stream: int = 0  # index of the audio stream to send or convert
    what: str = ""  # the container and codec, for logs ("asf/wmav2")


def refused(message: Said) -> Verdict:
    """A refusal, said later in the member's language (`Said.of_record` in the bot)."""
    return Verdict(refusal=message.record())


def clock(seconds: float) -> str:
    """0:42, 12:05, 1:02:03."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def decoded_frames(
    container: av.container.InputContainer, stream: av.AudioStream
) -> Iterator[av.AudioFrame]:
    """Decoded frames of `stream`, skipping packets that don't decode and stopping where the
    rest of the file can't be read (what came before is kept). Converting and drawing a
    waveform both read a file this way."""
    try:
        for packet in container.demux(stream):
            try:
                yield from stream.decode(packet)
            except av.error.InvalidDataError:
                continue
    except av.error.InvalidDataError:
        return


def damaged_after(seconds: float) -> Said:
    return said("That audio file is damaged after {time}.", time=clock(seconds))


DAMAGED: Final = N_("I couldn't decode that audio file; it may be damaged.")
ZERO_SECONDS: Final = N_("That audio file is 0 seconds long.")


def probe(path: str) -> Verdict:
    """Judge the file at `path`. Never raises for a bad file: the verdict says what it is."""
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    crafted = _crafted(head, path)
    if crafted:
        return refused(crafted)
    try:
        container = av.open(path, metadata_errors="ignore")
    except av.error.FFmpegError:
        return refused(_not_media(head))
    with container:
        if not container.streams.audio:
            return refused(_no_audio(head, container))
        audio = [s for s in container.streams.audio if _decodable(s)]
        if not audio:
            # WAVs with format tag 0 or 36-bit samples: FFmpeg opens them, nothing decodes.
            return refused(
                said("That file's audio is in a format no decoder plays. {hint}", hint=said(HINT))
            )
        stream = audio[0]
        what = f"{container.format.name}/{stream.codec_context.name}"
        rate = stream.codec_context.sample_rate
        if not _MIN_RATE <= rate <= _MAX_RATE:
            return refused(
                said(
                    "That file says its audio plays at {rate} Hz, which no player can; "
                    "it may be damaged.",
                    rate=rate,
                )
            )
        measured = _measure(container, stream)
        if isinstance(measured, Said):
            return refused(measured)
        fmt = _sendable(container, stream, head, path)
        return Verdict(format=fmt, duration=measured, stream=stream.index, what=what)


def _measure(container: av.container.InputContainer, stream: av.AudioStream) -> float | Said:
    """The stream's real length in seconds, or a refusal when it doesn't decode."""
    codec = stream.codec_context
    codec.thread_count = 1  # each decoder thread would reserve address space (RLIMIT_AS)
    base = stream.time_base
    if base is None:
        return said(DAMAGED)
    # One pass over every packet, keeping only the first and the last few: a 25 MB MP3 is
    # 60,000 packets, and this loop is most of the check's time (bench figure 7).
    head: list[tuple[av.Packet[Any], int]] = []  # (packet, summed durations through it)
    tail: collections.deque[tuple[av.Packet[Any], int]] = collections.deque(
        maxlen=_TAIL_PACKETS + _TAIL_WARMUP
    )
    keep = head.append
    first: int | None = None
    summed = 0  # packet durations so far: the clock of packets without timestamps
    try:
        for packet in container.demux(stream):
            if not packet.size:
                continue  # the flush marker at the end
            summed += packet.duration or 0
            pts = packet.pts
            if pts is not None and (first is None or pts < first):
                first = pts
            keep((packet, summed))
            if len(head) == _HEAD_PACKETS:
                keep = tail.append  # from now on, only the last few are kept
    except av.error.FFmpegError:
        # The demuxer gave up before the end (a cut-off or spoiled file): what came before is
        # the playable part, and it is checked like a whole file.
        pass
    if not head:
        return said(ZERO_SECONDS)
    start = first or 0
    good, frames = _window(codec, [], _timed(head), at_end=not tail)
    if frames == 0:
        return said(DAMAGED)
    if not tail:
        last_good = _Timed(*head[good - 1] if good else head[-1])
    else:
        if good < len(head):
            return damaged_after(float((_Timed(*head[good]).start - start) * base))
        packets = _timed(tail)
        warmup, checked = packets[:-_TAIL_PACKETS], packets[-_TAIL_PACKETS:]
        good, frames = _window(codec, warmup, checked, at_end=True)
        if frames == 0 or good == 0:
            stops = _where_it_stops(container, stream, checked[0].start)
            return damaged_after(float((stops - start) * base))
        # A cut-off last frame doesn't decode: the file is as long as what does.
        last_good = checked[good - 1]
    seconds = float((last_good.end - start) * base)
    if seconds <= 0:
        return said(ZERO_SECONDS)
    return seconds


class _Timed:
    """A packet and where it starts and ends on the stream's clock: its pts, or the sum of
    the durations before it for a stream without timestamps."""

    __slots__ = ("end", "packet", "start")

    def __init__(self, packet: av.Packet[Any], summed: int) -> None:
        duration = packet.duration or 0
        self.packet = packet
        self.end = packet.pts + duration if packet.pts is not None else summed
        self.start = self.end - duration


def _timed(packets: Iterable[tuple[av.Packet[Any], int]]) -> list[_Timed]:
    return [_Timed(packet, summed) for packet, summed in packets]


def _window(
    codec: av.AudioCodecContext, warmup: list[_Timed], packets: list[_Timed], *, at_end: bool
) -> tuple[int, int]:
    """Decode `packets` afresh: (how many decode in a row, frames out).

    The decoder is first fed the `warmup` packets that precede them, whose errors don't
    count, since decoders such as MP3's need the frames before a packet (the bit reservoir)
    to decode it cleanly after a jump. At the end of the stream it is flushed, as decoders
    may hold frames back (priming, lookahead).
    """
    codec.flush_buffers()
    for timed in warmup:
        with contextlib.suppress(av.error.FFmpegError):
            codec.decode(timed.packet)
    good = frames = 0
    for timed in packets:
        try:
            frames += len(codec.decode(timed.packet))
        except av.error.FFmpegError:
            return good, frames
        good += 1
    if at_end:
        with contextlib.suppress(av.error.FFmpegError):
            frames += len(codec.decode(None))
    return good, frames


def _where_it_stops(
    container: av.container.InputContainer, stream: av.AudioStream, bad: int
) -> int:
    """About where (on the stream's clock) a stream that plays at its start but not at its
    end stops playing; `bad` is a time where it doesn't.

    Rare (a damaged file), so this second pass keeps every packet before `bad`, then
    searches them by halves: a few dozen short decodes, not the whole file.
    """
    codec = stream.codec_context
    packets: list[_Timed] = []
    summed = 0
    with contextlib.suppress(av.error.FFmpegError):
        container.seek(0, stream=stream)
        for packet in container.demux(stream):
            if not packet.size:
                continue
            summed += packet.duration or 0
            timed = _Timed(packet, summed)
            if timed.start >= bad:
                break
            packets.append(timed)
    good, failing = 0, len(packets)
    while failing - good > _TAIL_PACKETS:
        middle = (good + failing) // 2
        window = packets[middle : middle + _TAIL_PACKETS]
        warmup = packets[max(0, middle - _TAIL_WARMUP) : middle]
        decoded, frames = _window(codec, warmup, window, at_end=False)
        if frames and decoded == len(window):
            good = middle
        else:
            failing = middle
    return packets[failing].start if failing < len(packets) else bad


def _decodable(stream: av.AudioStream) -> bool:
    codec = stream.codec_context
    return codec is not None and codec.name not in (None, "", "none")


def _crafted(head: bytes, path: str) -> Said | None:
    """A refusal for files padded with thousands of empty structures, or None.

    FFmpeg reads them correctly but walks every one of them; a 25 MB WAV of 3 million empty
    JUNK chunks costs it seconds of CPU. No encoder writes more than a few dozen, so a short
    bounded walk tells these files apart before FFmpeg spends that time on them.
    """
    with open(path, "rb") as f:
        is_riff = head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE"
        if is_riff and _riff_chunks_before_data(f) > _MAX_CHUNKS:
            return said("That WAV file is padded with thousands of empty chunks; I can't use it.")
        if head[4:8] in (b"ftyp", b"moov", b"free", b"mdat") and _moov_children(f) > _MAX_CHUNKS:
            return said(
                "That file's index is stuffed with thousands of empty boxes; I can't use it."
            )
    return None


def _riff_chunks_before_data(f: BinaryIO) -> int:
    """How many chunks precede a RIFF file's data chunk, counting to just past the cap."""
    f.seek(12)
    for n in range(_MAX_CHUNKS + 1):
        header = f.read(8)
        if len(header) < 8 or header[:4] == b"data":
            return n
        size = struct.unpack("<I", header[4:])[0]
        f.seek(size + (size & 1), 1)
    return _MAX_CHUNKS + 1


def _moov_children(f: BinaryIO) -> int:
    """How many direct children the moov box has, counting to just past the cap."""
    size = f.seek(0, 2)
    offset = 0
    for _ in range(_MAX_TOP_BOXES):
        box = _box_at(f, offset, size)
        if box is None:
            return 0
        box_size, kind, header_len = box
        if kind == b"moov":
            end = offset + box_size
            child = offset + header_len
            for n in range(_MAX_CHUNKS + 1):
                inner = _box_at(f, child, end)
                if inner is None:
                    return n
                child += inner[0]
            return _MAX_CHUNKS + 1
        offset += box_size
    return 0


def _box_at(f: BinaryIO, offset: int, end: int) -> tuple[int, bytes, int] | None:
    """(size, type, header length) of the MP4 box at `offset`, None past `end` or if bogus."""
    if offset + 8 > end:
        return None
    f.seek(offset)
    header = f.read(16)
    if len(header) < 8:
        return None
    box_size, kind = struct.unpack(">I4s", header[:8])
    header_len = 8
    if box_size == 1:
        if len(header) < 16:
            return None
        (box_size,) = struct.unpack(">Q", header[8:16])
        header_len = 16
    elif box_size == 0:
        box_size = end - offset  # "to the end of the file"
    if box_size < header_len:
        return None
    return box_size, kind, header_len


def _sendable(
    container: av.container.InputContainer, stream: av.AudioStream, head: bytes, path: str
) -> str | None:
    """Our format name if MusicGPT takes the file as it is; None to convert it to FLAC."""
    codec = stream.codec_context.name
    codec = {"mp3float": "mp3"}.get(codec, codec)  # the decoder's name, not the codec's
    known = _AS_IS.get(container.format.name)
    if known is None or codec not in known[0]:
        return None
    fmt = known[1]
    if any(not _is_picture(v) for v in container.streams.video):
        return None  # a video's sound track: only the audio goes
    if fmt == "wav" and not head.startswith(b"RIFF"):
        return None  # RF64, BW64, RIFX (big-endian)
    if fmt == "m4a" and _fragmented(path):
        return None
    return fmt


def _is_picture(stream: av.VideoStream) -> bool:
    """Cover art (an MP3's or an M4A's attached picture) is not a video."""
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _fragmented(path: str) -> bool:
    """Whether an MP4 is fragmented (`moof` boxes, as MediaRecorder and live ffmpeg write).

    Converted rather than sent: not every reader takes fragments (mutagen, for one, measures
    such a file as 0 seconds long), while FLAC plays everywhere.
    """
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        offset = 0
        for _ in range(_MAX_TOP_BOXES):
            box = _box_at(f, offset, size)
            if box is None:
                return False
            box_size, kind, header_len = box
            if kind == b"moof":
                return True
            if kind == b"moov":
                # An mvex box among moov's children announces fragments.
                child = offset + header_len
                for _ in range(_MAX_TOP_BOXES):
                    inner = _box_at(f, child, offset + box_size)
                    if inner is None:
                        break
                    if inner[1] == b"mvex":
                        return True
                    child += inner[0]
            offset += box_size
    return False


def _not_media(head: bytes) -> Said:
    """The refusal for a file FFmpeg can't open at all."""
    kind = filetype.guess(head)
    if kind is not None:
        name = describe_kind(kind.extension, kind.mime)
        if kind.mime.startswith(("audio/", "video/")):
            return said(
                "That file is {kind}, but I couldn't decode it; it may be damaged.", kind=name
            )
        return not_audio(name)
    if looks_like_text(head):
        return not_audio(None)
    return said("That file doesn't look like audio. {hint}", hint=said(HINT))


def _no_audio(head: bytes, container: av.container.InputContainer) -> Said:
    kind = filetype.guess(head)
    if kind is not None and kind.mime.startswith("image/"):
        return not_audio(describe_kind(kind.extension, kind.mime))
    if any(not _is_picture(v) for v in container.streams.video):
        return said("That file is a video with no audio track. {hint}", hint=said(HINT))
    if kind is not None:
        return not_audio(describe_kind(kind.extension, kind.mime))
    if looks_like_text(head):
        return not_audio(None)
    return said("That file has no audio in it. {hint}", hint=said(HINT))
