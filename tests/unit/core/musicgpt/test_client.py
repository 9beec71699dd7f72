"""MusicGPTClient against the MusicGPT stand-in (real sockets), and `parse_retry_after`.

The tolerant parsers of MusicGPT's answers are tested in test_musicgpt_parse.py.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.core.errors import (
    MusicGPTConfigurationError,
    MusicGPTError,
    MusicGPTOutOfCredits,
    MusicGPTRateLimited,
    MusicGPTSubmitConflict,
    MusicGPTSubmitUncertain,
    MusicGPTUnavailable,
    MusicGPTValidationError,
)
from bot.core.models import AudioSource, ConversionStatus, Gender, TaskKind
from bot.core.musicgpt.client import UPLOAD_CHUNK, MusicGPTClient, parse_retry_after
from bot.core.musicgpt.wire import build_form
from tests.standins.audio_gen import write_large_wav, write_sine_wav
from tests.standins.musicgpt import HOLD, MusicGPTStandIn

API_KEY = "sk-test-0123456789-SECRET"


@pytest.fixture
async def mg() -> AsyncIterator[MusicGPTStandIn]:
    async with MusicGPTStandIn(api_key=API_KEY, delay=0.2) as standin:
        yield standin


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


def make_client(session: aiohttp.ClientSession, base_url: str, **overrides: Any) -> MusicGPTClient:
    options: dict[str, Any] = {
        "backoff_base": 0.01,
        "backoff_max": 0.05,
        "request_timeout": 5.0,
        "upload_timeout": 10.0,
        "connect_timeout": 2.0,
    }
    options.update(overrides)
    api_key = options.pop("api_key", API_KEY)
    return MusicGPTClient(session, base_url, api_key, **options)


@pytest.fixture
def client(session: aiohttp.ClientSession, mg: MusicGPTStandIn) -> MusicGPTClient:
    return make_client(session, mg.base_url)


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    return write_sine_wav(tmp_path / "instrumental.wav", seconds=1.5, frequency=330.0)


async def sing(client: MusicGPTClient, wav: Path, **overrides: Any):
    args: dict[str, Any] = {
        "prompt": "Soft vocals",
        "lyrics": "la la la",
        "gender": None,
        "audio": AudioSource(path=str(wav)),
        "webhook_url": None,
    }
    args.update(overrides)
    return await client.submit_sing(**args)


# --- submitting ---------------------------------------------------------------------------


async def test_an_upload_streams_its_file_in_bounded_chunks(tmp_path: Path) -> None:
    """Bench figure 2: several 25 MB submits go out at once, so each holds one small chunk
    at a time (aiohttp's own file reads were 256 KB); and the length is known beforehand."""
    content = os.urandom(3 * UPLOAD_CHUNK + 123)
    path = tmp_path / "instrumental.wav"
    path.write_bytes(content)
    writes: list[bytes] = []

    class Recorder:
        async def write(self, chunk: bytes) -> None:
            writes.append(bytes(chunk))

    async with AsyncExitStack() as stack:
        body = (await build_form({"prompt": "p"}, AudioSource(path=str(path)), stack))()
        await body.write(Recorder())  # type: ignore[arg-type]
    sent = b"".join(writes)
    assert content in sent
    assert len(sent) == body.size  # the Content-Length aiohttp sends is exact
    assert UPLOAD_CHUNK <= 64 * 1024
    assert max(len(chunk) for chunk in writes) <= UPLOAD_CHUNK


async def test_sing_with_file_uploads_exact_bytes_and_fields(
    client: MusicGPTClient, mg: MusicGPTStandIn, wav: Path
) -> None:
    receipt = await sing(
        client,
        wav,
        prompt="Emotional vocals over soft piano",
        lyrics="Never mind, I'll find someone like you",
        gender=Gender.FEMALE,
        webhook_url="https://bot.example/hooks/abc",
    )

    [record] = mg.submits
    assert record.endpoint == "sing_over_instrumental"
    assert record.authorized
    assert record.fields == {
        "prompt": "Emotional vocals over soft piano",
        "lyrics": "Never mind, I'll find someone like you",
        "gender": "female",
        "webhook_url": "https://bot.example/hooks/abc",
    }
    assert record.upload is not None
    assert record.upload.filename == "instrumental.wav"
    assert record.upload.size == wav.stat().st_size
    assert record.upload.sha256 == hashlib.sha256(wav.read_bytes()).hexdigest()
    assert record.headers["Content-Type"].startswith("multipart/form-data")
    assert "Content-Length" in record.headers  # a known length, not a chunked upload

    task = mg.tasks[receipt.task_id]
    assert receipt.conversion_ids == tuple(task.conversion_ids)
    assert len(receipt.conversion_ids) == 2
    assert isinstance(receipt.eta_seconds, int)
    assert receipt.credit_estimate == 50.0


async def test_sing_with_url_sends_audio_url_and_omits_unset_fields(
    client: MusicGPTClient, mg: MusicGPTStandIn
) -> None:
    await client.submit_sing(
        prompt="Rock vocals",
        lyrics="Hey",
        gender=None,
        audio=AudioSource(url="https://cdn.example/beat.mp3"),
        webhook_url=None,
    )

    [record] = mg.submits
    assert record.upload is None
    assert record.fields == {
        "prompt": "Rock vocals",
        "lyrics": "Hey",
        "audio_url": "https://cdn.example/beat.mp3",
    }
    assert record.headers["Content-Type"].startswith("multipart/form-data")


async def test_inpaint_sends_every_field_as_plain_text(
    client: MusicGPTClient, mg: MusicGPTStandIn, wav: Path
) -> None:
    receipt = await client.submit_inpaint(
        prompt="Opera-style vocal",
        replace_start=12.5,
        replace_end=20.0,
        lyrics="This is where my story begins",
        lyrics_section_to_replace="my story",
        gender=Gender.MALE,
        num_outputs=1,
        audio=AudioSource(path=str(wav)),
        webhook_url="https://bot.example/hooks/x",
    )

    [record] = mg.submits
    assert record.endpoint == "inpaint"
    assert record.fields == {
        "prompt": "Opera-style vocal",
        "replace_start_at": "12.5",
        "replace_end_at": "20",
        "lyrics": "This is where my story begins",
        "lyrics_section_to_replace": "my story",
        "gender": "male",
        "num_outputs": "1",
        "webhook_url": "https://bot.example/hooks/x",
    }
    assert record.upload is not None
    assert record.upload.sha256 == hashlib.sha256(wav.read_bytes()).hexdigest()
    assert len(receipt.conversion_ids) == 1


async def test_inpaint_by_url_without_optional_fields(
    client: MusicGPTClient, mg: MusicGPTStandIn
) -> None:
    receipt = await client.submit_inpaint(
        prompt="Guitar solo",
        replace_start=0,
        replace_end=0.25,
        lyrics=None,
        lyrics_section_to_replace=None,
        gender=None,
        num_outputs=2,
        audio=AudioSource(url="https://cdn.example/song.mp3"),
        webhook_url=None,
    )

    assert mg.submits[0].fields == {
        "prompt": "Guitar solo",
        "replace_start_at": "0",
        "replace_end_at": "0.25",
        "num_outputs": "2",
        "audio_url": "https://cdn.example/song.mp3",
    }
    assert len(receipt.conversion_ids) == 2


async def test_inpaint_refuses_non_finite_times_before_sending(
    client: MusicGPTClient, mg: MusicGPTStandIn
) -> None:
    with pytest.raises(ValueError, match="replace_end"):
        await client.submit_inpaint(
            prompt="x",
            replace_start=1.0,
            replace_end=float("nan"),
            lyrics=None,
            lyrics_section_to_replace=None,
            gender=None,
            num_outputs=1,
            audio=AudioSource(url="https://cdn.example/song.mp3"),
            webhook_url=None,
        )
    assert mg.submits == []


async def extend(client: MusicGPTClient, audio: AudioSource, **overrides: Any):
    args: dict[str, Any] = {
        "prompt": "Folk, the next verse",
        "extend_after": 0.5,
        "lyrics": None,
        "gender": None,
        "audio": audio,
        "webhook_url": None,
    }
    args.update(overrides)
    return await client.submit_extend(**args)


async def test_extend_streams_the_file_and_sends_every_field_as_plain_text(
    client: MusicGPTClient, mg: MusicGPTStandIn, wav: Path
) -> None:
    receipt = await extend(
        client,
        AudioSource(path=str(wav)),
        extend_after=75.5,
        lyrics="and the road goes on",
        gender=Gender.NEUTRAL,
        webhook_url="https://bot.example/hooks/e",
    )

    [record] = mg.submits
    assert record.endpoint == "extend"
    assert record.fields == {
        "prompt": "Folk, the next verse",
        "extend_after": "75.5",
        "lyrics": "and the road goes on",
        "gender": "neutral",
        "webhook_url": "https://bot.example/hooks/e",
    }
    assert record.upload is not None
    assert record.upload.filename == "instrumental.wav"
    assert record.upload.sha256 == hashlib.sha256(wav.read_bytes()).hexdigest()
    assert "Content-Length" in record.headers  # streamed from disk with a known length
    assert len(receipt.conversion_ids) == 2  # extend always makes two takes


async def test_extend_by_url_without_optional_fields(
    client: MusicGPTClient, mg: MusicGPTStandIn
) -> None:
    await extend(client, AudioSource(url="https://cdn.example/song.mp3"), extend_after=90)
    assert mg.submits[0].fields == {
        "prompt": "Folk, the next verse",
        "extend_after": "90",
        "audio_url": "https://cdn.example/song.mp3",
    }


@pytest.mark.parametrize("after", [float("nan"), float("inf"), -1.0])
async def test_extend_refuses_a_bad_extend_after_before_sending(
    client: MusicGPTClient, mg: MusicGPTStandIn, after: float
) -> None:
    with pytest.raises(ValueError, match="extend_after"):
        await extend(client, AudioSource(url="https://cdn.example/song.mp3"), extend_after=after)
    assert mg.submits == []


async def test_extend_submit_is_retried_only_when_musicgpt_certainly_did_not_take_it(
    client: MusicGPTClient, mg: MusicGPTStandIn, wav: Path
) -> None:
    mg.faults.add("extend", "unavailable", count=2)  # 503: nobody took it
    receipt = await extend(client, AudioSource(path=str(wav)))
    assert [r.status for r in mg.submits] == [503, 503, 200]
    assert list(mg.tasks) == [receipt.task_id]

    mg.faults.add("extend", "server_error", after_accept=True)  # 500: it may have
    with pytest.raises(MusicGPTSubmitUncertain):
        await extend(client, AudioSource(path=str(wav)))
    assert len(mg.submits) == 4
    assert len(mg.tasks) == 2  # taken once, never twice

    mg.faults.add("extend", "rate_limit", retry_after=7)  # 429: the tracker paces itself
    with pytest.raises(MusicGPTRateLimited):
        await extend(client, AudioSource(path=str(wav)))
    assert len(mg.submits) == 5

    mg.faults.add("extend", "validation", message="extend_after is past the song's end")
    with pytest.raises(MusicGPTValidationError) as caught:
        await extend(client, AudioSource(path=str(wav)))
    assert caught.value.user_message == "extend_after is past the song's end"


async def test_extend_status_is_polled_as_extend(
    client: MusicGPTClient, mg: MusicGPTStandIn, wav: Path
) -> None:
    mg.script_delays(HOLD)
    receipt = await extend(client, AudioSource(path=str(wav)), extend_after=1.0)

    pending = await client.get_conversion(TaskKind.EXTEND, task_id=receipt.task_id)
    assert not pending.status.is_final
    assert mg.by_id_requests[-1].query == {"conversionType": "EXTEND", "task_id": receipt.task_id}

    mg.complete_task(receipt.task_id)
    await mg.wait_task_final(receipt.task_id)
    done = await client.get_conversion(TaskKind.EXTEND, conversion_id=receipt.conversion_ids[0])
    assert done.status is ConversionStatus.COMPLETED
    assert done.task_id == receipt.task_id
    assert [o.conversion_id for o in done.outputs] == list(receipt.conversion_ids)
    assert all(o.duration == 3.0 for o in done.outputs)  # 1 s of the song, 2 s new
    with pytest.raises(MusicGPTError, match="404"):  # not an inpaint
        await client.get_conversion(TaskKind.INPAINT, task_id=receipt.task_id)


# --- polling ------------------------------------------------------------------------------


async def test_get_conversion_before_and_after_completion(
    client: MusicGPTClient, mg: MusicGPTStandIn, wav: Path, session: aiohttp.ClientSession
) -> None:
    mg.script_delays(HOLD)
    receipt = await sing(client, wav, lyrics="words to sing")

    pending = await client.get_conversion(TaskKind.SING, task_id=receipt.task_id)
    assert pending.status in (ConversionStatus.IN_QUEUE, ConversionStatus.IN_PROGRESS)
    assert not pending.status.is_final
    assert pending.task_id == receipt.task_id
    assert pending.conversion_ids == receipt.conversion_ids
    assert pending.outputs == ()

    mg.complete_task(receipt.task_id)
    await mg.wait_task_final(receipt.task_id)

    done = await client.get_conversion(TaskKind.SING, task_id=receipt.task_id)
    assert done.status is ConversionStatus.COMPLETED
    assert done.cost == 1.25
    assert [o.conversion_id for o in done.outputs] == list(receipt.conversion_ids)
    assert all(o.duration == 1.5 and o.title for o in done.outputs)  # the instrumental's length
    bodies = []
    for output in done.outputs:
        assert output.audio_url.startswith(mg.origin + "/files/")
        async with session.get(output.audio_url) as resp:
            assert resp.status == 200
            bodies.append(await resp.read())
    assert all(body[:4] == b"RIFF" and body[8:12] == b"WAVE" for body in bodies)
    assert bodies[0] != bodies[1]

    by_conversion = await client.get_conversion(
        TaskKind.SING, conversion_id=receipt.conversion_ids[1]
    )
    assert by_conversion.status is ConversionStatus.COMPLETED
    assert by_conversion.task_id == receipt.task_id
    assert mg.by_id_requests[-1].query == {
        "conversionType": "SING_OVER_INSTRUMENTAL",
        "conversion_id": receipt.conversion_ids[1],
    }


async def test_failed_task_reports_its_message(
    client: MusicGPTClient, mg: MusicGPTStandIn, wav: Path
) -> None:
    mg.fail_next_task("Vocals could not be generated")
    receipt = await sing(client, wav)
    await mg.wait_task_final(receipt.task_id)

    result = await client.get_conversion(TaskKind.SING, task_id=receipt.task_id)

    assert result.status is ConversionStatus.FAILED
    assert result.status.is_failure
    assert result.message == "Vocals could not be generated"
    assert result.outputs == ()


async def test_unknown_task_is_a_plain_musicgpt_error(client: MusicGPTClient) -> None:
    with pytest.raises(MusicGPTError) as caught:
        await client.get_conversion(TaskKind.INPAINT, task_id="task-nope")
    assert type(caught.value) is MusicGPTError
    assert "404" in str(caught.value)


async def test_get_conversion_needs_an_id(client: MusicGPTClient) -> None:
    with pytest.raises(ValueError, match="task_id or conversion_id"):
        await client.get_conversion(TaskKind.SING)


# --- errors -------------------------------------------------------------------------------


async def test_422_text_is_shown_to_the_user(
    client: MusicGPTClient, mg: MusicGPTStandIn, wav: Path
) -> None:
    mg.faults.add("sing", "validation", message="Lyrics contain disallowed words.")
    with pytest.raises(MusicGPTValidationError) as caught:
        await sing(client, wav)
    assert caught.value.user_message == "Lyrics contain disallowed words."


async def test_422_from_real_validation_and_long_texts_are_trimmed(
    client: MusicGPTClient, mg: MusicGPTStandIn, wav: Path
) -> None:
    with pytest.raises(MusicGPTValidationError, match="lyrics must be at most 2000"):
        await sing(client, wav, lyrics="a" * 2001)

    mg.faults.add("sing", "validation", message="x" * 5000)
    with pytest.raises(MusicGPTValidationError) as caught:
        await sing(client, wav)
    assert len(caught.value.user_message) <= 300


async def test_bad_key_is_a_configuration_error(
    session: aiohttp.ClientSession, mg: MusicGPTStandIn, wav: Path
) -> None:
    client = make_client(session, mg.base_url, api_key="wrong-key")
    with pytest.raises(MusicGPTConfigurationError):
        await sing(client, wav)
    with pytest.raises(MusicGPTConfigurationError):
        await client.get_conversion(TaskKind.SING, task_id="task-x")
    assert [r.status for r in mg.submits] == [401]
    assert mg.tasks == {}


async def test_403_is_a_configuration_error(
    client: MusicGPTClient, mg: MusicGPTStandIn, wav: Path
) -> None:
    mg.faults.add("sing", "status", status=403, message="Forbidden")
    with pytest.raises(MusicGPTConfigurationError):
        await sing(client, wav)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (402, "Payment Required"),
        (403, "Not enough credits for this request"),
        (400, "Insufficient credit balance"),
        (429, "You have used all your credits"),
    ],
)
async def test_out_of_credits(
    client: MusicGPTClient, mg: MusicGPTStandIn, wav: Path, status: int, message: str
) -> None:
    mg.faults.add("sing", "status", status=status, message=message)
    with pytest.raises(MusicGPTOutOfCredits):
        await sing(client, wav)
    assert len(mg.submits) == 1  # not retried: waiting doesn't buy credits


