"""MusicGPT client: submit sing/inpaint/extend tasks and read their state.

One shared `aiohttp.ClientSession` carries every call. Uploads are streamed from disk, never
read into memory (`bot.core.musicgpt.wire` builds the bytes and reads the answers back).
Failures become the exceptions in `bot.core.errors`; transient ones are retried with
exponential backoff and jitter, but a submit is only retried when MusicGPT certainly did
not accept it, because every accepted submit costs credits (see `_Call.retry_safe_statuses`).
A 429 is not retried here: it says "too many at once" (submits) or "too many status checks"
(`byId`), and the tracker, which has a queue and a poll budget, slows down instead.

What MusicGPT answers is read by the tolerant parsers in `bot.core.musicgpt.parse`.

This module must not import discord.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

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
from bot.core.metrics import Metrics
from bot.core.models import AudioSource, ConversionResult, Gender, SubmitReceipt, TaskKind
from bot.core.musicgpt.parse import MAX_ERROR_TEXT, parse_conversion, parse_receipt, trim
from bot.core.musicgpt.wire import (
    UPLOAD_CHUNK,
    Answer,
    body_fully_sent,
    build_form,
    decimal,
    describe,
    form_fields,
    parse_retry_after,
    read_body,
)

log = logging.getLogger(__name__)

__all__ = ["UPLOAD_CHUNK", "KeyCheck", "MusicGPTClient", "parse_retry_after"]

SING_PATH: Final = "/v1/sing_over_instrumental"
INPAINT_PATH: Final = "/v1/inpaint"
EXTEND_PATH: Final = "/v1/extend"
BY_ID_PATH: Final = "/v1/byId"

_CREDITS_RE: Final = re.compile(r"credit", re.IGNORECASE)

# 408: the server gave up waiting for our request, so it processed nothing. (A 429 processed
# nothing either, but it raises MusicGPTRateLimited for the tracker to pace itself.)
_RETRY_STATUSES_ALWAYS: Final = frozenset({408})
# Statuses a GET may retry: it changes nothing, so any server-side hiccup is worth another try.
_RETRY_STATUSES_GET: Final = _RETRY_STATUSES_ALWAYS | frozenset({500, 502, 503, 504})
# Statuses a submit may retry. 503 is included: it means "not handling requests right now" and
# in practice comes from a load balancer with no healthy backend, before the application sees
# the request; it is the status servers use on purpose to say "come back later". 500, 502 and
# 504 are not: the application (or the gateway in front of it) may have created the task
# before failing, so retrying could charge twice. Those raise MusicGPTSubmitUncertain.
_RETRY_STATUSES_SUBMIT: Final = _RETRY_STATUSES_ALWAYS | frozenset({503})


# A task id no task has: `byId` for it costs nothing and answers 404 when the key is good,
# 401/403 when it isn't. Shaped like MusicGPT's own ids, in case it checks their form.
_NO_SUCH_TASK: Final = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True, slots=True)
class KeyCheck:
    """What one free call said about the API key: `accepted` is None when it said nothing
    (MusicGPT unreachable, busy or failing), and `status` is its HTTP status, if any."""

    accepted: bool | None
    status: int | None
    reason: str


class _Secret:
    """Holds the API key so that repr(), vars() and tracebacks show a placeholder instead."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__


