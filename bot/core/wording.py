"""Counts in words: "1 server", "2 servers", for log lines and members' texts alike."""

from __future__ import annotations


def count(n: float, one: str, many: str | None = None) -> str:
    """`n` and the noun that goes with it: count(1, "server") is "1 server", count(2, "server")
    "2 servers"; give `many` where adding an "s" is wrong (count(3, "entry", "entries"))."""
    word = noun(n, one, many)
    return f"{n:g} {word}" if isinstance(n, float) else f"{n} {word}"


def noun(n: float, one: str, many: str | None = None) -> str:
    """The noun alone, agreeing with `n` ("song" or "songs"), for texts that put the number
    elsewhere ("**2 of 5** songs left")."""
    return one if n == 1 else (many if many is not None else f"{one}s")