async def test_other_4xx_is_a_musicgpt_error_with_its_text(
    client: MusicGPTClient, mg: MusicGPTStandIn, wav: Path
) -> None:
    mg.faults.add("sing", "status", status=400, message="Unsupported audio format")
    with pytest.raises(MusicGPTError, match="Unsupported audio format") as caught:
        await sing(client, wav)
    assert type(caught.value) is MusicGPTError


# --- retries and submit safety -----------------------------------------------------------


async def test_429_is_raised_at_once_with_its_retry_after_for_the_tracker_to_pace(
    session: aiohttp.ClientSession, mg: MusicGPTStandIn, wav: Path
) -> None:
    mg.faults.add("sing", "rate_limit", retry_after="7")
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    client = make_client(session, mg.base_url, sleep=record)
    with pytest.raises(MusicGPTRateLimited) as caught:
        await sing(client, wav)
    assert caught.value.retry_after == pytest.approx(7)
    assert waits == [] and [r.status for r in mg.submits] == [429] and mg.tasks == {}

    mg.faults.add("byId", "rate_limit")
    with pytest.raises(MusicGPTRateLimited) as caught:
        await client.get_conversion(TaskKind.SING, task_id="task-x")
    assert caught.value.retry_after is None and len(mg.by_id_requests) == 1