class _Retryable(Exception):
    """An attempt failed in a way that is safe to repeat (internal to this module)."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class _Call:
    """One logical request to MusicGPT, however many attempts it takes."""

    method: str
    path: str
    what: str  # for messages: "sing submit", "inpaint submit", "extend submit", "status check"
    params: Mapping[str, str] | None = None
    fields: Mapping[str, str] | None = None  # multipart text fields (submits only)
    audio: AudioSource | None = None

    @property
    def is_submit(self) -> bool:
        return self.method == "POST"

    @property
    def endpoint(self) -> str:
        """Its label in /metrics."""
        return "submit" if self.is_submit else "byId"

    @property
    def retry_safe_statuses(self) -> frozenset[int]:
        return _RETRY_STATUSES_SUBMIT if self.is_submit else _RETRY_STATUSES_GET


class MusicGPTClient:
    """Talks to MusicGPT's public API over a shared aiohttp session.

    `max_attempts` bounds every call (first try included). Waits between attempts grow as
    `backoff_base * 2**n` up to `backoff_max`, with jitter; a `Retry-After` header is honoured
    unless it asks for more than `max_retry_after` seconds, in which case the call gives up
    at once (a caller with a scheduler can come back later without holding a slot).
    `request_timeout` bounds a status check; `upload_timeout` bounds a whole submit, upload
    included.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: str,
        *,
        max_attempts: int = 4,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        max_retry_after: float = 120.0,
        request_timeout: float = 30.0,
        upload_timeout: float = 600.0,
        connect_timeout: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        metrics: Metrics | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._api_key = _Secret(api_key)
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._max_retry_after = max_retry_after
        self._sleep = sleep  # the wait between attempts; tests record it instead of waiting
        self._metrics = metrics or Metrics()  # every attempt counts: MusicGPT's limits do
        # An explicit connect timeout makes aiohttp raise ConnectionTimeoutError, which tells
        # "never reached MusicGPT" (safe to retry a submit) apart from a timeout after sending.
        self._get_timeout = aiohttp.ClientTimeout(
            total=request_timeout, sock_connect=connect_timeout
        )
        self._submit_timeout = aiohttp.ClientTimeout(
            total=upload_timeout, sock_connect=connect_timeout
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base_url!r})"

    @property
    def base_url(self) -> str:
        return self._base_url

    # --- public API --------------------------------------------------------------------

    async def submit_sing(
        self,
        *,
        prompt: str,
        lyrics: str,
        gender: Gender | None,
        audio: AudioSource,
        webhook_url: str | None,
    ) -> SubmitReceipt:
        """Start a sing-over-instrumental task. Raises MusicGPTSubmitUncertain if MusicGPT
        may have accepted it but we could not learn its task_id."""
        fields = form_fields(prompt=prompt, lyrics=lyrics, gender=gender, webhook_url=webhook_url)
        call = _Call("POST", SING_PATH, "sing submit", fields=fields, audio=audio)
        return await self._submit(call)

    async def submit_inpaint(
        self,
        *,
        prompt: str,
        replace_start: float,
        replace_end: float,
        lyrics: str | None,
        lyrics_section_to_replace: str | None,
        gender: Gender | None,
        num_outputs: int,
        audio: AudioSource,
        webhook_url: str | None,
    ) -> SubmitReceipt:
        """Start an inpaint task replacing `replace_start`..`replace_end` seconds."""
        fields = form_fields(
            prompt=prompt,
            replace_start_at=decimal(replace_start, "replace_start"),
            replace_end_at=decimal(replace_end, "replace_end"),
            lyrics=lyrics,
            lyrics_section_to_replace=lyrics_section_to_replace,
            gender=gender,
            num_outputs=str(int(num_outputs)),
            webhook_url=webhook_url,
        )
        call = _Call("POST", INPAINT_PATH, "inpaint submit", fields=fields, audio=audio)
        return await self._submit(call)

    async def submit_extend(
        self,
        *,
        prompt: str,
        extend_after: float,
        lyrics: str | None,
        gender: Gender | None,
        audio: AudioSource,
        webhook_url: str | None,
    ) -> SubmitReceipt:
        """Start an extend task: the song continues with new audio from `extend_after`
        seconds on (two takes; MusicGPT's extend takes no `num_outputs`)."""
        if extend_after < 0:
            raise ValueError("extend_after must not be negative")
        fields = form_fields(
            prompt=prompt,
            extend_after=decimal(extend_after, "extend_after"),
            lyrics=lyrics,
            gender=gender,
            webhook_url=webhook_url,
        )
        call = _Call("POST", EXTEND_PATH, "extend submit", fields=fields, audio=audio)
        return await self._submit(call)

    async def get_conversion(
        self, kind: TaskKind, *, task_id: str | None = None, conversion_id: str | None = None
    ) -> ConversionResult:
        """Ask `GET /v1/byId` for a task's state (by task_id, or by conversion_id)."""
        if not task_id and not conversion_id:
            raise ValueError("give task_id or conversion_id")
        params = {"conversionType": kind.conversion_type}
        if task_id:
            params["task_id"] = task_id
        if conversion_id:
            params["conversion_id"] = conversion_id
        payload = await self._call(_Call("GET", BY_ID_PATH, "status check", params=params))
        return parse_conversion(payload)

    async def check_key(self) -> KeyCheck:
        """One `byId` for a task that doesn't exist (free): does MusicGPT take our key?

        A single attempt, no retries: at start-up an unreachable MusicGPT is no verdict.
        """
        call = _Call(
            "GET",
            BY_ID_PATH,
            "key check",
            params={"conversionType": TaskKind.SING.conversion_type, "task_id": _NO_SUCH_TASK},
        )
        try:
            answer = await self._send(call)
        except _Retryable as exc:
            return KeyCheck(None, None, exc.reason)
        status = answer.status
        if status in (401, 403):
            return KeyCheck(False, status, f"HTTP {status}")
        if status == 429 or status >= 500 or status < 200:
            return KeyCheck(None, status, f"HTTP {status}")
        # 404 (no such task), or any other answer past the key check: the key was taken.
        return KeyCheck(True, status, f"HTTP {status}")

    # --- one call, many attempts -------------------------------------------------------

    async def _submit(self, call: _Call) -> SubmitReceipt:
        payload = await self._call(call)
        receipt = parse_receipt(payload)
        if receipt is None:
            # A 2xx means MusicGPT took the task (and the credits) but we cannot track it.
            raise MusicGPTSubmitUncertain(
                f"MusicGPT accepted the {call.what} but its answer had no task_id"
            )
        log.info(
            "MusicGPT %s accepted: task %s, eta %s s",
            call.what,
            receipt.task_id,
            receipt.eta_seconds,
        )
        return receipt

    async def _call(self, call: _Call) -> Mapping[str, Any]:
        """Run `call` with bounded retries; return its JSON answer or raise a MusicGPTError."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait_seconds,
            retry=retry_if_exception(self._should_retry),
            before_sleep=lambda state: self._log_retry(call, state),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(call)
        except _Retryable as exc:
            raise MusicGPTUnavailable(self._give_up_message(call, exc)) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _should_retry(self, exc: BaseException) -> bool:
        if not isinstance(exc, _Retryable):
            return False
        return exc.retry_after is None or exc.retry_after <= self._max_retry_after

    def _wait_seconds(self, state: RetryCallState) -> float:
        """Exponential backoff with "equal jitter", or at least what Retry-After asked for."""
        exc = state.outcome.exception() if state.outcome is not None else None
        ceiling = min(self._backoff_max, self._backoff_base * 2 ** (state.attempt_number - 1))
        # Jitter spreads retries from many bot instances; it is not security-relevant.
        wait: float = ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            wait = max(wait, exc.retry_after)
        return wait

    def _log_retry(self, call: _Call, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        reason = exc.reason if isinstance(exc, _Retryable) else type(exc).__name__
        sleep = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "MusicGPT %s failed (%s); attempt %d of %d, retrying in %.1f s",
            call.what,
            reason,
            state.attempt_number,
            self._max_attempts,
            sleep,
        )

    def _give_up_message(self, call: _Call, exc: _Retryable) -> str:
        if exc.retry_after is not None and exc.retry_after > self._max_retry_after:
            return (
                f"MusicGPT is busy and asked us to wait {exc.retry_after:.0f} s before the "
                f"{call.what}; try again later"
            )
        return f"MusicGPT {call.what} failed after {self._max_attempts} attempts: {exc.reason}"

    # --- one attempt -------------------------------------------------------------------

    async def _attempt(self, call: _Call) -> Mapping[str, Any]:
        answer = await self._send(call)
        return self._judge(call, answer)

    async def _send(self, call: _Call) -> Answer:
        """Send one HTTP request; classify network failures as retryable or uncertain."""
        url = self._base_url + call.path
        tracker = aiohttp.UploadTracker() if call.is_submit else None
        async with AsyncExitStack() as stack:
            # A fresh form (and a freshly opened file) for every attempt: a multipart body
            # whose file was consumed by a failed attempt cannot be sent again.
            data = await build_form(call.fields, call.audio, stack) if call.is_submit else None
            try:
                async with self._session.request(
                    call.method,
                    url,
                    params=call.params,
                    data=data,
                    headers={"Authorization": self._api_key.reveal()},
                    timeout=self._submit_timeout if call.is_submit else self._get_timeout,
                    # A redirect would resend the key and, for a 307/308, the whole submit.
                    allow_redirects=False,
                    upload_tracker=tracker,
                ) as resp:
                    body = await read_body(resp)
                    self._metrics.musicgpt_call(call.endpoint, resp.status)
                    return Answer(resp.status, body, parse_retry_after(resp.headers))
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                # The connection never opened, so MusicGPT never saw the request.
                self._metrics.musicgpt_call(call.endpoint, None)
                raise _Retryable(f"could not connect ({describe(exc)})") from exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                self._metrics.musicgpt_call(call.endpoint, None)
                if tracker is not None and await body_fully_sent(tracker):
                    raise MusicGPTSubmitUncertain(
                        f"MusicGPT {call.what} was sent but no answer came back "
                        f"({describe(exc)}); it may or may not have been accepted"
                    ) from exc
                # A GET, or a submit whose body never fully left: MusicGPT cannot have a
                # complete request, so it cannot have accepted it.
                raise _Retryable(describe(exc)) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _judge(self, call: _Call, answer: Answer) -> Mapping[str, Any]:
        """Turn an HTTP answer into its JSON payload, a retry, or the right MusicGPTError."""
        status = answer.status
        payload = answer.json()
        if 200 <= status < 300:
            return self._judge_success(call, payload)
        text = self._error_text(payload, answer.body)
        if 400 <= status < 500 and (status == 402 or _CREDITS_RE.search(text)):
            # Before 429: some APIs signal an exhausted quota with 429, and waiting won't help.
            raise MusicGPTOutOfCredits(_with_text("MusicGPT account is out of credits", text))
        if status in (401, 403):
            raise MusicGPTConfigurationError(
                f"MusicGPT rejected the API key (HTTP {status}); check the bot's MusicGPT key"
            )
        if status == 422:
            raise MusicGPTValidationError(text)  # may be "": the refusal reads well without it
        if status == 429:
            raise MusicGPTRateLimited(
                _with_text(f"MusicGPT answered HTTP 429 to the {call.what}", text),
                retry_after=answer.retry_after,
            )
        if status == 409 and call.is_submit:
            # "Attempt to create a duplicate": MusicGPT may hold this task already. Sending it
            # again could charge twice, so it is handled like a submit we can't be sure of.
            raise MusicGPTSubmitConflict(
                _with_text(f"MusicGPT answered HTTP 409 to the {call.what}", text)
            )
        if status in call.retry_safe_statuses:
            raise _Retryable(_with_text(f"HTTP {status}", text), retry_after=answer.retry_after)
        if call.is_submit and not 400 <= status < 500:
            # A 5xx may come after the task was created; so may a 3xx (we don't follow those:
            # a 303 is the classic answer to a POST that *was* processed).
            raise MusicGPTSubmitUncertain(
                _with_text(
                    f"MusicGPT answered HTTP {status} to the {call.what}; "
                    "it may or may not have been accepted",
                    text,
                )
            )
        raise MusicGPTError(_with_text(f"MusicGPT answered HTTP {status} to the {call.what}", text))

    def _judge_success(self, call: _Call, payload: Any) -> Mapping[str, Any]:
        if not isinstance(payload, Mapping):
            if call.is_submit:
                raise MusicGPTSubmitUncertain(
                    f"MusicGPT answered the {call.what} with success but an unreadable body"
                )
            raise _Retryable("answer was not a JSON object")
        if payload.get("success") is False:
            # An explicit refusal: nothing was accepted, whatever the HTTP status said.
            text = self._error_text(payload, None)
            if _CREDITS_RE.search(text):
                raise MusicGPTOutOfCredits(_with_text("MusicGPT account is out of credits", text))
            raise MusicGPTError(_with_text(f"MusicGPT refused the {call.what}", text))
        return payload

    def _error_text(self, payload: Any, body: bytes | None) -> str:
        """MusicGPT's own words about a failure, short, single-line and without our key."""
        text = ""
        if isinstance(payload, Mapping):
            for key in ("error", "message", "detail"):
                value = payload.get(key)
                if isinstance(value, str) and value.strip():
                    text = value
                    break
        elif body:
            text = body[:2000].decode("utf-8", errors="replace")
        text = " ".join(text.split())
        key = self._api_key.reveal()
        if key:
            text = text.replace(key, "<redacted>")
        return trim(text, MAX_ERROR_TEXT)


def _with_text(message: str, text: str) -> str:
    return f"{message}: {text}" if text else message
