"""A stand-in for MusicGPT's public API: real HTTP on 127.0.0.1, for tests and manual runs.

    async with MusicGPTStandIn(api_key="k", delay=0.2) as mg:
        client = MusicGPTClient(session, mg.base_url, "k")
        ...
        assert mg.submits[0].upload.sha256 == expected

    python -m tests.standins.musicgpt --port 8765 --api-key KEY --delay 5

What it does, like MusicGPT (see ../shared/musicgpt/ and bot/core/musicgpt/openapi.yaml):
- POST {prefix}/v1/sing_over_instrumental, {prefix}/v1/inpaint and {prefix}/v1/extend take
  multipart/form-data,
  check the `Authorization` key (401), validate the request against bot/core/musicgpt/openapi.yaml
  with openapi-core (422 `{"success": false, "error": …}`), and answer
  `{success, message, task_id, conversion_id_1[, conversion_id_2], eta, credit_estimate}`.
  Uploaded audio is streamed: only its size and sha256 are kept (and the file itself, on disk,
  with `keep_uploads=True`, and always for an extend, whose takes start with it).
- Tasks go IN_QUEUE → IN_PROGRESS → COMPLETED (or FAILED) after a delay, then get real WAV
  outputs served from /files/<name>, each as long as the song asked for: the uploaded audio
  (measured as it arrives), or the earlier output an `audio_url` names; 2 s when neither
  tells (a foreign link, a file that isn't audio). `output_seconds=` fixes their length.
- An extend's takes are its input's first `extend_after` seconds (the upload, or `audio_url`
  fetched as MusicGPT would; 8 kHz mono) followed by a new tone (`output_seconds`, else 2 s); an
  input it can't fetch or decode ends the task FAILED.
- GET {prefix}/v1/byId answers in the suffixed shape, by task_id or conversion_id.
- If a webhook_url was given, completion POSTs one JSON per conversion plus one
  `subtype: "lyrics_timestamped"` POST; repeat, shuffle or disable them with the attributes
  `webhook_repeat`, `webhook_shuffle`, `webhooks_enabled`.

Scripting (all plain attributes and methods on the stand-in):
- delays: `delay=` default; `script_delays(0.1, 5)` for the next tasks; `delay_for=callable`
  (SubmitRecord → seconds); `HOLD` (math.inf) keeps a task running until
  `complete_task(task_id)` or `fail_task(task_id, msg)`.
- the eta a submit is answered with: `eta=` seconds, or a callable (StandInTask → seconds);
  by default the task's delay rounded up (60 for HOLD).
- failures: `fail_next_task("msg")` makes the next created task end FAILED with that status_msg.
- a plan's parallel limit: `max_running=N` (constructor or attribute) answers a submit 429
  while N tasks are unfinished, as MusicGPT does past a plan's generations at once; each
  SubmitRecord's `in_flight` is what was running or being submitted when it arrived
  (itself included).
- faults: `faults.add(route, kind, count=…)`, see `Faults.add`.
- records: `submits` (each upload's size and sha256: `submits[n].upload.sha256`),
  `by_id_requests`, `file_requests`, `webhook_deliveries`, `tasks`; `peak_running`, the most
  tasks unfinished at once (what MAX_PARALLEL over every bot process must keep within);
  `await wait_for(predicate)` / `wait_task_final(task_id)`.

Hooks (constructor keywords), for callers that need more than the records, e.g. the benchmark:
- `middlewares=[...]`: aiohttp middlewares run on every request before the stand-in's own
  handling, e.g. to time requests (a middleware sees a download's response before its body
  is sent: the file goes out after the middlewares returned).
- `on_file_sent=callable(name, start, end)`: called once an output download
  (`GET /files/<name>`, answered 200) was handed to the connection in full; `start` is when
  the request reached the stand-in, both on `time.monotonic()`.
- `validate=False`: no OpenAPI checks of requests (the spec is then not even loaded); the
  checks MusicGPT makes beyond the schema still answer 422.
- `outputs=callable` (StandInTask → one WAV's bytes per conversion id): the audio of a
  finished task's outputs; by default a freshly computed sine tone each, a semitone apart.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import io
import itertools
import json
import math
import os
import random
import re
import tempfile
import time
import uuid
import wave
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

import aiohttp
import av
import av.error
import yaml
from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.typedefs import Middleware
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters

from bot.core.models import TaskKind
from tests.standins.audio_gen import SAMPLE_RATE, sine_wav_bytes

SPEC_PATH: Final = (
    Path(__file__).resolve().parents[2] / "bot" / "core" / "musicgpt" / "openapi.yaml"
)
DEFAULT_PREFIX: Final = "/api/public"
HOLD: Final = math.inf  # a task delay meaning "until complete_task()/fail_task() is called"
DEFAULT_TAKE_SECONDS: Final = 2.0  # a take's length when the input's can't be told

Route = Literal["submit", "sing", "inpaint", "extend", "byId", "files", "any"]
FaultKind = Literal[
    "validation",  # 422 with `message`
    "rate_limit",  # 429, with Retry-After if `retry_after` is given
    "server_error",  # 500 (or `status`, e.g. 502/504)
    "unavailable",  # 503, with Retry-After if `retry_after` is given
    "credits",  # 402 (or `status`) with a message about credits
    "unauthorized",  # 401
    "status",  # any `status` with `message` and optional Retry-After
    "slow",  # handle normally, but hold the answer for `seconds`
    "drop",  # read the whole request, then close the connection without answering
    "reset",  # close the connection at once, mid-upload for a big body, without reading it
]

_HEADERS_OF_INTEREST: Final = (
    "Content-Type",
    "Content-Length",
    "Transfer-Encoding",
    "User-Agent",
    "Expect",
)
_SPEC_HOST: Final = "http://musicgpt.standin"  # spec validation doesn't care where we listen
_MAX_TEXT_FIELD: Final = 64 * 1024


# --- records ----------------------------------------------------------------------------


@dataclass(slots=True)
class UploadRecord:
    """The `audio_file` part of a submit, without its bytes."""

    filename: str | None
    content_type: str | None
    size: int
    sha256: str
    saved_path: Path | None = None  # only with keep_uploads=True
    seconds: float | None = None  # the audio's length, None if it isn't audio the stand-in reads


@dataclass(slots=True)
class SubmitRecord:
    """One POST to a submit endpoint, whatever became of it."""

    endpoint: str  # "sing_over_instrumental" | "inpaint" | "extend"
    at: float  # time.monotonic()
    headers: dict[str, str]
    authorized: bool
    fields: dict[str, str] = field(default_factory=dict)
    upload: UploadRecord | None = None
    status: int | None = None  # what the stand-in answered; None if the connection was dropped
    task_id: str | None = None  # set when a task was created
    error: str | None = None
    in_flight: int = 0  # unfinished tasks + submits being received when it came, itself too
    answered_at: float | None = None  # time.monotonic() once answered (or dropped)


@dataclass(slots=True)
class ByIdRecord:
    query: dict[str, str]
    at: float
    status: int | None = None


@dataclass(slots=True)
class WebhookDelivery:
    url: str
    payload: dict[str, Any]
    at: float
    status: int | None = None  # the receiver's HTTP status
    error: str | None = None  # set when the POST itself failed


@dataclass(slots=True)
class StandInOutput:
    conversion_id: str
    file_name: str
    duration: float
    title: str


@dataclass(slots=True)
class StandInTask:
    task_id: str
    kind: TaskKind
    conversion_ids: list[str]
    fields: dict[str, str]
    delay: float
    created_at: datetime
    status: str = "IN_QUEUE"
    status_msg: str = "Queued"
    failure: tuple[str, str] | None = None  # (final status, status_msg) when scripted to fail
    outputs: list[StandInOutput] = field(default_factory=list)
    updated_at: datetime | None = None
    upload: UploadRecord | None = None  # the submit's `audio_file`, kept on disk for an extend
    release: asyncio.Event = field(default_factory=asyncio.Event)
    final: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def webhook_url(self) -> str | None:
        return self.fields.get("webhook_url")


# --- faults -----------------------------------------------------------------------------


@dataclass(slots=True)
class Fault:
    route: Route
    kind: FaultKind
    remaining: int | None  # None: until cleared
    status: int | None = None
    message: str | None = None
    retry_after: float | str | None = None
    seconds: float = 0.0
    after_accept: bool = False
    fired: int = 0


class Faults:
    """Failures to inject, matched in the order they were added."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(
        self,
        route: Route,
        kind: FaultKind,
        *,
        count: int | None = 1,
        status: int | None = None,
        message: str | None = None,
        retry_after: float | str | None = None,
        seconds: float = 0.0,
        after_accept: bool = False,
    ) -> Fault:
        """Make the next `count` requests on `route` fail (`count=None`: until `clear()`).

        `route`: "sing", "inpaint", "extend", "submit" (any of those three), "byId", "files"
        or "any".
        `after_accept=True` (submits only): the task is created first, then the fault
        answers, as when MusicGPT accepted a task but the answer was lost.
        """
        fault = Fault(route, kind, count, status, message, retry_after, seconds, after_accept)
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        self._faults.clear()

    @property
    def pending(self) -> list[Fault]:
        return [f for f in self._faults if f.remaining is None or f.remaining > 0]

    def take(self, route: str) -> Fault | None:
        for fault in self._faults:
            if fault.remaining is not None and fault.remaining <= 0:
                continue
            if fault.route in (route, "any") or (
                fault.route == "submit" and route in ("sing", "inpaint", "extend")
            ):
                fault.fired += 1
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault
        return None