async def test_409_on_submit_may_already_exist_and_is_never_retried(
    client: MusicGPTClient, mg: MusicGPTStandIn, wav: Path
) -> None:
    mg.faults.add("sing", "status", status=409, message="Attempt to create a duplicate")
    with pytest.raises(MusicGPTSubmitConflict, match="duplicate") as caught:
        await sing(client, wav)
    assert isinstance(caught.value, MusicGPTSubmitUncertain)  # handled as "may have taken it"
    assert len(mg.submits) == 1


async def test_a_429_from_the_plans_parallel_limit_creates_nothing(
    client: MusicGPTClient, mg: MusicGPTStandIn, wav: Path
) -> None:
    mg.max_running = 1
    mg.script_delays(HOLD)
    first = await sing(client, wav)
    with pytest.raises(MusicGPTRateLimited):
        await sing(client, wav)
    assert list(mg.tasks) == [first.task_id]
    assert [r.in_flight for r in mg.submits] == [1, 2]
    mg.complete_task(first.task_id)
    await mg.wait_task_final(first.task_id)
    await sing(client, wav)  # a place is free again
    assert len(mg.tasks) == 2


async def test_the_key_check_tells_a_good_key_from_a_refused_one(
    session: aiohttp.ClientSession, mg: MusicGPTStandIn
) -> None:
    good = await make_client(session, mg.base_url).check_key()
    assert (good.accepted, good.status) == (True, 404)  # no such task, but the key was taken
    bad = await make_client(session, mg.base_url, api_key="wrong").check_key()
    assert (bad.accepted, bad.status, bad.reason) == (False, 401, "HTTP 401")
    mg.faults.add("byId", "status", status=403, message="Forbidden")
    forbidden = await make_client(session, mg.base_url).check_key()
    assert (forbidden.accepted, forbidden.status) == (False, 403)
    mg.faults.add("byId", "unavailable")
    busy = await make_client(session, mg.base_url).check_key()
    assert (busy.accepted, busy.status) == (None, 503)
    assert len(mg.by_id_requests) == 4  # one call each, never retried


