"""bot.core.media.spool: the bytes held for audio, the disk's headroom, and what a full disk looks
like."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.core.errors import DiskFull, SpoolFull
from bot.core.media.spool import Spool, is_disk_full
from bot.core.store.sqlite import storage_error
from bot.discord.tree import UNEXPECTED, user_message_for

MB = 1024 * 1024


class Disk:
    def __init__(self, free: int) -> None:
        self.free = free
        self.calls = 0

    def __call__(self, path: Path) -> Any:
        self.calls += 1
        return SimpleNamespace(total=10_000 * MB, used=0, free=self.free)


def test_disk_ok_is_false_once_the_margin_is_eaten(tmp_path: Path) -> None:
    disk = Disk(free=300 * MB)
    spool = Spool(tmp_path, cap_bytes=MB, disk_margin=256 * MB, disk_usage=disk)
    assert spool.disk_ok()
    disk.free = 255 * MB
    assert not spool.disk_ok()
    assert disk.calls == 2  # one statvfs per question: cheap enough for every /readyz


def test_disk_ok_on_the_real_disk(tmp_path: Path) -> None:
    assert Spool(tmp_path, cap_bytes=MB, disk_margin=0).disk_ok()
    assert not Spool(tmp_path, cap_bytes=MB, disk_margin=1 << 62).disk_ok()
    assert Spool(tmp_path / "not-yet", cap_bytes=MB, disk_margin=0).disk_ok()


def test_held_counts_reservations_and_finished_files_but_not_partial_ones(
    tmp_path: Path,
) -> None:
    now = [0.0]
    spool = Spool(tmp_path, cap_bytes=10 * MB, monotonic=lambda: now[0])
    (tmp_path / "queued.mp3").write_bytes(b"\0" * 1000)
    (tmp_path / "downloading.part").write_bytes(b"\0" * 500)  # counted by its reservation
    assert spool.held() == 1000
    a = spool.reserve(3000)
    b = spool.reserve(2000)
    assert spool.held() == 6000
    a.land(2500)  # the file arrived: its real size now, without waiting for a scan
    assert spool.held() == 5500 and a.held == 2500
    b.drop()
    b.drop()  # twice is once
    assert spool.held() == 3500
    a.drop()
    assert spool.held() == 1000
    (tmp_path / "queued.mp3").unlink()
    now[0] += 2
    assert spool.held() == 0


def test_the_cap_and_the_disk_refuse_with_their_own_words(tmp_path: Path) -> None:
    disk = Disk(free=100 * MB)
    spool = Spool(tmp_path, cap_bytes=5 * MB, disk_margin=10 * MB, disk_usage=disk)
    first = spool.reserve(4 * MB)
    with pytest.raises(SpoolFull, match="holding too much audio"):
        spool.reserve(2 * MB)
    spool.reserve(2 * MB, replacing=first)  # the replaced form's bytes are going
    disk.free = 11 * MB
    with pytest.raises(DiskFull, match="My disk is full"):
        spool.reserve(2 * MB, replacing=first)
    with pytest.raises(DiskFull):
        spool.check_room(2 * MB)


@pytest.mark.parametrize(
    ("error", "full"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), True),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
        (storage_error(sqlite3.OperationalError("database or disk is full")), True),
        (OSError(errno.EACCES, "Permission denied"), False),
        (storage_error(sqlite3.OperationalError("database is locked")), False),
        (ValueError("database or disk is full"), False),
        (DiskFull(), True),
    ],
)
def test_is_disk_full(error: BaseException, full: bool) -> None:
    assert is_disk_full(error) is full
    wrapped = RuntimeError("while writing")
    wrapped.__cause__ = error
    assert is_disk_full(wrapped) is full


def test_the_error_boundary_says_disk_full_not_something_went_wrong() -> None:
    disk_full = OSError(errno.ENOSPC, "No space left on device")
    assert user_message_for(disk_full) == DiskFull.MESSAGE
    assert user_message_for(
        storage_error(sqlite3.OperationalError("database or disk is full"))
    ) == ("My disk is full, so I can't take audio right now; nothing was charged.")
    assert user_message_for(OSError(errno.EIO, "I/O error")) is None  # a bug: UNEXPECTED
    assert UNEXPECTED.startswith("Something went wrong")
