"""Fuzzing the audio checks: real encoded files, cut, flipped and stuffed, each gets a verdict.

The property: whatever the bytes, `inspect_audio_async` returns an AudioInfo or raises
AudioRejected, within the worker's bounds; never another exception, never a hang, and never
a bug of ours inside the worker (logged as an error). A few seconds in `make test`;
`make fuzz` runs the `fuzz` profile (HYPOTHESIS_PROFILE=fuzz), thousands of examples.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.core.errors import AudioRejected
from bot.core.media.inspect import CONVERT_LIMITS, PROBE_LIMITS, AudioInfo, inspect_audio_async
from bot.core.media.worker import MediaWorker
from tests.support.media import Fixtures

# `make test` runs the same 24 examples every time (a CI run must not fail by luck); what a
# `make fuzz` run finds becomes an @example below.
settings.register_profile(
    "default",
    max_examples=24,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

SEEDS = ["mp3", "flac", "opus.ogg", "aac.m4a", "s16.wav", "ima.wav", "wma", "webm", "adts.aac"]
LIMIT = 25 * 1024 * 1024
# Bytes worth inserting: empty chunks and boxes of the formats, and sync words.
STUFFING = [
    b"JUNK\x00\x00\x00\x00",
    b"\x01\x00\x00\x00",  # a FLAC PADDING block header
    b"\x00\x00\x00\x08free",
    b"\xff\xfb\x90\x00",  # an MP3 frame header
    b"OggS\x00",
    b"\xff\xf1",  # ADTS sync
    b"data\xff\xff\xff\xff",
]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    media = Fixtures(tmp_path_factory.mktemp("fuzz-seeds"))
    return {name: media.bytes(name, 1.0) for name in SEEDS}


def mutations() -> st.SearchStrategy[list[tuple[str, float, bytes]]]:
    """Edits as (kind, where as a fraction of the file, bytes)."""
    where = st.floats(min_value=0, max_value=1, allow_nan=False)
    edit = st.one_of(
        st.tuples(st.just("cut"), where, st.just(b"")),
        st.tuples(st.just("flip"), where, st.binary(min_size=1, max_size=8)),
        st.tuples(
            st.just("insert"),
            where,
            st.one_of(
                st.sampled_from(STUFFING).flatmap(
                    lambda b: st.integers(1, 64).map(lambda n: b * n)
                ),
                st.binary(min_size=1, max_size=64),
            ),
        ),
    )
    return st.lists(edit, min_size=1, max_size=4)


def mutate(data: bytes, edits: list[tuple[str, float, bytes]]) -> bytes:
    out = bytearray(data)
    for kind, where, payload in edits:
        at = int(where * len(out))
        if kind == "cut":
            del out[at:]
        elif kind == "flip":
            for i, mask in enumerate(payload[: len(out) - at]):
                out[at + i] ^= mask
        else:
            out[at:at] = payload
    return bytes(out)


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _verdict(path: Path) -> AudioInfo | AudioRejected:
    async with MediaWorker() as worker:
        try:
            return await inspect_audio_async(path, max_bytes=LIMIT, worker=worker)
        except AudioRejected as refused:
            return refused


@given(name=st.sampled_from(SEEDS), edits=mutations())
# Found by CI: junk before an MP3 made FFmpeg's decoded frames change format mid-stream, and
# the converter's resampler raised instead of keeping what came before.
@example(name="mp3", edits=[("cut", 0.125, b""), ("insert", 0.0, b"data\xff\xff\xff\xff" * 26)])
def test_every_mutated_file_gets_a_verdict(
    seeds: dict[str, bytes], name: str, edits: list[tuple[str, float, bytes]]
) -> None:
    errors = _Errors()
    logger = logging.getLogger("bot.core.media")
    logger.addHandler(errors)
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "upload.bin"
            path.write_bytes(mutate(seeds[name], edits))
            start = time.perf_counter()
            verdict = asyncio.run(_verdict(path))
            took = time.perf_counter() - start
    finally:
        logger.removeHandler(errors)
    assert isinstance(verdict, AudioInfo | AudioRejected)
    if isinstance(verdict, AudioInfo):
        assert verdict.duration > 0 and verdict.size > 0
    else:
        assert verdict.user_message and len(verdict.user_message) < 200
    assert took < PROBE_LIMITS.wall_seconds + CONVERT_LIMITS.wall_seconds
    assert [r.getMessage() for r in errors.records] == []
