"""bot.core.musicgpt.parse: MusicGPT's answers and webhook bodies, in every shape and as garbage."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.models import ConversionStatus, Output
from bot.core.musicgpt.parse import parse_conversion, parse_receipt

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
