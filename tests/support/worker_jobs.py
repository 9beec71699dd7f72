"""Jobs for the media worker's own tests: each breaks one bound on purpose.

They live in a module (not in a test) because the worker's children import the function
they run by name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


def echo(value: object) -> object:
    return value


def spin() -> None:
    """Burn CPU until RLIMIT_CPU stops it."""
    while True:
        pass


def hog() -> bytes:
    """Allocate until RLIMIT_AS refuses."""
    chunks = []
    while True:
        chunks.append(bytearray(64 * 1024 * 1024))


def nap(seconds: float) -> str:
    """Sleep (no CPU) past the wall-clock bound."""
    time.sleep(seconds)
    return "woke"


def fail() -> None:
    raise ValueError("a bug in a job")


def huge() -> str:
    """A result longer than any verdict (the parent refuses to read it)."""
    return "x" * (2 * 1024 * 1024)


def a_set() -> set[int]:
    """Not JSON: results are never pickled back, so this can't be returned."""
    return {1, 2}


@dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: str


def point() -> Point:
    return Point(3, "z")


def peak_rss() -> int:
    """A child's peak resident memory (bytes) when it does nothing: the baseline of a job's."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