async def test_the_key_check_gives_no_verdict_when_musicgpt_is_unreachable(
    session: aiohttp.ClientSession,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    verdict = await make_client(session, f"http://127.0.0.1:{port}/api").check_key()
    assert verdict.accepted is None and verdict.status is None
    assert "could not connect" in verdict.reason


async def test_503_on_submit_is_retried(
    client: MusicGPTClient, mg: MusicGPTStandIn, wav: Path
) -> None:
    mg.faults.add("submit", "unavailable", count=2)
    receipt = await sing(client, wav)
    assert [r.status for r in mg.submits] == [503, 503, 200]
    assert list(mg.tasks) == [receipt.task_id]


@pytest.mark.parametrize("status", [500, 502, 504, 303])
async def test_server_error_on_submit_is_uncertain_and_not_retried(
    client: MusicGPTClient, mg: MusicGPTStandIn, wav: Path, status: int
) -> None:
    mg.faults.add("sing", "server_error", status=status, after_accept=True)
    with pytest.raises(MusicGPTSubmitUncertain):
        await sing(client, wav)
    assert len(mg.submits) == 1
    assert len(mg.tasks) == 1  # it was in fact accepted: retrying would have charged twice


async def test_redirect_on_status_check_is_not_followed(
    client: MusicGPTClient, mg: MusicGPTStandIn
) -> None:
    mg.faults.add("byId", "status", status=307, message="moved")
    with pytest.raises(MusicGPTError, match="HTTP 307"):
        await client.get_conversion(TaskKind.SING, task_id="task-x")
    assert len(mg.by_id_requests) == 1


async def test_connection_dropped_after_upload_is_uncertain(
    client: MusicGPTClient, mg: MusicGPTStandIn, wav: Path
) -> None:
    mg.faults.add("sing", "drop", after_accept=True)
    with pytest.raises(MusicGPTSubmitUncertain, match="may or may not"):
        await sing(client, wav)
    assert len(mg.submits) == 1


async def test_timeout_waiting_for_submit_answer_is_uncertain(
    session: aiohttp.ClientSession, mg: MusicGPTStandIn, wav: Path
) -> None:
    client = make_client(session, mg.base_url, upload_timeout=0.5)
    mg.faults.add("sing", "slow", seconds=2.0)
    with pytest.raises(MusicGPTSubmitUncertain):
        await sing(client, wav)
    assert len(mg.submits) == 1


async def test_reset_during_upload_is_retried(
    client: MusicGPTClient, mg: MusicGPTStandIn, tmp_path: Path
) -> None:
    # Big enough that the body can't all sit in socket buffers when the server hangs up:
    # the upload provably did not finish, so MusicGPT cannot have a complete request.
    big = write_large_wav(tmp_path / "big.wav", 24 * 1024 * 1024)
    mg.faults.add("sing", "reset")

    receipt = await sing(client, big)

    assert [r.status for r in mg.submits] == [None, 200]
    assert list(mg.tasks) == [receipt.task_id]
    assert mg.submits[1].upload is not None
    assert mg.submits[1].upload.size == big.stat().st_size


async def test_connect_failure_is_retried_then_unavailable(
    session: aiohttp.ClientSession, wav: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(session, f"http://127.0.0.1:{port}/api/public", max_attempts=3)

    with (
        caplog.at_level(logging.WARNING, logger="bot.core.musicgpt.client"),
        pytest.raises(MusicGPTUnavailable, match=r"after 3 attempts.*could not connect"),
    ):
        await sing(client, wav)
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 2


async def test_dropped_connection_on_status_check_is_retried(
    client: MusicGPTClient, mg: MusicGPTStandIn, wav: Path
) -> None:
    receipt = await sing(client, wav)
    mg.faults.add("byId", "drop", count=2)

    result = await client.get_conversion(TaskKind.SING, task_id=receipt.task_id)

    assert result.task_id == receipt.task_id
    assert len(mg.by_id_requests) == 3


async def test_status_check_retries_are_bounded(
    session: aiohttp.ClientSession, mg: MusicGPTStandIn
) -> None:
    client = make_client(session, mg.base_url, max_attempts=4)
    mg.faults.add("byId", "server_error", count=None)

    with pytest.raises(MusicGPTUnavailable, match="status check failed after 4 attempts"):
        await client.get_conversion(TaskKind.SING, task_id="task-x")
    assert len(mg.by_id_requests) == 4


async def test_retry_after_beyond_the_limit_gives_up_at_once(
    session: aiohttp.ClientSession, mg: MusicGPTStandIn, wav: Path
) -> None:
    client = make_client(session, mg.base_url, max_retry_after=10.0)
    retry_at = datetime.now(UTC) + timedelta(hours=1)
    mg.faults.add("sing", "unavailable", retry_after=format_datetime(retry_at, usegmt=True))

    with pytest.raises(MusicGPTUnavailable, match="asked us to wait"):
        await sing(client, wav)
    assert len(mg.submits) == 1


async def test_api_key_never_shows(
    session: aiohttp.ClientSession,
    mg: MusicGPTStandIn,
    wav: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(session, mg.base_url, max_attempts=2)
    assert API_KEY not in repr(client)
    assert API_KEY not in str(client)
    assert API_KEY not in repr(vars(client))

    mg.faults.add("sing", "validation", message=f"Bad header Authorization: {API_KEY}")
    mg.faults.add("sing", "server_error")
    mg.faults.add("sing", "drop")
    mg.faults.add("byId", "server_error", count=None)
    errors: list[BaseException] = []
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            with pytest.raises(MusicGPTError) as caught:
                await sing(client, wav)
            errors.append(caught.value)
        with pytest.raises(MusicGPTUnavailable) as caught:
            await client.get_conversion(TaskKind.SING, task_id="task-x")
        errors.append(caught.value)
        wrong = make_client(session, mg.base_url, api_key=API_KEY + "-wrong")
        with pytest.raises(MusicGPTConfigurationError) as caught:
            await sing(wrong, wav)
        errors.append(caught.value)

    assert "<redacted>" in str(errors[0])
    for error in errors:
        chain: BaseException | None = error
        while chain is not None:
            assert API_KEY not in str(chain)
            assert API_KEY not in repr(chain)
            chain = chain.__cause__ or chain.__context__
    assert API_KEY not in caplog.text


# --- Retry-After --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [("3", 3.0), (" 1.5 ", 1.5), ("-4", 0.0), ("soon", None), ("", None), ("nan", None)],
)
def test_parse_retry_after_seconds(header: str, expected: float | None) -> None:
    assert parse_retry_after({"Retry-After": header}) == expected


def test_parse_retry_after_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    seconds = parse_retry_after({"Retry-After": format_datetime(when, usegmt=True)})
    assert seconds is not None
    assert 100 < seconds <= 120
    assert parse_retry_after({}) is None