def _fault_response(fault: Fault) -> web.Response:
    kind = fault.kind
    defaults: dict[str, tuple[int, str]] = {
        "validation": (422, "Invalid request"),
        "rate_limit": (429, "Too many requests"),
        "server_error": (500, "Internal Server Error"),
        "unavailable": (503, "Service temporarily unavailable"),
        "credits": (402, "Insufficient credits: please top up your MusicGPT credits"),
        "unauthorized": (401, "Invalid API key"),
        "status": (500, "Error"),
    }
    status, message = defaults[kind]
    headers = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = str(fault.retry_after)
    return _error(fault.status or status, fault.message or message, headers=headers)


def _error(status: int, message: str, *, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"success": False, "error": message}, status=status, headers=headers)


# --- spec validation --------------------------------------------------------------------


@dataclass(slots=True)
class SpecRequest:
    """The request shape openapi-core reads (its `Request` protocol)."""

    path: str
    method: str
    parameters: RequestParameters
    body: bytes | None
    content_type: str
    host_url: str = _SPEC_HOST


class _SpecValidator:
    """Checks requests against bot/core/musicgpt/openapi.yaml with openapi-core.

    A multipart body is re-encoded from the parsed fields with the uploaded file replaced by a
    short placeholder, so a 25 MB upload is never held in memory just to be validated.
    """

    def __init__(self, spec_path: Path = SPEC_PATH) -> None:
        spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
        spec["servers"] = [{"url": _SPEC_HOST + DEFAULT_PREFIX}]
        # openapi-core hands `format: binary` parts over as bytes, which OAS 3.1's JSON Schema
        # doesn't count as a string; the placeholder is text anyway, so read it as text.
        config = Config(
            extra_media_type_deserializers={
                "application/octet-stream": lambda value, **_: value.decode("latin-1")
            }
        )
        self._api = OpenAPI.from_dict(spec, config=config)

    def check_submit(
        self,
        endpoint: str,
        headers: Mapping[str, str],
        fields: Mapping[str, str],
        upload: UploadRecord | None,
    ) -> str | None:
        """None if valid, else a short message like MusicGPT's 422 `error`."""
        boundary = uuid.uuid4().hex
        parts = [
            _form_part(boundary, name, value.encode("utf-8")) for name, value in fields.items()
        ]
        if upload is not None:
            placeholder = f"<{upload.size} bytes>".encode()
            parts.append(_form_part(boundary, "audio_file", placeholder, filename="upload"))
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        request = SpecRequest(
            path=f"{DEFAULT_PREFIX}/v1/{endpoint}",
            method="post",
            parameters=RequestParameters(header=dict(headers)),
            body=body,
            content_type=f"multipart/form-data; boundary={boundary}",
        )
        return self._errors(request)

    def check_by_id(self, headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
        request = SpecRequest(
            path=f"{DEFAULT_PREFIX}/v1/byId",
            method="get",
            parameters=RequestParameters(query=dict(query), header=dict(headers)),
            body=None,
            content_type="",
        )
        return self._errors(request)

    def _errors(self, request: SpecRequest) -> str | None:
        result = self._api.unmarshal_request(request)
        if not result.errors:
            return None
        return "; ".join(itertools.chain.from_iterable(_explain(e) for e in result.errors))[:500]


@functools.cache
def _spec_validator() -> _SpecValidator:
    """Loading and checking the spec takes a few hundred ms; do it once per process."""
    return _SpecValidator()


def _form_part(boundary: str, name: str, value: bytes, *, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
    return head + value + b"\r\n"


def _explain(error: Exception) -> Iterator[str]:
    """Readable messages from an openapi-core error (and the JSON Schema errors under it)."""
    cause = error.__cause__
    schema_errors = getattr(cause, "schema_errors", None)
    if not schema_errors:
        yield _short(str(cause or error) or type(error).__name__)
        return
    for schema_error in schema_errors:
        where = ".".join(str(p) for p in schema_error.path)
        if schema_error.validator == "anyOf" and not where:
            yield "either audio_file or audio_url must be provided"
        elif schema_error.validator == "maxLength":
            yield f"{where} must be at most {schema_error.validator_value} characters"
        else:
            message = _short(schema_error.message)
            yield f"{where}: {message}" if where else message


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- the stand-in -----------------------------------------------------------------------


class MusicGPTStandIn:
    """MusicGPT on 127.0.0.1. Use as `async with`, or `await start()` / `await stop()`."""

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        host: str = "127.0.0.1",
        port: int = 0,
        prefix: str = DEFAULT_PREFIX,
        delay: float = 0.2,
        eta: int | Callable[[StandInTask], int] | None = None,
        output_seconds: float | None = None,
        credit_estimate: float = 50.0,
        conversion_cost: float = 1.25,
        webhooks_enabled: bool = True,
        webhook_repeat: int = 1,
        webhook_shuffle: bool = False,
        webhook_audio_url_only: bool = False,
        keep_uploads: bool = False,
        seed: int | None = None,
        middlewares: Sequence[Middleware] = (),
        validate: bool = True,
        outputs: Callable[[StandInTask], Sequence[bytes]] | None = None,
        on_file_sent: Callable[[str, float, float], None] | None = None,
        max_running: int | None = None,
    ) -> None:
        self.api_key = api_key
        self.host = host
        self.port = port
        self.prefix = prefix.rstrip("/")
        self.delay = delay
        self.eta = eta
        self.output_seconds = output_seconds
        self.credit_estimate = credit_estimate
        self.conversion_cost = conversion_cost
        self.webhooks_enabled = webhooks_enabled
        self.webhook_repeat = webhook_repeat
        self.webhook_shuffle = webhook_shuffle
        # MusicGPT's documented webhook sample carries `audio_url`, not `conversion_path`.
        self.webhook_audio_url_only = webhook_audio_url_only
        self.keep_uploads = keep_uploads
        self.delay_for: Callable[[SubmitRecord], float] | None = None
        self.middlewares = list(middlewares)
        self.validate = validate
        self.outputs = outputs or self._tones
        self.on_file_sent = on_file_sent
        self.max_running = max_running
        self._submits_in_progress = 0
        # The most tasks unfinished at once so far: a limit shared by several bot processes
        # holds only if this never passes it, whichever process submitted what.
        self.peak_running = 0

        self.faults = Faults()
        self.submits: list[SubmitRecord] = []
        self.by_id_requests: list[ByIdRecord] = []
        self.file_requests: list[str] = []
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.tasks: dict[str, StandInTask] = {}

        self._scripted_delays: deque[float] = deque()
        self._scripted_failures: deque[tuple[str, str]] = deque()
        self._rng = random.Random(seed)  # shuffles test deliveries only
        self._validator = _spec_validator() if validate else None
        self._tone_counter = itertools.count()
        self._background: set[asyncio.Task[None]] = set()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._runner: web.AppRunner | None = None
        self._webhook_session: aiohttp.ClientSession | None = None

    # --- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> MusicGPTStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        # A task finishing as we stop may still be writing its outputs in a thread: don't let
        # that make the removal of the directory fail.
        self._tmp = tempfile.TemporaryDirectory(
            prefix="musicgpt-standin-", ignore_cleanup_errors=True
        )
        self._webhook_session = aiohttp.ClientSession()
        app = web.Application(middlewares=self.middlewares)
        app.router.add_post(f"{self.prefix}/v1/sing_over_instrumental", self._handle_sing)
        app.router.add_post(f"{self.prefix}/v1/inpaint", self._handle_inpaint)
        app.router.add_post(f"{self.prefix}/v1/extend", self._handle_extend)
        app.router.add_get(f"{self.prefix}/v1/byId", self._handle_by_id)
        app.router.add_get("/files/{name}", self._handle_file)
        # Don't wait long for handlers still sleeping in a "slow" fault when shutting down.
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=0.2
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._webhook_session is not None:
            await self._webhook_session.close()
            self._webhook_session = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What the client is configured with, like https://api.musicgpt.com/api/public."""
        return self.origin + self.prefix

    # --- scripting ----------------------------------------------------------------------

    def script_delays(self, *delays: float) -> None:
        """The next tasks take these delays (seconds; HOLD to wait for complete_task)."""
        self._scripted_delays.extend(delays)

    def fail_next_task(self, message: str = "Generation failed", *, status: str = "FAILED") -> None:
        """The next created task ends with `status` (FAILED or ERROR) and this status_msg."""
        self._scripted_failures.append((status, message))

    def complete_task(self, task_id: str) -> None:
        """Finish a task now (typically one started with HOLD)."""
        self.tasks[task_id].release.set()

    def fail_task(self, task_id: str, message: str, *, status: str = "FAILED") -> None:
        task = self.tasks[task_id]
        task.failure = (status, message)
        task.release.set()

    def task(self, task_id: str) -> StandInTask:
        return self.tasks[task_id]

    # --- waiting, for tests -------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in time")
            await asyncio.sleep(0.01)

    async def wait_task_final(self, task_id: str, timeout: float = 5.0) -> StandInTask:
        """Wait until the task is COMPLETED/FAILED and its webhooks have been sent."""
        task = self.tasks[task_id]
        await asyncio.wait_for(task.final.wait(), timeout)
        return task

    # --- handlers -----------------------------------------------------------------------

    async def _handle_sing(self, request: web.Request) -> web.StreamResponse:
        return await self._handle_submit(request, TaskKind.SING, "sing_over_instrumental")

    async def _handle_inpaint(self, request: web.Request) -> web.StreamResponse:
        return await self._handle_submit(request, TaskKind.INPAINT, "inpaint")

    async def _handle_extend(self, request: web.Request) -> web.StreamResponse:
        return await self._handle_submit(request, TaskKind.EXTEND, "extend")

    async def _handle_submit(
        self, request: web.Request, kind: TaskKind, endpoint: str
    ) -> web.StreamResponse:
        record = SubmitRecord(
            endpoint=endpoint,
            at=time.monotonic(),
            headers={h: request.headers[h] for h in _HEADERS_OF_INTEREST if h in request.headers},
            authorized=request.headers.get("Authorization") == self.api_key,
        )
        self.submits.append(record)
        self._submits_in_progress += 1
        record.in_flight = self.running + self._submits_in_progress
        try:
            return await self._receive_submit(request, kind, endpoint, record)
        finally:
            self._submits_in_progress -= 1
            record.answered_at = time.monotonic()

    @property
    def running(self) -> int:
        """Tasks not finished yet: what a plan's parallel limit counts."""
        return sum(
            1 for t in self.tasks.values() if t.status not in ("COMPLETED", "FAILED", "ERROR")
        )

    async def _receive_submit(
        self, request: web.Request, kind: TaskKind, endpoint: str, record: SubmitRecord
    ) -> web.StreamResponse:
        fault = self.faults.take(kind.value)  # "sing", "inpaint", "extend": the routes
        if fault is not None and not fault.after_accept and fault.kind != "slow":
            if fault.kind != "reset":
                await _drain(request)
            return self._answer_fault(request, record, fault)
        if not record.authorized:
            await _drain(request)
            return self._answer(record, _error(401, "Invalid API key"))

        try:
            # An extend's upload is kept: its first `extend_after` seconds start each take.
            record.fields, record.upload = await self._read_form(
                request, keep=kind is TaskKind.EXTEND
            )
        except _BadForm as exc:
            await _drain(request)
            return self._answer(record, _error(422, str(exc)))
        problem = (
            self._validator.check_submit(endpoint, request.headers, record.fields, record.upload)
            if self._validator is not None
            else None
        ) or _semantic_problem(kind, record)
        if problem:
            record.error = problem
            return self._answer(record, _error(422, problem))
        if self.max_running is not None and self.running >= self.max_running:
            # Nothing awaited between this count and the task's creation below: two submits
            # can't both take the last place.
            message = f"Too many parallel requests: your plan runs {self.max_running} at once"
            return self._answer(record, _error(429, message))

        task = self._create_task(kind, record)
        answer = web.json_response(self._receipt(task))
        if fault is not None:
            if fault.kind == "slow":
                await asyncio.sleep(fault.seconds)
            else:
                return self._answer_fault(request, record, fault)
        return self._answer(record, answer)

    async def _handle_by_id(self, request: web.Request) -> web.StreamResponse:
        record = ByIdRecord(query=dict(request.query), at=time.monotonic())
        self.by_id_requests.append(record)
        fault = self.faults.take("byId")
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.seconds)
        elif fault is not None:
            return self._answer_fault(request, record, fault)
        if request.headers.get("Authorization") != self.api_key:
            return self._answer(record, _error(401, "Invalid API key"))
        problem = (
            self._validator.check_by_id(request.headers, request.query)
            if self._validator is not None
            else None
        )
        task_id, conversion_id = request.query.get("task_id"), request.query.get("conversion_id")
        if not problem and not (task_id or conversion_id):
            problem = "task_id or conversion_id is required"
        if problem:
            return self._answer(record, _error(422, problem))
        task = self._find_task(task_id, conversion_id)
        if task is None or task.kind.conversion_type != request.query["conversionType"]:
            return self._answer(record, _error(404, "Conversion not found"))
        return self._answer(record, web.json_response(self._by_id_answer(task)))

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        start = time.monotonic()
        name = request.match_info["name"]
        self.file_requests.append(name)
        fault = self.faults.take("files")
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.seconds)
        elif fault is not None:
            return _drop(request) if fault.kind in ("drop", "reset") else _fault_response(fault)
        path = self._files_dir / name
        if not re.fullmatch(r"[\w.-]+", name) or not path.is_file():
            raise web.HTTPNotFound()
        headers = {"Content-Type": "audio/wav"}
        on_file_sent = self.on_file_sent
        if on_file_sent is None:
            return web.FileResponse(path, headers=headers)
        return _ReportingFileResponse(
            path, lambda: on_file_sent(name, start, time.monotonic()), headers=headers
        )

    def _answer(self, record: SubmitRecord | ByIdRecord, response: web.Response) -> web.Response:
        record.status = response.status
        return response

    def _answer_fault(
        self, request: web.Request, record: SubmitRecord | ByIdRecord, fault: Fault
    ) -> web.StreamResponse:
        if fault.kind in ("drop", "reset"):
            record.status = None
            return _drop(request)
        return self._answer(record, _fault_response(fault))

    # --- submit helpers -----------------------------------------------------------------

    async def _read_form(
        self, request: web.Request, *, keep: bool = False
    ) -> tuple[dict[str, str], UploadRecord | None]:
        if request.content_type != "multipart/form-data":
            raise _BadForm(f"expected multipart/form-data, got {request.content_type}")
        fields: dict[str, str] = {}
        upload: UploadRecord | None = None
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, aiohttp.BodyPartReader) or not part.name:
                raise _BadForm("malformed multipart body")
            if part.name == "audio_file" or part.filename is not None:
                upload = await self._receive_file(part, keep=keep)
                continue
            raw = await part.read()
            if len(raw) > _MAX_TEXT_FIELD:
                raise _BadForm(f"{part.name} is too large")
            fields[part.name] = raw.decode("utf-8", errors="replace")
        return fields, upload

    async def _receive_file(self, part: aiohttp.BodyPartReader, *, keep: bool) -> UploadRecord:
        """Hash and measure the upload chunk by chunk, never holding it whole (it goes to a
        file, kept with keep_uploads=True or when the task needs it later: an extend)."""
        digest = hashlib.sha256()
        size = 0
        kept = self.keep_uploads or keep
        saved = self._uploads_dir / f"{uuid.uuid4().hex}-{_safe_name(part.filename)}"
        try:
            with saved.open("wb") as sink:
                while chunk := await part.read_chunk(256 * 1024):
                    digest.update(chunk)
                    size += len(chunk)
                    sink.write(chunk)
            seconds = await asyncio.to_thread(_audio_seconds, saved)
        finally:
            if not kept:
                saved.unlink(missing_ok=True)
        return UploadRecord(
            filename=part.filename,
            content_type=part.headers.get(aiohttp.hdrs.CONTENT_TYPE),
            size=size,
            sha256=digest.hexdigest(),
            saved_path=saved if kept else None,
            seconds=seconds,
        )

    def _create_task(self, kind: TaskKind, record: SubmitRecord) -> StandInTask:
        outputs = 2
        if kind is TaskKind.INPAINT and record.fields.get("num_outputs"):
            outputs = int(float(record.fields["num_outputs"]))
        task = StandInTask(
            task_id=f"task-{uuid.uuid4().hex[:16]}",
            kind=kind,
            conversion_ids=[f"conv-{uuid.uuid4().hex[:16]}" for _ in range(outputs)],
            fields=dict(record.fields),
            delay=self._next_delay(record),
            created_at=datetime.now(UTC),
            failure=self._scripted_failures.popleft() if self._scripted_failures else None,
            upload=record.upload,
        )
        self.tasks[task.task_id] = task
        record.task_id = task.task_id
        self.peak_running = max(self.peak_running, self.running)
        runner = asyncio.get_running_loop().create_task(self._run_task(task))
        self._background.add(runner)
        runner.add_done_callback(self._background.discard)
        return task

    def _next_delay(self, record: SubmitRecord) -> float:
        if self._scripted_delays:
            return self._scripted_delays.popleft()
        if self.delay_for is not None:
            return self.delay_for(record)
        return self.delay

    def _receipt(self, task: StandInTask) -> dict[str, Any]:
        label = {
            TaskKind.SING: "Sing Over Instrumental",
            TaskKind.INPAINT: "Inpaint",
            TaskKind.EXTEND: "Extend",
        }[task.kind]
        if callable(self.eta):
            eta = self.eta(task)
        elif self.eta is not None:
            eta = self.eta
        else:
            eta = 60 if math.isinf(task.delay) else math.ceil(task.delay)
        answer: dict[str, Any] = {
            "success": True,
            "message": f"{label} request submitted successfully",
            "task_id": task.task_id,
            "eta": eta,
            "credit_estimate": self.credit_estimate,
        }
        for n, conversion_id in enumerate(task.conversion_ids, start=1):
            answer[f"conversion_id_{n}"] = conversion_id
        return answer

    # --- task lifecycle -----------------------------------------------------------------

    async def _run_task(self, task: StandInTask) -> None:
        held = math.isinf(task.delay)
        queued_for = 0.0 if held else task.delay * 0.25
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task.release.wait(), queued_for)
        self._set_status(task, "IN_PROGRESS", "Generating")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task.release.wait(), None if held else task.delay - queued_for)
        if task.failure is None and task.kind is TaskKind.EXTEND and self.outputs == self._tones:
            # Its takes start with its input's audio (custom `outputs=` are used as they are).
            task.failure = await self._make_extensions(task)
        if task.failure is not None:
            self._set_status(task, *task.failure)
        elif task.outputs:  # an extend's takes, made above
            self._set_status(task, "COMPLETED", "Conversion completed")
        else:
            task.outputs = await asyncio.to_thread(self._make_outputs, task)
            self._set_status(task, "COMPLETED", "Conversion completed")
        try:
            await self._send_webhooks(task)
        finally:
            task.final.set()

    def _set_status(self, task: StandInTask, status: str, message: str) -> None:
        task.status, task.status_msg, task.updated_at = status, message, datetime.now(UTC)

    def _make_outputs(self, task: StandInTask) -> list[StandInOutput]:
        audio = list(self.outputs(task))
        if len(audio) != len(task.conversion_ids):
            raise ValueError(f"outputs= made {len(audio)} files for {len(task.conversion_ids)}")
        outputs = []
        for n, (conversion_id, data) in enumerate(
            zip(task.conversion_ids, audio, strict=True), start=1
        ):
            name = f"{conversion_id}.wav"
            (self._files_dir / name).write_bytes(data)
            title = f"Stand-in {task.kind.value} {n}"
            seconds = _audio_seconds(self._files_dir / name) or self.take_seconds(task)
            outputs.append(StandInOutput(conversion_id, name, seconds, title))
        return outputs

    def _tones(self, task: StandInTask) -> list[bytes]:
        """The default outputs: a different pitch per output (a semitone apart), so every
        file's bytes differ; as long as `take_seconds`."""
        return [
            sine_wav_bytes(
                seconds=self.take_seconds(task),
                frequency=220.0 * 2 ** (next(self._tone_counter) % 48 / 12),
            )
            for _ in task.conversion_ids
        ]

    # --- extend -------------------------------------------------------------------------

    async def _make_extensions(self, task: StandInTask) -> tuple[str, str] | None:
        """An extend's takes: its input's first `extend_after` seconds, then a new tone
        (a different pitch per take). A failure (final status, status_msg) when the input
        can't be read, as MusicGPT fails a task whose audio it can't use."""
        source = task.upload.saved_path if task.upload is not None else None
        fetched: Path | None = None
        if source is None:
            fetched = source = self._files_dir / f"input-{task.task_id}"
            problem = await self._fetch_input(task.fields.get("audio_url", ""), fetched)
            if problem:
                return ("FAILED", problem)
        try:
            task.outputs = await asyncio.to_thread(self._write_extensions, task, source)
        except _UnreadableInput:
            return ("FAILED", "The input audio could not be decoded.")
        finally:
            if fetched is not None:
                fetched.unlink(missing_ok=True)
        return None

    async def _fetch_input(self, url: str, dest: Path) -> str | None:
        """Download `audio_url` to `dest`; why not, if it failed."""
        assert self._webhook_session is not None, "stand-in not started"
        try:
            async with self._webhook_session.get(
                url, timeout=aiohttp.ClientTimeout(total=30)
            ) as resp:
                if resp.status != 200:
                    return f"Could not fetch audio_url (HTTP {resp.status})."
                with dest.open("wb") as sink:
                    async for chunk in resp.content.iter_chunked(256 * 1024):
                        sink.write(chunk)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return f"Could not fetch audio_url ({type(exc).__name__})."
        return None

    def _write_extensions(self, task: StandInTask, source: Path) -> list[StandInOutput]:
        after = float(task.fields["extend_after"])  # checked at submit
        kept = decode_head(source, after)
        new_seconds = self.output_seconds or DEFAULT_TAKE_SECONDS
        outputs = []
        for n, conversion_id in enumerate(task.conversion_ids, start=1):
            new_part = sine_wav_bytes(
                seconds=new_seconds,
                frequency=220.0 * 2 ** (next(self._tone_counter) % 48 / 12),
            )
            data = join_wav(kept, new_part)
            name = f"{conversion_id}.wav"
            (self._files_dir / name).write_bytes(data)
            duration = len(kept) / 2 / SAMPLE_RATE + new_seconds
            title = f"Stand-in extend {n}"
            outputs.append(StandInOutput(conversion_id, name, duration, title))
        return outputs

    def take_seconds(self, task: StandInTask) -> float:
        """How long the task's takes are: `output_seconds` if set, else as long as the song
        asked for (the upload, or the earlier output its `audio_url` names), else 2 s."""
        if self.output_seconds is not None:
            return self.output_seconds
        record = next((r for r in self.submits if r.task_id == task.task_id), None)
        if record is not None and record.upload is not None:
            return record.upload.seconds or DEFAULT_TAKE_SECONDS
        url = task.fields.get("audio_url") or ""
        name = url.removeprefix(f"{self.origin}/files/")
        earlier = (o for t in self.tasks.values() for o in t.outputs if o.file_name == name)
        return next((o.duration for o in earlier), DEFAULT_TAKE_SECONDS)

    def output_bytes(self, task_id: str | None) -> list[bytes]:
        """The audio of each output of a finished task, in conversion order."""
        assert task_id is not None, "no task id (the submit created no task)"
        return [(self._files_dir / o.file_name).read_bytes() for o in self.tasks[task_id].outputs]

    def _find_task(self, task_id: str | None, conversion_id: str | None) -> StandInTask | None:
        if task_id:
            return self.tasks.get(task_id)
        return next((t for t in self.tasks.values() if conversion_id in t.conversion_ids), None)

    def _file_url(self, name: str) -> str:
        return f"{self.origin}/files/{name}"

    def _by_id_answer(self, task: StandInTask) -> dict[str, Any]:
        """The suffixed shape; output fields stay null until the task completes."""
        done = task.status == "COMPLETED"
        conversion: dict[str, Any] = {
            "task_id": task.task_id,
            "conversionType": task.kind.conversion_type,
            "status": task.status,
            "status_msg": task.status_msg,
            "album_cover_path": None,
            "conversion_cost": self.conversion_cost if done else None,
            "createdAt": task.created_at.isoformat(),
            "updatedAt": (task.updated_at or task.created_at).isoformat(),
        }
        lyrics = task.fields.get("lyrics")
        for n, conversion_id in enumerate(task.conversion_ids, start=1):
            output = task.outputs[n - 1] if done else None
            url = self._file_url(output.file_name) if output else None
            conversion |= {
                f"conversion_id_{n}": conversion_id,
                f"conversion_path_{n}": url,
                f"conversion_path_wav_{n}": url,
                f"conversion_duration_{n}": output.duration if output else None,
                f"title_{n}": output.title if output else None,
                f"lyrics_{n}": lyrics if output else None,
            }
        return {"success": True, "conversion": conversion}

    # --- webhooks -----------------------------------------------------------------------

    def webhook_payloads(self, task: StandInTask) -> list[dict[str, Any]]:
        """What completion POSTs: one per conversion, then one `lyrics_timestamped`."""
        payloads = []
        for n, conversion_id in enumerate(task.conversion_ids, start=1):
            output = task.outputs[n - 1] if task.outputs else None
            url = self._file_url(output.file_name) if output else None
            payload: dict[str, Any] = {
                "task_id": task.task_id,
                "conversion_id": conversion_id,
                "status": task.status,
                "conversion_type": task.kind.conversion_type,
                "conversion_duration": output.duration if output else None,
                "title": output.title if output else None,
                "lyrics": task.fields.get("lyrics"),
            }
            if self.webhook_audio_url_only:
                payload["audio_url"] = url
            else:
                payload |= {"conversion_path": url, "conversion_path_wav": url}
            if task.status != "COMPLETED":
                payload["status_msg"] = task.status_msg
            payloads.append(payload)
        if task.status == "COMPLETED":
            words = (task.fields.get("lyrics") or "la la la").split()[:8]
            timed = [{"text": w, "start": i / 2, "end": i / 2 + 0.4} for i, w in enumerate(words)]
            payloads.append(
                {
                    "task_id": task.task_id,
                    "conversion_id": task.conversion_ids[0],
                    "subtype": "lyrics_timestamped",
                    "lyrics_timestamped": json.dumps(timed),
                    "conversion_type": task.kind.conversion_type,
                }
            )
        return payloads

    async def _send_webhooks(self, task: StandInTask) -> None:
        url = task.webhook_url
        if not url or not self.webhooks_enabled or self._webhook_session is None:
            return
        payloads = [p for p in self.webhook_payloads(task) for _ in range(self.webhook_repeat)]
        if self.webhook_shuffle:
            self._rng.shuffle(payloads)
        for payload in payloads:
            delivery = WebhookDelivery(url=url, payload=payload, at=time.monotonic())
            self.webhook_deliveries.append(delivery)
            try:
                async with self._webhook_session.post(
                    url, json=payload, timeout=aiohttp.ClientTimeout(total=5)
                ) as resp:
                    delivery.status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                delivery.error = f"{type(exc).__name__}: {exc}"

    # --- paths --------------------------------------------------------------------------

    @property
    def _files_dir(self) -> Path:
        assert self._tmp is not None, "stand-in not started"
        return Path(self._tmp.name)

    @property
    def _uploads_dir(self) -> Path:
        path = self._files_dir / "uploads"
        path.mkdir(exist_ok=True)
        return path


