"""MusicGPTClient against the MusicGPT stand-in (real sockets), and its tolerant parsers."""

from __future__ import annotations

import hashlib
import logging
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.errors import (
    MusicGPTConfigurationError,
    MusicGPTError,
    MusicGPTOutOfCredits,
    MusicGPTSubmitUncertain,
    MusicGPTUnavailable,
    MusicGPTValidationError,
)
from bot.models import AudioSource, ConversionStatus, Gender, Output, TaskKind
from bot.musicgpt import MusicGPTClient, parse_conversion, parse_receipt, parse_retry_after
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
    assert all(o.duration == 2.0 and o.title for o in done.outputs)
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


async def test_429_with_retry_after_is_retried_once_and_creates_one_task(
    client: MusicGPTClient, mg: MusicGPTStandIn, wav: Path
) -> None:
    mg.faults.add("sing", "rate_limit", retry_after="0.3")
    started = time.monotonic()

    receipt = await sing(client, wav)

    assert time.monotonic() - started >= 0.3  # backoff alone would be ~0.01 s
    assert [r.status for r in mg.submits] == [429, 200]
    assert list(mg.tasks) == [receipt.task_id]
    # The retried upload was a fresh, complete copy of the file.
    assert mg.submits[1].upload is not None
    assert mg.submits[1].upload.sha256 == hashlib.sha256(wav.read_bytes()).hexdigest()


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
        caplog.at_level(logging.WARNING, logger="bot.musicgpt"),
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
    mg.faults.add("sing", "rate_limit", retry_after=format_datetime(retry_at, usegmt=True))

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


# --- parsing ------------------------------------------------------------------------------

DOC_EXAMPLE = {
    "success": True,
    "conversion": {
        "task_id": "task-1",
        "conversion_id_1": "c1",
        "conversion_id_2": "c2",
        "status": "COMPLETED",
        "status_msg": "done",
        "conversion_path_1": "https://cdn.example/a.mp3",
        "conversion_path_2": "https://cdn.example/b.mp3",
        "conversion_path_wav_1": "https://cdn.example/a.wav",
        "conversion_path_wav_2": "https://cdn.example/b.wav",
        "conversion_duration_1": 209.8,
        "conversion_duration_2": 232.9,
        "title_1": "First",
        "title_2": "Second",
        "lyrics_1": "…",
        "lyrics_2": "…",
        "album_cover_path": "https://cdn.example/cover.png",
        "conversion_cost": 1.25,
        "createdAt": "2025-01-01T00:00:00Z",
        "updatedAt": "2025-01-01T00:01:00Z",
    },
}


def test_parse_suffixed_by_id_answer() -> None:
    result = parse_conversion(DOC_EXAMPLE)
    assert result.status is ConversionStatus.COMPLETED
    assert result.task_id == "task-1"
    assert result.conversion_ids == ("c1", "c2")
    assert result.message == "done"
    assert result.cost == 1.25
    assert result.outputs == (
        Output("https://cdn.example/a.mp3", "c1", 209.8, "First"),
        Output("https://cdn.example/b.mp3", "c2", 232.9, "Second"),
    )


def test_parse_unsuffixed_webhook() -> None:
    result = parse_conversion(
        {
            "task_id": "task-1",
            "conversion_id": "c2",
            "status": "COMPLETED",
            "conversion_path": "https://cdn.example/b.mp3",
            "conversion_path_wav": "https://cdn.example/b.wav",
            "conversion_duration": 232.9,
            "title": "Second",
            "lyrics": "…",
            "conversion_type": "SING_OVER_INSTRUMENTAL",
        }
    )
    assert result.status is ConversionStatus.COMPLETED
    assert result.conversion_ids == ("c2",)
    assert result.outputs == (Output("https://cdn.example/b.mp3", "c2", 232.9, "Second"),)


def test_parse_audio_url_only_sample() -> None:
    result = parse_conversion(
        {"task_id": "t", "conversion_id": "c", "status": "COMPLETED", "audio_url": "https://x/y"}
    )
    assert result.outputs == (Output("https://x/y", "c", None, None),)


def test_parse_wav_only_output() -> None:
    result = parse_conversion({"status": "COMPLETED", "conversion_path_wav_1": "https://x/a.wav"})
    assert [o.audio_url for o in result.outputs] == ["https://x/a.wav"]


def test_parse_subtype_without_status_is_unknown_and_has_no_outputs() -> None:
    result = parse_conversion(
        {
            "task_id": "t",
            "conversion_id": "c",
            "subtype": "lyrics_timestamped",
            "lyrics_timestamped": '[{"text": "la", "start": 0}]',
            "conversion_path": "https://x/a.mp3",
        }
    )
    assert result.status is ConversionStatus.UNKNOWN
    assert result.outputs == ()
    assert result.task_id == "t"
    assert result.conversion_ids == ("c",)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("COMPLETED", ConversionStatus.COMPLETED),
        (" completed ", ConversionStatus.COMPLETED),
        ("IN_QUEUE", ConversionStatus.IN_QUEUE),
        ("IN_PROGRESS", ConversionStatus.IN_PROGRESS),
        ("ERROR", ConversionStatus.ERROR),
        ("FAILED", ConversionStatus.FAILED),
        ("DONE", ConversionStatus.UNKNOWN),
        ("", ConversionStatus.UNKNOWN),
        (None, ConversionStatus.UNKNOWN),
        (3, ConversionStatus.UNKNOWN),
    ],
)
def test_parse_status_values(raw: Any, expected: ConversionStatus) -> None:
    assert parse_conversion({"status": raw}).status is expected


