"""Checks the stand-in's recorded traffic against Discord's OpenAPI description.

The spec lives outside the project (`../shared/discord/openapi.json`, or the path in
`DISCORD_OPENAPI_SPEC`). Loading it takes ~0.1 s and each check ~10 ms, so checks run on
demand (`DiscordStandIn.openapi_violations()`), not inside the request path.

Multipart bodies are checked through their `payload_json` part as if sent as JSON:
openapi-core 0.23 fails with a TypeError on Discord's multipart schemas.

Known leniency: the spec types snowflakes as strings, but Discord coerces JSON integers, and
discord.py sends some as integers (`allowed_mentions.users`, and the upload indexes in
`attachments: [{"id": 0, ...}]`). Those integers are turned into strings before checking.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multidict import CIMultiDict, MultiDict
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters

from .model import RecordedRequest

DEFAULT_SPEC_PATH = Path(__file__).resolve().parents[4] / "shared" / "discord" / "openapi.json"
SERVER = "https://discord.com"
API_PREFIX = "/api/v10"

_lock = threading.Lock()
_cache: dict[Path, Any] = {}


def spec_path() -> Path:
    return Path(os.environ.get("DISCORD_OPENAPI_SPEC", DEFAULT_SPEC_PATH))


def spec_available(path: Path | None = None) -> bool:
    return (path or spec_path()).is_file()


def _openapi(path: Path) -> Any:
    with _lock:
        if path not in _cache:
            with path.open() as fh:
                spec = json.load(fh)
            _cache[path] = OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))
        return _cache[path]


@dataclass(frozen=True)
class Violation:
    kind: str  # "request" | "response"
    method: str
    path: str
    status: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.kind} {self.method} {self.path} -> {self.status}: {self.message}"


class _Request:
    def __init__(
        self, method: str, path: str, query: list[tuple[str, str]], headers: dict, body, ctype
    ) -> None:
        self.host_url = SERVER
        self.path = API_PREFIX + path
        self.method = method.lower()
        self.parameters = RequestParameters(
            query=MultiDict(query), header=CIMultiDict(headers), cookie=MultiDict()
        )
        self.body = body
        self.content_type = ctype or ""


class _Response:
    def __init__(self, status: int, body: bytes | None, ctype: str | None, headers: dict) -> None:
        self.status_code = status
        self.data = body or b""
        self.content_type = ctype or ""
        self.headers = CIMultiDict(headers)


def _describe(exc: Exception) -> str:
    parts = [str(exc)]
    cause = exc.__cause__
    for err in getattr(cause, "schema_errors", None) or []:
        where = "/".join(str(p) for p in getattr(err, "absolute_path", []))
        parts.append(f"[{where}] {getattr(err, 'message', err)}")
    return " | ".join(parts)[:2000]


def _stringify_snowflakes(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _stringify_snowflakes(v, k) for k, v in value.items()}
    if isinstance(value, list):
        if key == "attachments":
            return [
                {**a, "id": str(a["id"])} if isinstance(a, dict) and type(a.get("id")) is int else a
                for a in (_stringify_snowflakes(v) for v in value)
            ]
        return [_stringify_snowflakes(v) for v in value]
    if type(value) is int and value >= 2**32:
        return str(value)
    return value


def _lenient(body: bytes | None) -> bytes | None:
    """Discord coerces JSON integers into snowflakes; the spec wants strings."""
    if not body:
        return body
    try:
        data = json.loads(body)
    except ValueError:
        return body
    return json.dumps(_stringify_snowflakes(data)).encode()


def check(
    records: list[RecordedRequest], *, responses: bool, path: Path | None = None
) -> list[Violation]:
    """Validate recorded REST requests (and optionally the stand-in's own responses)."""
    api = _openapi(path or spec_path())
    out: list[Violation] = []
    for rec in records:
        if rec.kind != "rest" or rec.fault is not None or rec.unhandled:
            continue
        headers = dict(rec.headers)
        if rec.authorization is not None:
            headers["Authorization"] = rec.authorization + " <token>"
        request = _Request(
            rec.method,
            rec.path,
            rec.query_items,
            headers,
            _lenient(rec.validation_body),
            rec.validation_ctype,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Unsupported scheme type" for OAuth2
            try:
                api.validate_request(request)
            except Exception as exc:
                out.append(Violation("request", rec.method, rec.path, rec.status, _describe(exc)))
                continue
            if not responses or rec.status is None:
                continue
            response = _Response(
                rec.status, rec.response_body, rec.response_ctype, rec.response_headers
            )
            try:
                api.validate_response(request, response)
            except Exception as exc:
                out.append(Violation("response", rec.method, rec.path, rec.status, _describe(exc)))
    return out
