"""Reading the times users type for /inpaint and /extend: `75`, `75.5`, `1:15`, `1:15.5`,
`1:02:03`."""

from __future__ import annotations

import math
import re

from bot.core.errors import UserFacingError
from bot.core.i18n.said import Said, said

_TIMECODE = re.compile(r"^(?:(?:(\d+):)?(\d{1,2}):)?(\d+(?:\.\d+)?)$")


class BadTime(UserFacingError):
    """A start or end time the user typed can't be read."""


def parse_timecode(text: str, *, field: str) -> float:
    """Seconds from a time typed as seconds or [h:]m:ss[.fff]; BadTime names the field."""
    cleaned = text.strip().replace(",", ".")
    match = _TIMECODE.match(cleaned)
    if not match:
        raise BadTime(
            said(
                "`{field}` must be a time like 75, 75.5, 1:15 or 1:15.5 (got {typed}).",
                field=field,
                typed=_quote(text),
            )
        )
    hours, minutes, seconds = match.groups()
    if (hours or minutes) and float(seconds) >= 60:
        raise BadTime(
            said(
                "`{field}` has {seconds} seconds; after a colon use 00–59.",
                field=field,
                seconds=seconds,
            )
        )
    value = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds)
    if not math.isfinite(value):
        raise BadTime(said("`{field}` is not a time I can use.", field=field))
    return value


def format_timecode(seconds: float) -> str:
    """1:15.5 style, dropping a zero fraction: how we echo times back to users."""
    minutes, rest = divmod(seconds, 60)
    text = f"{int(minutes)}:{rest:04.1f}"
    return text.removesuffix(".0")


def check_range(start: float, end: float, song_length: float | None) -> None:
    """0 <= start < end, and end within the song when its length is known."""
    if start >= end:
        raise BadTime(
            said(
                "`start` ({start}) must come before `end` ({end}).",
                start=format_timecode(start),
                end=format_timecode(end),
            )
        )
    if song_length is not None and end > song_length + LENGTH_SLACK:
        raise BadTime(
            said(
                "`end` ({end}) is past the end of the song, which is {length} long.",
                end=format_timecode(end),
                length=format_timecode(song_length),
            )
        )


NO_LENGTH = said(
    "I can't measure how long that song is, so tell me where the new part starts (`after`, "
    "like 75 or 1:15.5). Nothing was charged."
)
# What a song's end may be overshot by (MusicGPT's lengths and ours differ by a frame or two,
# and a length shown as 1:15.5 may be 75.46 s).
LENGTH_SLACK = 0.05


def extend_point(after: float | None, song_length: float | None) -> float:
    """Where an extend's new part starts: `after` as typed, or the song's measured end when
    left out; refused (BadTime) past the end, or when neither is known."""
    if after is None:
        if song_length is None:
            raise BadTime(NO_LENGTH)
        return song_length
    if song_length is not None and after > song_length + LENGTH_SLACK:
        raise BadTime(
            said(
                "The new part can't start at {after}: the song is {length} long. "
                "Nothing was charged.",
                after=format_timecode(after),
                length=format_timecode(song_length),
            )
        )
    return after


def _quote(text: str) -> str | Said:
    shown = text.strip()[:20].replace("`", "'")
    return f"“{shown}”" if shown else said("nothing")