def test_parse_missing_status_is_unknown() -> None:
    assert parse_conversion({"task_id": "t"}).status is ConversionStatus.UNKNOWN


def test_parse_message_prefers_status_msg() -> None:
    assert parse_conversion({"status_msg": "a", "message": "b"}).message == "a"
    assert parse_conversion({"message": "  b \n c "}).message == "b c"
    assert parse_conversion({"status_msg": 5, "message": "b"}).message == "b"


def test_parse_numbers_sent_as_strings_and_ids_as_numbers() -> None:
    result = parse_conversion(
        {
            "conversion": {
                "task_id": 123,
                "conversion_id_1": 456,
                "status": "COMPLETED",
                "conversion_path_1": "https://x/a.mp3",
                "conversion_duration_1": "209.8",
                "conversion_cost": "1.25",
            }
        }
    )
    assert result.task_id == "123"
    assert result.conversion_ids == ("456",)
    assert result.outputs[0].duration == 209.8
    assert result.cost == 1.25


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "ftp://cdn.example/a.mp3",
        "data:audio/mp3;base64,AAAA",
        "//cdn.example/a.mp3",
        "/a.mp3",
        "http://",
        "https://cdn.example/a b.mp3",
        "https://cdn.example/a\n.mp3",
        "",
        "   ",
        "https://[::1",
    ],
)
def test_parse_drops_non_http_urls(url: str) -> None:
    result = parse_conversion(
        {"status": "COMPLETED", "conversion_path_1": url, "conversion_path": url, "audio_url": url}
    )
    assert result.outputs == ()


def test_parse_keeps_http_and_https() -> None:
    result = parse_conversion(
        {
            "status": "COMPLETED",
            "conversion_path_1": "HTTPS://cdn.example/a.mp3",
            "conversion_path_2": "http://cdn.example/b.mp3",
        }
    )
    assert len(result.outputs) == 2


GARBAGE: list[Any] = [
    None,
    [],
    "COMPLETED",
    42,
    {"conversion": "nope"},
    {"conversion": None, "status": "COMPLETED"},
    {"conversion": []},
    {"status": ["COMPLETED"]},
    {"status": {"value": "COMPLETED"}},
    {"task_id": {"$gt": ""}, "conversion_id_1": ["a"], "conversion_id": True},
    {"task_id": "x" * 10_000},
    {"status": "COMPLETED", "conversion_path_1": 5, "conversion_path_2": None},
    {"status": "COMPLETED", "conversion_path_1": "https://x/a", "conversion_duration_1": "abc"},
    {"status": "COMPLETED", "conversion_path_1": "https://x/a", "conversion_duration_1": {}},
    {"status": "COMPLETED", "conversion_path_1": "https://x/a", "conversion_duration_1": -3},
    {"status": "COMPLETED", "conversion_path_1": "https://x/a", "conversion_duration_1": True},
    {"status": "COMPLETED", "conversion_path_1": "https://x/a", "conversion_duration_1": 10**400},
    {"conversion_cost": "1e999"},
    {"conversion_cost": float("nan")},
    {"conversion_cost": "9" * 5000},
    {"title_1": ["x"], "conversion_path_1": "https://x/a"},
    {"status_msg": {"a": 1}, "message": ["b"]},
    {1: "COMPLETED", None: "x"},
    {"subtype": None},
    {"conversion": {"conversion": {"status": "COMPLETED"}}},
]


@pytest.mark.parametrize("payload", GARBAGE)
def test_parse_never_raises_on_garbage(payload: Any) -> None:
    result = parse_conversion(payload)
    assert isinstance(result.status, ConversionStatus)
    for output in result.outputs:
        assert output.audio_url.lower().startswith(("http://", "https://"))
        assert output.duration is None or output.duration >= 0
    assert result.cost is None or result.cost == result.cost  # never NaN


def test_parse_garbage_loses_only_the_bad_parts() -> None:
    result = parse_conversion(
        {
            "status": "COMPLETED",
            "conversion_path_1": "https://x/a",
            "conversion_duration_1": "abc",
            "title_1": ["x"],
        }
    )
    assert result.outputs == (Output("https://x/a", None, None, None),)


def test_parse_receipt_is_tolerant() -> None:
    receipt = parse_receipt(
        {
            "success": True,
            "message": "ok",
            "task_id": "t-1",
            "conversion_id_1": "c1",
            "conversion_id_2": None,
            "eta": "44.6",
            "credit_estimate": "50",
        }
    )
    assert receipt is not None
    assert receipt.task_id == "t-1"
    assert receipt.conversion_ids == ("c1",)
    assert receipt.eta_seconds == 45
    assert receipt.credit_estimate == 50.0
    assert receipt.message == "ok"


@pytest.mark.parametrize(
    "payload",
    [None, [], {}, {"task_id": ""}, {"task_id": None}, {"task_id": ["t"]}, {"success": True}],
)
def test_parse_receipt_without_task_id_is_none(payload: Any) -> None:
    assert parse_receipt(payload) is None


def test_parse_receipt_garbage_numbers() -> None:
    receipt = parse_receipt({"task_id": "t", "eta": [1], "credit_estimate": "lots"})
    assert receipt is not None
    assert receipt.eta_seconds is None
    assert receipt.credit_estimate is None


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