class _BadForm(Exception):
    pass


class _ReportingFileResponse(web.FileResponse):
    """A FileResponse that says when it was sent in full (for `on_file_sent=`)."""

    def __init__(self, path: Path, done: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self._done = done

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        writer = await super().prepare(request)
        if self.status == 200:
            self._done()
        return writer


def _semantic_problem(kind: TaskKind, record: SubmitRecord) -> str | None:
    """Checks MusicGPT makes that a schema can't express."""
    fields = record.fields
    if not fields.get("prompt", "").strip():
        return "prompt must not be empty"
    if record.upload is not None and record.upload.size == 0:
        return "audio_file is empty"
    if kind is TaskKind.INPAINT:
        try:
            start, end = float(fields["replace_start_at"]), float(fields["replace_end_at"])
        except (KeyError, ValueError):
            start, end = math.nan, math.nan
        if not 0 <= start < end:
            return "audio_file or audio_url and valid replace range are required."
    if kind is TaskKind.EXTEND:
        try:
            after = float(fields["extend_after"])
        except (KeyError, ValueError):
            after = math.nan
        if not 0 <= after < math.inf:
            return "audio_file or audio_url and a valid extend_after are required."
    return None


class _UnreadableInput(Exception):
    pass


def decode_head(path: Path, seconds: float) -> bytes:
    """The first `seconds` of the audio at `path` as 16-bit mono PCM at SAMPLE_RATE
    (what `sine_wav_bytes` writes), decoded with PyAV whatever the format."""
    wanted = max(0, round(seconds * SAMPLE_RATE)) * 2
    pcm = bytearray()
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise _UnreadableInput(path.name)
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    pcm += bytes(out.planes[0])[: out.samples * 2]
                if len(pcm) >= wanted:
                    break
            else:
                for out in resampler.resample(None):
                    pcm += bytes(out.planes[0])[: out.samples * 2]
    except av.error.FFmpegError as exc:
        raise _UnreadableInput(path.name) from exc
    return bytes(pcm[:wanted])


def join_wav(pcm: bytes, wav_bytes: bytes) -> bytes:
    """A WAV of `pcm` (16-bit mono at SAMPLE_RATE) followed by the frames of `wav_bytes`."""
    with wave.open(io.BytesIO(wav_bytes)) as tail:
        frames = tail.readframes(tail.getnframes())
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm + frames)
    return buffer.getvalue()


