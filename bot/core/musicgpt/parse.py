"""Tolerant parsing of MusicGPT's answers and webhook bodies.

MusicGPT is loose about field names and types, and webhooks are unauthenticated, so these
parsers treat their input as hostile: wrong types never raise, they only lose information.

This module must not import discord.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from bot.core.models import ConversionResult, ConversionStatus, Output, SubmitReceipt

log = logging.getLogger(__name__)

__all__ = ["MAX_ERROR_TEXT", "parse_conversion", "parse_receipt", "trim"]

MAX_ERROR_TEXT: Final = 300  # MusicGPT's error text is shown to users; keep it short
_MAX_OUTPUT_SUFFIX: Final = 4  # MusicGPT makes at most 2 outputs; bound the key scan anyway
_MAX_ID_CHARS: Final = 200
_MAX_TITLE_CHARS: Final = 200


def parse_receipt(payload: Any) -> SubmitReceipt | None:
    """A submit answer as a SubmitReceipt; None if it carries no usable task_id."""
    if not isinstance(payload, Mapping):
        return None
    task_id = _as_id(payload.get("task_id"))
    if task_id is None:
        return None
    eta = _as_number(payload.get("eta"))
    return SubmitReceipt(
        task_id=task_id,
        conversion_ids=_conversion_ids(payload),
        eta_seconds=round(eta) if eta is not None else None,
        credit_estimate=_as_number(payload.get("credit_estimate")),
        message=_as_text(payload.get("message"), MAX_ERROR_TEXT) or "",
    )


def parse_conversion(payload: Mapping[str, Any]) -> ConversionResult:
    """A `byId` answer (`{"success":…, "conversion":{…}}`) or a raw webhook body, in any of
    the shapes MusicGPT uses, as a ConversionResult. Never raises: garbage becomes UNKNOWN."""
    try:
        return _parse_conversion(payload)
    except (TypeError, ValueError, AttributeError, LookupError, OverflowError, RecursionError):
        # The helpers below check types, so this is a net for inputs nobody foresaw.
        log.warning("unparseable MusicGPT conversion payload", exc_info=True)
        return ConversionResult(status=ConversionStatus.UNKNOWN)


def _parse_conversion(payload: Any) -> ConversionResult:
    if not isinstance(payload, Mapping):
        return ConversionResult(status=ConversionStatus.UNKNOWN)
    inner = payload.get("conversion")
    body: Mapping[str, Any] = inner if isinstance(inner, Mapping) else payload
    task_id = _as_id(body.get("task_id"))
    conversion_ids = _conversion_ids(body)
    if body.get("status") is None and "subtype" in body:
        # Side-channel deliveries (e.g. "lyrics_timestamped") say nothing about progress.
        return ConversionResult(
            status=ConversionStatus.UNKNOWN, task_id=task_id, conversion_ids=conversion_ids
        )
    message = None
    for key in ("status_msg", "message", "error"):
        message = _as_text(body.get(key), MAX_ERROR_TEXT)
        if message:
            break
    return ConversionResult(
        status=_as_status(body.get("status")),
        task_id=task_id,
        conversion_ids=conversion_ids,
        message=message,
        outputs=tuple(_outputs(body)),
        cost=_as_number(body.get("conversion_cost")),
    )


def _outputs(body: Mapping[str, Any]) -> Iterator[Output]:
    """Suffixed outputs (`conversion_path_1`, …) first, then the unsuffixed shapes."""
    seen: set[str] = set()
    suffixes = [f"_{n}" for n in range(1, _MAX_OUTPUT_SUFFIX + 1)] + [""]
    for suffix in suffixes:
        output = _output(body, suffix)
        if output is not None and output.audio_url not in seen:
            seen.add(output.audio_url)
            yield output


def _output(body: Mapping[str, Any], suffix: str) -> Output | None:
    url = (
        _as_url(body.get(f"conversion_path{suffix}"))
        or _as_url(body.get(f"conversion_path_wav{suffix}"))
        or _as_url(body.get(f"audio_url{suffix}"))
    )
    if url is None:
        return None
    duration = _as_number(body.get(f"conversion_duration{suffix}"))
    return Output(
        audio_url=url,
        conversion_id=_as_id(body.get(f"conversion_id{suffix}")),
        duration=duration if duration is not None and duration >= 0 else None,
        title=_as_text(body.get(f"title{suffix}"), _MAX_TITLE_CHARS),
    )


def _conversion_ids(body: Mapping[str, Any]) -> tuple[str, ...]:
    keys = [f"conversion_id_{n}" for n in range(1, _MAX_OUTPUT_SUFFIX + 1)] + ["conversion_id"]
    ids: list[str] = []
    for key in keys:
        value = _as_id(body.get(key))
        if value is not None and value not in ids:
            ids.append(value)
    return tuple(ids)


def _as_status(value: Any) -> ConversionStatus:
    if not isinstance(value, str):
        return ConversionStatus.UNKNOWN
    try:
        return ConversionStatus(value.strip().upper())
    except ValueError:
        return ConversionStatus.UNKNOWN


def _as_id(value: Any) -> str | None:
    """An identifier: a short non-empty string, or an integer MusicGPT sent as a number."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    text: str = value.strip()
    if not text or len(text) > _MAX_ID_CHARS or not text.isprintable():
        return None
    return text


def _as_text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    return trim(text, limit) if text else None


def _as_number(value: Any) -> float | None:
    """A finite number, also from a numeric string ("45.5"); None for anything else."""
    if isinstance(value, bool):
        return None
    if not isinstance(value, int | float | str) or (isinstance(value, str) and len(value) > 64):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):  # "abc", or an integer too large for a float
        return None
    return number if math.isfinite(number) else None


def _as_url(value: Any) -> str | None:
    """An absolute http(s) URL; anything else (file:, javascript:, relative, junk) is dropped."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or len(url) > 2048 or any(ch.isspace() or not ch.isprintable() for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def trim(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
