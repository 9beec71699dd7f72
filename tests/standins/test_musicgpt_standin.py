"""The MusicGPT stand-in itself: auth, validation against the spec, lifecycle, webhooks."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import subprocess
import sys
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters

from bot.core.models import ConversionStatus
from bot.core.musicgpt.parse import parse_conversion
from tests.standins.audio_gen import sine_wav_bytes
from tests.standins.musicgpt import (
    HOLD,
    SPEC_PATH,
    MusicGPTStandIn,
    SpecRequest,
    StandInTask,
)

KEY = "standin-key"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def mg() -> AsyncIterator[MusicGPTStandIn]:
    async with MusicGPTStandIn(api_key=KEY, delay=0.1) as standin:
        yield standin


@dataclass
class Receiver:
    """A little webhook endpoint that keeps what it is sent."""

    url: str
    received: list[dict[str, Any]]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield Receiver(f"http://127.0.0.1:{port}/hook", received)
    await runner.cleanup()


def form(fields: dict[str, str], audio: bytes | None = b"RIFF....WAVE") -> aiohttp.FormData:
    data = aiohttp.FormData(default_to_multipart=True)
    for name, value in fields.items():
        data.add_field(name, value)
    if audio is not None:
        data.add_field("audio_file", audio, filename="a.wav", content_type="audio/wav")
    return data


async def post(
    http: aiohttp.ClientSession,
    mg: MusicGPTStandIn,
    endpoint: str,
    data: Any,
    *,
    key: str | None = KEY,
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": key} if key is not None else {}
    async with http.post(f"{mg.base_url}/v1/{endpoint}", data=data, headers=headers) as resp:
        return resp.status, await resp.json()


async def by_id(
    http: aiohttp.ClientSession, mg: MusicGPTStandIn, key: str | None = KEY, **query: str
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": key} if key is not None else {}
    async with http.get(f"{mg.base_url}/v1/byId", params=query, headers=headers) as resp:
        return resp.status, await resp.json()


SING = {"prompt": "Soft vocals", "lyrics": "la la"}
INPAINT = {"prompt": "Opera", "replace_start_at": "1.5", "replace_end_at": "4"}
EXTEND = {"prompt": "Folk, next verse", "extend_after": "0.5"}


def test_spec_is_valid_openapi() -> None:
    spec = yaml.safe_load(SPEC_PATH.read_text())
    OpenAPI.from_dict(spec)  # raises if the document is not valid OpenAPI 3.1
    assert spec["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'The raw API key, without "Bearer".',
    }
    assert set(spec["paths"]) == {
        "/v1/sing_over_instrumental",
        "/v1/inpaint",
        "/v1/extend",
        "/v1/byId",
    }


@pytest.mark.parametrize("key", [None, "wrong", f"Bearer {KEY}"])
async def test_wrong_or_missing_key_is_401(
    http: aiohttp.ClientSession, mg: MusicGPTStandIn, key: str | None
) -> None:
    status, body = await post(http, mg, "sing_over_instrumental", form(SING), key=key)
    assert (status, body["success"]) == (401, False)
    status, _ = await by_id(http, mg, key=key, conversionType="INPAINT", task_id="t")
    assert status == 401
    assert mg.tasks == {}
    assert mg.submits[0].authorized is False


async def test_valid_submit_answers_like_musicgpt(
    http: aiohttp.ClientSession, mg: MusicGPTStandIn
) -> None:
    status, body = await post(http, mg, "sing_over_instrumental", form(SING))
    assert status == 200
    assert set(body) == {
        "success",
        "message",
        "task_id",
        "conversion_id_1",
        "conversion_id_2",
        "eta",
        "credit_estimate",
    }
    assert body["success"] is True
    assert isinstance(body["eta"], int)
    assert isinstance(body["credit_estimate"], float)

    status, body = await post(http, mg, "inpaint", form(INPAINT | {"num_outputs": "1"}))
    assert status == 200
    assert "conversion_id_2" not in body


@dataclass
class SpecResponse:
    """A response as openapi-core reads it."""

    status_code: int
    data: bytes
    headers: dict[str, str]
    content_type: str = "application/json"


async def test_answers_match_the_spec(http: aiohttp.ClientSession, mg: MusicGPTStandIn) -> None:
    spec = yaml.safe_load(SPEC_PATH.read_text())
    spec["servers"] = [{"url": mg.base_url}]
    api = OpenAPI.from_dict(spec)

    async def check(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        async with http.request(method, mg.base_url + path, **kwargs) as resp:
            data = await resp.read()
            request = SpecRequest(
                path=resp.url.path,
                method=method.lower(),
                parameters=RequestParameters(query=dict(resp.url.query)),
                body=None,
                content_type="",
                host_url=mg.origin,
            )
            response = SpecResponse(resp.status, data, dict(resp.headers))
            api.validate_response(request, response)
            return json.loads(data)

    auth = {"Authorization": KEY}
    mg.script_delays(HOLD)
    receipt = await check("POST", "/v1/sing_over_instrumental", data=form(SING), headers=auth)
    query = {"conversionType": "SING_OVER_INSTRUMENTAL", "task_id": receipt["task_id"]}
    await check("GET", "/v1/byId", params=query, headers=auth)
    mg.complete_task(receipt["task_id"])
    await mg.wait_task_final(receipt["task_id"])
    done = await check("GET", "/v1/byId", params=query, headers=auth)
    assert done["conversion"]["status"] == "COMPLETED"
    await check("POST", "/v1/inpaint", data=form({"prompt": "p"}), headers=auth)  # 422
    extended = await check("POST", "/v1/extend", data=form(EXTEND), headers=auth)
    await check(
        "GET",
        "/v1/byId",
        params={**query, "conversionType": "EXTEND", "task_id": extended["task_id"]},
        headers=auth,
    )
    await check("POST", "/v1/extend", data=form({"prompt": "p"}), headers=auth)  # 422
    await check("GET", "/v1/byId", params={**query, "task_id": "nope"}, headers=auth)  # 404


@pytest.mark.parametrize(
    ("endpoint", "fields", "audio", "expected"),
    [
        ("sing_over_instrumental", SING | {"gender": "robot"}, b"x", "gender"),
        ("sing_over_instrumental", {"lyrics": "la"}, b"x", "'prompt' is a required property"),
        ("sing_over_instrumental", {"prompt": "p"}, b"x", "'lyrics' is a required property"),
        ("sing_over_instrumental", SING, None, "either audio_file or audio_url"),
        ("sing_over_instrumental", SING | {"lyrics": "a" * 2001}, b"x", "at most 2000"),
        ("sing_over_instrumental", SING | {"prompt": "  "}, b"x", "prompt must not be empty"),
        ("sing_over_instrumental", SING, b"", "audio_file is empty"),
        ("inpaint", INPAINT | {"num_outputs": "3"}, b"x", "num_outputs"),
        ("inpaint", INPAINT | {"replace_start_at": "abc"}, b"x", "number"),
        ("inpaint", INPAINT | {"replace_end_at": "1"}, b"x", "valid replace range"),
        ("inpaint", {"prompt": "p", "replace_start_at": "1"}, b"x", "replace_end_at"),
        ("inpaint", INPAINT | {"lyrics_section_to_replace": "a" * 2001}, b"x", "at most 2000"),
        ("extend", {"prompt": "p"}, b"x", "'extend_after' is a required property"),
        ("extend", EXTEND | {"extend_after": "abc"}, b"x", "number"),
        ("extend", EXTEND | {"extend_after": "-1"}, b"x", "extend_after"),
        ("extend", EXTEND, None, "either audio_file or audio_url"),
        ("extend", EXTEND | {"lyrics": "a" * 2001}, b"x", "at most 2000"),
        ("extend", EXTEND | {"gender": "robot"}, b"x", "gender"),
    ],
)
async def test_invalid_submits_are_422(
    http: aiohttp.ClientSession,
    mg: MusicGPTStandIn,
    endpoint: str,
    fields: dict[str, str],
    audio: bytes | None,
    expected: str,
) -> None:
    status, body = await post(http, mg, endpoint, form(fields, audio))
    assert status == 422
    assert body["success"] is False
    assert expected in body["error"]
    assert mg.tasks == {}


async def test_urlencoded_submit_is_422(http: aiohttp.ClientSession, mg: MusicGPTStandIn) -> None:
    status, body = await post(http, mg, "sing_over_instrumental", SING | {"audio_url": "https://x"})
    assert status == 422
    assert "multipart/form-data" in body["error"]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"conversionType": "MUSIC_AI", "task_id": "t"}, 422),
        ({"task_id": "t"}, 422),
        ({"conversionType": "INPAINT"}, 422),
        ({"conversionType": "INPAINT", "task_id": "nope"}, 404),
    ],
)
async def test_bad_by_id_queries(
    http: aiohttp.ClientSession, mg: MusicGPTStandIn, query: dict[str, str], status: int
) -> None:
    answer, body = await by_id(http, mg, **query)
    assert answer == status
    assert body["success"] is False


async def test_upload_is_recorded_without_its_bytes(
    http: aiohttp.ClientSession, mg: MusicGPTStandIn
) -> None:
    audio = sine_wav_bytes(seconds=1.0)
    await post(http, mg, "sing_over_instrumental", form(SING, audio))
    upload = mg.submits[0].upload
    assert upload is not None
    assert (upload.size, upload.sha256) == (len(audio), hashlib.sha256(audio).hexdigest())
    assert upload.filename == "a.wav"
    assert upload.saved_path is None


async def test_keep_uploads_saves_the_file(http: aiohttp.ClientSession) -> None:
    audio = sine_wav_bytes(seconds=0.5)
    async with MusicGPTStandIn(api_key=KEY, keep_uploads=True) as mg:
        await post(http, mg, "sing_over_instrumental", form(SING, audio))
        upload = mg.submits[0].upload
        assert upload is not None and upload.saved_path is not None
        assert upload.saved_path.read_bytes() == audio


async def test_without_validation_schema_errors_pass_but_semantic_ones_do_not(
    http: aiohttp.ClientSession,
) -> None:
    async with MusicGPTStandIn(api_key=KEY, validate=False) as mg:
        status, _ = await post(http, mg, "sing_over_instrumental", form({"prompt": "p"}))
        assert status == 200  # no lyrics: the spec would say 422
        status, body = await post(http, mg, "sing_over_instrumental", form({"prompt": " "}))
        assert status == 422 and "prompt" in body["error"]
        status, _ = await by_id(http, mg, conversionType="MUSIC_AI", task_id="t")
        assert status == 404  # the spec would refuse the conversionType with 422


async def test_hooks_for_eta_outputs_and_middlewares(http: aiohttp.ClientSession) -> None:
    seen: list[str] = []
    downloads: list[tuple[str, float, float]] = []

    @web.middleware
    async def note(request: web.Request, handler: Any) -> web.StreamResponse:
        seen.append(request.path)
        return await handler(request)

    def outputs(task: StandInTask) -> list[bytes]:
        return [sine_wav_bytes(seconds=0.1, frequency=300.0 + n) for n in range(2)]

    async with MusicGPTStandIn(
        api_key=KEY,
        delay=0.05,
        eta=lambda task: 7 if task.fields["prompt"] == "seven" else 3,
        outputs=outputs,
        middlewares=[note],
        on_file_sent=lambda *t: downloads.append(t),
    ) as mg:
        _, receipt = await post(
            http, mg, "sing_over_instrumental", form(SING | {"prompt": "seven"})
        )
        assert receipt["eta"] == 7
        _, other = await post(http, mg, "sing_over_instrumental", form(SING))
        assert other["eta"] == 3
        task = await mg.wait_task_final(receipt["task_id"])
        assert mg.output_bytes(task.task_id) == outputs(task)
        async with http.get(f"{mg.origin}/files/{task.outputs[0].file_name}") as resp:
            assert await resp.read() == outputs(task)[0]
        async with http.get(f"{mg.origin}/files/nothing.wav") as resp:
            assert resp.status == 404
    assert seen[:2] == [f"{mg.prefix}/v1/sing_over_instrumental"] * 2
    assert seen[-2:] == [f"/files/{task.outputs[0].file_name}", "/files/nothing.wav"]
    [(name, start, end)] = downloads
    assert name == task.outputs[0].file_name and start <= end


async def test_task_goes_through_its_states(
    http: aiohttp.ClientSession, mg: MusicGPTStandIn
) -> None:
    mg.script_delays(0.4)
    _, receipt = await post(http, mg, "inpaint", form(INPAINT))
    task_id = receipt["task_id"]
    seen: list[str] = []
    for _ in range(100):
        _, body = await by_id(http, mg, conversionType="INPAINT", task_id=task_id)
        status = body["conversion"]["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "COMPLETED":
            break
        await asyncio.sleep(0.02)
    assert seen == ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]

    conversion = body["conversion"]
    assert conversion["conversion_id_1"] == receipt["conversion_id_1"]
    assert conversion["conversion_path_1"].startswith(mg.origin + "/files/")
    assert conversion["conversion_duration_1"] == 2.0
    assert conversion["conversion_cost"] == 1.25
    _, same = await by_id(
        http, mg, conversionType="INPAINT", conversion_id=receipt["conversion_id_2"]
    )
    assert same == body
    status, _ = await by_id(http, mg, conversionType="SING_OVER_INSTRUMENTAL", task_id=task_id)
    assert status == 404  # the wrong conversionType finds nothing


async def test_held_task_waits_for_the_test(
    http: aiohttp.ClientSession, mg: MusicGPTStandIn
) -> None:
    mg.script_delays(HOLD)
    _, receipt = await post(http, mg, "sing_over_instrumental", form(SING))
    await asyncio.sleep(0.2)
    assert mg.task(receipt["task_id"]).status == "IN_PROGRESS"
    mg.fail_task(receipt["task_id"], "Scripted failure", status="ERROR")
    task = await mg.wait_task_final(receipt["task_id"])
    assert (task.status, task.status_msg) == ("ERROR", "Scripted failure")


async def test_peak_running_counts_the_most_tasks_unfinished_at_once(
    http: aiohttp.ClientSession, mg: MusicGPTStandIn
) -> None:
    mg.script_delays(HOLD, HOLD, HOLD)
    first = [(await post(http, mg, "sing_over_instrumental", form(SING)))[1] for _ in range(2)]
    assert mg.peak_running == 2
    mg.complete_task(first[0]["task_id"])
    await mg.wait_task_final(first[0]["task_id"])
    _, third = await post(http, mg, "sing_over_instrumental", form(SING))
    assert (mg.running, mg.peak_running) == (2, 2)  # one finished before the third came
    for receipt in (first[1], third):
        mg.complete_task(receipt["task_id"])
        await mg.wait_task_final(receipt["task_id"])
    assert (mg.running, mg.peak_running) == (0, 2)


async def test_webhooks_are_posted_per_conversion_plus_lyrics(
    http: aiohttp.ClientSession, mg: MusicGPTStandIn, receiver: Receiver
) -> None:
    _, receipt = await post(
        http, mg, "sing_over_instrumental", form(SING | {"webhook_url": receiver.url})
    )
    await mg.wait_task_final(receipt["task_id"])

    assert [d.status for d in mg.webhook_deliveries] == [200, 200, 200]
    first, second, lyrics = receiver.received
    for payload, conversion_id in ((first, "conversion_id_1"), (second, "conversion_id_2")):
        assert set(payload) == {
            "task_id",
            "conversion_id",
            "status",
            "conversion_path",
            "conversion_path_wav",
            "conversion_duration",
            "title",
            "lyrics",
            "conversion_type",
        }
        assert payload["task_id"] == receipt["task_id"]
        assert payload["conversion_id"] == receipt[conversion_id]
        assert payload["status"] == "COMPLETED"
        assert payload["conversion_type"] == "SING_OVER_INSTRUMENTAL"
        assert payload["lyrics"] == "la la"
        result = parse_conversion(payload)
        assert result.status is ConversionStatus.COMPLETED
        assert [o.conversion_id for o in result.outputs] == [receipt[conversion_id]]
    assert lyrics["subtype"] == "lyrics_timestamped"
    assert "status" not in lyrics
    assert isinstance(json.loads(lyrics["lyrics_timestamped"]), list)
    assert parse_conversion(lyrics).status is ConversionStatus.UNKNOWN

    files = []
    for payload in (first, second):
        async with http.get(payload["conversion_path"]) as resp:
            assert resp.status == 200
            files.append(await resp.read())
    assert files[0][:4] == b"RIFF" and files[0] != files[1]


async def test_webhooks_repeat_shuffle_and_switch_off(
    http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    async with MusicGPTStandIn(
        api_key=KEY, delay=0, webhook_repeat=2, webhook_shuffle=True, seed=3
    ) as mg:
        _, receipt = await post(
            http, mg, "sing_over_instrumental", form(SING | {"webhook_url": receiver.url})
        )
        await mg.wait_task_final(receipt["task_id"])
        assert len(receiver.received) == 6
        in_order = mg.webhook_payloads(mg.task(receipt["task_id"]))
        assert sorted(map(json.dumps, receiver.received)) == sorted(
            json.dumps(p) for p in in_order for _ in range(2)
        )
        assert receiver.received != [p for p in in_order for _ in range(2)]

        mg.webhooks_enabled = False
        _, receipt = await post(
            http, mg, "sing_over_instrumental", form(SING | {"webhook_url": receiver.url})
        )
        await mg.wait_task_final(receipt["task_id"])
        assert len(receiver.received) == 6


async def test_failed_task_webhook_carries_status_msg(
    http: aiohttp.ClientSession, mg: MusicGPTStandIn, receiver: Receiver
) -> None:
    mg.fail_next_task("Could not separate vocals")
    _, receipt = await post(
        http, mg, "inpaint", form(INPAINT | {"num_outputs": "1", "webhook_url": receiver.url})
    )
    await mg.wait_task_final(receipt["task_id"])
    [payload] = receiver.received
    assert payload["status"] == "FAILED"
    assert payload["status_msg"] == "Could not separate vocals"
    assert payload["conversion_path"] is None


async def test_audio_url_only_webhooks(http: aiohttp.ClientSession, receiver: Receiver) -> None:
    async with MusicGPTStandIn(api_key=KEY, delay=0, webhook_audio_url_only=True) as mg:
        _, receipt = await post(
            http, mg, "sing_over_instrumental", form(SING | {"webhook_url": receiver.url})
        )
        await mg.wait_task_final(receipt["task_id"])
    assert "conversion_path" not in receiver.received[0]
    assert parse_conversion(receiver.received[0]).outputs[0].audio_url.startswith("http://")


async def test_faults_fire_count_times_then_stop(
    http: aiohttp.ClientSession, mg: MusicGPTStandIn
) -> None:
    fault = mg.faults.add("submit", "rate_limit", count=2, retry_after=7)
    statuses = []
    for _ in range(3):
        async with http.post(
            f"{mg.base_url}/v1/inpaint", data=form(INPAINT), headers={"Authorization": KEY}
        ) as resp:
            statuses.append(resp.status)
            if resp.status == 429:
                assert resp.headers["Retry-After"] == "7"
    assert statuses == [429, 429, 200]
    assert fault.fired == 2
    assert mg.faults.pending == []


async def test_files_route_faults(http: aiohttp.ClientSession, mg: MusicGPTStandIn) -> None:
    mg.faults.add("files", "server_error")
    async with http.get(f"{mg.origin}/files/whatever.wav") as resp:
        assert resp.status == 500
    async with http.get(f"{mg.origin}/files/whatever.wav") as resp:
        assert resp.status == 404


def test_command_line_run_prints_its_base_url() -> None:
    command = [sys.executable, "-m", "tests.standins.musicgpt", "--api-key", "k", "--delay", "0"]
    # A fixed command line: our own interpreter running our own module.
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:  # noqa: S603
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert "http://127.0.0.1:" in line
            assert line.rstrip().endswith("/api/public")
        finally:
            process.terminate()


# --- extend -------------------------------------------------------------------------------


async def test_extend_takes_start_with_the_inputs_first_seconds(
    http: aiohttp.ClientSession, mg: MusicGPTStandIn, receiver: Receiver
) -> None:
    song = sine_wav_bytes(seconds=1.5, frequency=330.0)
    fields = EXTEND | {"lyrics": "and on it goes", "gender": "female", "webhook_url": receiver.url}
    status, receipt = await post(http, mg, "extend", form(fields, song))
    assert status == 200
    assert receipt["message"] == "Extend request submitted successfully"
    assert {"conversion_id_1", "conversion_id_2"} <= set(receipt)  # two takes
    assert mg.submits[0].endpoint == "extend"
    assert mg.submits[0].fields == fields

    task = await mg.wait_task_final(receipt["task_id"])
    _, body = await by_id(http, mg, conversionType="EXTEND", task_id=task.task_id)
    result = parse_conversion(body)
    assert result.status is ConversionStatus.COMPLETED
    assert [o.duration for o in result.outputs] == [2.5, 2.5]  # 0.5 s kept + 2 s new
    takes = mg.output_bytes(task.task_id)
    head = pcm_of(song)[: 2 * 4000]  # the first 0.5 s at 8 kHz, 16-bit
    assert all(pcm_of(take)[: len(head)] == head for take in takes)
    assert pcm_of(takes[0])[len(head) :] != pcm_of(takes[1])[len(head) :]  # new parts differ
    assert [p.get("conversion_type") for p in receiver.received] == ["EXTEND"] * 3
    status, _ = await by_id(http, mg, conversionType="INPAINT", task_id=task.task_id)
    assert status == 404  # an extend is found as EXTEND only


async def test_extend_fetches_its_audio_url(
    http: aiohttp.ClientSession, mg: MusicGPTStandIn
) -> None:
    # The take of an earlier task, by the link MusicGPT gave it: what an Extend button sends.
    _, first = await post(http, mg, "sing_over_instrumental", form(SING))
    earlier = await mg.wait_task_final(first["task_id"])
    link = f"{mg.origin}/files/{earlier.outputs[1].file_name}"

    _, receipt = await post(http, mg, "extend", form(EXTEND | {"audio_url": link}, None))
    task = await mg.wait_task_final(receipt["task_id"])

    assert task.status == "COMPLETED"
    head = pcm_of(mg.output_bytes(earlier.task_id)[1])[: 2 * 4000]
    assert all(pcm_of(take).startswith(head) for take in mg.output_bytes(task.task_id))


@pytest.mark.parametrize(
    ("audio_url", "why"),
    [("http://127.0.0.1:9/nothing.wav", "Could not fetch audio_url"), (None, "decoded")],
)
async def test_extend_of_audio_it_cannot_read_fails(
    http: aiohttp.ClientSession, mg: MusicGPTStandIn, audio_url: str | None, why: str
) -> None:
    data = form(EXTEND | {"audio_url": audio_url}, None) if audio_url else form(EXTEND, b"junk")
    status, receipt = await post(http, mg, "extend", data)
    assert status == 200  # accepted, as MusicGPT does, and failed later
    task = await mg.wait_task_final(receipt["task_id"])
    assert task.status == "FAILED"
    assert why in task.status_msg


async def test_extend_faults_and_the_submit_route(
    http: aiohttp.ClientSession, mg: MusicGPTStandIn
) -> None:
    mg.faults.add("extend", "rate_limit", retry_after=3)
    mg.faults.add("submit", "unavailable")
    status, _ = await post(http, mg, "extend", form(EXTEND))
    assert status == 429
    status, _ = await post(http, mg, "extend", form(EXTEND))
    assert status == 503
    assert mg.tasks == {}


def pcm_of(wav_bytes: bytes) -> bytes:
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 8000)
        return wav.readframes(wav.getnframes())


async def test_takes_are_as_long_as_the_song_asked_for(
    http: aiohttp.ClientSession, mg: MusicGPTStandIn
) -> None:
    """A take as long as the upload (so a Rewrite past 0:02 of a real song is possible), an
    inpaint of an earlier take as long as that take, 2 s when the input can't be told."""
    _, receipt = await post(
        http, mg, "sing_over_instrumental", form(SING, sine_wav_bytes(seconds=7.5))
    )
    upload = mg.submits[0].upload
    assert upload is not None and upload.seconds == 7.5
    sung = await mg.wait_task_final(receipt["task_id"])
    assert [o.duration for o in sung.outputs] == [7.5, 7.5]
    _, body = await by_id(http, mg, task_id=sung.task_id, conversionType="SING_OVER_INSTRUMENTAL")
    assert body["conversion"]["conversion_duration_2"] == 7.5
    for audio in mg.output_bytes(sung.task_id):
        assert len(audio) == 44 + 7.5 * 8000 * 2  # the file is as long as it says

    take = f"{mg.origin}/files/{sung.outputs[1].file_name}"
    fields = INPAINT | {"replace_start_at": "3", "replace_end_at": "6", "audio_url": take}
    _, receipt = await post(http, mg, "inpaint", form(fields, None))
    rewritten = await mg.wait_task_final(receipt["task_id"])
    assert [o.duration for o in rewritten.outputs] == [7.5, 7.5]

    _, receipt = await post(http, mg, "sing_over_instrumental", form(SING, b"not audio"))
    unknown = await mg.wait_task_final(receipt["task_id"])
    assert mg.submits[-1].upload is not None and mg.submits[-1].upload.seconds is None
    assert [o.duration for o in unknown.outputs] == [2.0, 2.0]


async def test_output_seconds_fixes_the_takes_length(http: aiohttp.ClientSession) -> None:
    async with MusicGPTStandIn(api_key=KEY, delay=0.05, output_seconds=1.5) as mg:
        audio = sine_wav_bytes(seconds=4.0)
        _, receipt = await post(http, mg, "sing_over_instrumental", form(SING, audio))
        task = await mg.wait_task_final(receipt["task_id"])
        assert [o.duration for o in task.outputs] == [1.5, 1.5]