def _audio_seconds(path: Path) -> float | None:
    """The length of the audio at `path` as its container tells it (milliseconds), or None if
    it isn't audio FFmpeg reads."""
    try:
        with av.open(str(path)) as container:
            duration = container.duration
    except (av.error.FFmpegError, ValueError, OSError):
        return None
    return round(duration / av.time_base, 3) if duration else None


def _safe_name(name: str | None) -> str:
    return re.sub(r"[^\w.-]", "_", name or "upload")[:100]


async def _drain(request: web.Request) -> None:
    """Read and discard the body, so the client sees our answer rather than a broken pipe."""
    while await request.content.readany():
        pass


def _drop(request: web.Request) -> web.Response:
    """Close the connection without answering (the returned response is never sent)."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response()


# --- manual run -------------------------------------------------------------------------


async def _serve(args: argparse.Namespace) -> None:
    standin = MusicGPTStandIn(
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        delay=args.delay,
        webhooks_enabled=not args.no_webhooks,
        webhook_repeat=args.webhook_repeat,
        webhook_shuffle=args.webhook_shuffle,
    )
    async with standin:
        print(f"MusicGPT stand-in listening; base URL: {standin.base_url}", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the MusicGPT stand-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", default=os.environ.get("MUSICGPT_API_KEY", "test-key"))
    parser.add_argument("--delay", type=float, default=5.0, help="seconds until a task completes")
    parser.add_argument("--no-webhooks", action="store_true")
    parser.add_argument("--webhook-repeat", type=int, default=1)
    parser.add_argument("--webhook-shuffle", action="store_true")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
