"""Audio MusicGPT doesn't take as it is (WMA, AIFF, ADPCM WAV, WebM...) re-encoded as FLAC.

Runs in the bounded worker process (`bot.core.media.worker`), like `bot.core.media.probe`:
decoding an
untrusted file is the same risk whether we measure it or convert it. FLAC because it is
lossless (converting a lossy file again would add a second loss) and every reader plays it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import av.error

from bot.core.i18n import N_
from bot.core.i18n.said import Said, said
from bot.core.media.probe import ZERO_SECONDS, decoded_frames

# 16-bit is what a song needs to carry; it keeps the FLAC near half the size of 24-bit.
_SAMPLE_FORMAT = "s16"
_FRAME_SAMPLES = 4608  # FLAC's usual block size at 44.1 kHz
# Above this a song is DSD (decoded at 352.8 kHz and up) or lab audio: resampled, as FLAC
# stops at 655 kHz and nothing MusicGPT does needs more than this.
_MAX_RATE = 192_000
_HIGH_RATE_TO = 96_000
NOT_CONVERTED = N_("I couldn't convert that audio file; it may be damaged.")


@dataclass(frozen=True, slots=True)
class Converted:
    """The FLAC written, or why not."""

    refusal: dict[str, object] | None = None  # a `Said` as its record (JSON from the worker)
    duration: float = 0.0  # seconds of audio written
    size: int = 0  # bytes


def to_flac(src: str, dest: str, stream_index: int, max_bytes: int) -> Converted:
    """Decode stream `stream_index` of `src` and write it to `dest` as FLAC.

    Stops as soon as the FLAC grows past `max_bytes` (the refusal says so). A packet that
    doesn't decode is skipped, as a player would; the probe already refused files that don't
    play at their start or end.
    """
    written = 0
    try:
        with av.open(src, metadata_errors="ignore") as source:
            stream = source.streams[stream_index]
            if not isinstance(stream, av.AudioStream):
                return _refused(said(NOT_CONVERTED))
            decoder = stream.codec_context
            decoder.thread_count = 1
            rate = decoder.sample_rate
            if rate > _MAX_RATE:
                rate = _HIGH_RATE_TO
            layout = decoder.layout.name if decoder.layout.nb_channels <= 8 else "stereo"
            with av.open(dest, "w", format="flac") as out:
                flac = out.add_stream("flac", rate=rate)
                flac.codec_context.layout = layout
                flac.codec_context.format = _SAMPLE_FORMAT
                resampler = av.AudioResampler(
                    format=_SAMPLE_FORMAT, layout=layout, rate=rate, frame_size=_FRAME_SAMPLES
                )
                encoded = 0  # bytes of FLAC frames so far: the file is this plus its header
                for frame in decoded_frames(source, stream):
                    try:
                        chunks = resampler.resample(frame)
                    except ValueError:
                        # The decoded frames changed format, layout or rate mid-stream (a
                        # damaged or spliced file): keep what came before, as for packets
                        # that don't decode.
                        break
                    for chunk in chunks:
                        written += chunk.samples
                        packets = flac.encode(chunk)
                        encoded += sum(p.size for p in packets)
                        out.mux(packets)
                    if encoded > max_bytes:
                        return _too_big(max_bytes)
                for chunk in resampler.resample(None):
                    written += chunk.samples
                    out.mux(flac.encode(chunk))
                out.mux(flac.encode(None))
    except av.error.FFmpegError:
        return _refused(said(NOT_CONVERTED))
    size = Path(dest).stat().st_size
    if size > max_bytes:
        return _too_big(max_bytes)
    if written == 0:
        return _refused(said(ZERO_SECONDS))
    return Converted(duration=written / rate, size=size)


def _refused(message: Said) -> Converted:
    return Converted(refusal=message.record())


def _too_big(max_bytes: int) -> Converted:
    # Imported here: the worker process needs no more of bot.core.media.inspect than this.
    from bot.core.media.inspect import describe_size

    return _refused(
        said(
            "That audio has to be converted to FLAC for MusicGPT, and as FLAC it is over the "
            "{limit} limit. Send it as MP3, WAV, FLAC, OGG or M4A.",
            limit=describe_size(max_bytes),
        )
    )
