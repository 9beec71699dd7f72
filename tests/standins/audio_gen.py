"""Real, small WAV audio for tests and stand-ins, made with the standard library only."""

from __future__ import annotations

import io
import math
import struct
import wave
from pathlib import Path

SAMPLE_RATE = 8000  # plenty for a test tone, and keeps files small (16 KB a second)


def sine_wav_bytes(
    *, seconds: float = 2.0, frequency: float = 440.0, sample_rate: int = SAMPLE_RATE
) -> bytes:
    """A mono 16-bit sine tone as WAV bytes; different frequencies give different bytes.

    About a second of whole periods is computed and repeated, so a song-length tone (a
    stand-in's take of a 4-minute upload) costs no more than a second's."""
    frames = int(seconds * sample_rate)
    amplitude = 0.4 * 32767
    tile_frames = max(1, round(max(1, round(frequency)) * sample_rate / frequency))
    tile = struct.pack(
        f"<{tile_frames}h",
        *(
            int(amplitude * math.sin(2 * math.pi * frequency * i / sample_rate))
            for i in range(tile_frames)
        ),
    )
    repeats, rest = divmod(frames, tile_frames)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(tile * repeats + tile[: rest * 2])
    return buffer.getvalue()


def write_sine_wav(path: Path, *, seconds: float = 2.0, frequency: float = 440.0) -> Path:
    path.write_bytes(sine_wav_bytes(seconds=seconds, frequency=frequency))
    return path


def write_large_wav(path: Path, size_bytes: int, *, sample_rate: int = 44100) -> Path:
    """A valid WAV of about `size_bytes`, written in chunks (a quiet ramp, not silence,
    so compression in transit can't cheat). Never holds the whole file in memory."""
    frame_count = max(0, (size_bytes - 44) // 2)
    chunk_frames = 1 << 16
    ramp = struct.pack(f"<{chunk_frames}h", *((i % 2000) - 1000 for i in range(chunk_frames)))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        written = 0
        while written < frame_count:
            count = min(chunk_frames, frame_count - written)
            wav.writeframes(ramp[: count * 2])
            written += count
    return path
