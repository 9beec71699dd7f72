"""How much audio the bot holds on disk, and whether the disk has room for more.

One job: the bytes held for pending and queued audio against `AUDIO_SPOOL_MB`, and the disk's
free space against a margin. Bytes held are the downloads in progress, reserved at the size
Discord declared for the attachment (so a burst of commands can't all pass the check before
any file exists), plus the files already in the audio folder, whoever holds them (an open
form, a queued task, a submit under way).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from bot.core.errors import DiskFull, SpoolFull, StorageError
from bot.core.i18n import N_
from bot.core.i18n.said import said

__all__ = ["DISK_MARGIN", "Reservation", "Spool", "is_disk_full"]

# Free space the bot keeps for the database, logs and output downloads: below it no new
# download starts, and `disk_ok()` says the bot is not ready.
DISK_MARGIN = 256 * 1024 * 1024
# How long a scan of the audio folder is trusted. Reservations are exact and a landed
# download is added at once, so a stale scan only overcounts files deleted meanwhile; a
# burst of 200 commands costs one scan instead of 200.
SCAN_TTL = 1.0
SPOOL_FULL = N_("I'm holding too much audio right now; try again in a few minutes.")
PARTIAL_SUFFIX = ".part"  # downloads in progress: counted by their reservation instead


class DiskUsage(NamedTuple):
    total: int
    used: int
    free: int


class Reservation:
    """The bytes of one attachment, from its command until its task owns the file:
    reserved at the declared size while downloading, then the file's real size."""

    def __init__(self, spool: Spool, size: int) -> None:
        self._spool = spool
        self.size = size
        self.landed: int | None = None  # the file's size once downloaded
        self.dropped = False

    @property
    def held(self) -> int:
        if self.dropped:
            return 0
        return self.size if self.landed is None else self.landed

    def land(self, file_size: int) -> None:
        """The download is done: the reservation becomes a file of `file_size` bytes."""
        if not self.dropped and self.landed is None:
            self.landed = file_size
            self._spool._settle(reserved=-self.size, files=file_size)

    def drop(self) -> None:
        """The download failed, or its file was deleted: give the bytes back."""
        if not self.dropped:
            self.dropped = True
            if self.landed is None:
                self._spool._settle(reserved=-self.size, files=0)
            else:
                self._spool._settle(reserved=0, files=-self.landed)


class Spool:
    def __init__(
        self,
        directory: Path,
        *,
        cap_bytes: int,
        disk_margin: int = DISK_MARGIN,
        disk_usage: Callable[[Path], DiskUsage] = shutil.disk_usage,  # type: ignore[assignment]
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self.cap_bytes = cap_bytes
        self.disk_margin = disk_margin
        self._disk_usage = disk_usage
        self._monotonic = monotonic
        self._reserved = 0
        self._files = 0
        self._scanned_at: float | None = None

    def held(self) -> int:
        """Bytes held now: reservations plus the audio folder's files."""
        now = self._monotonic()
        if self._scanned_at is None or now - self._scanned_at > SCAN_TTL:
            self._files = self._scan()
            self._scanned_at = now
        return self._reserved + self._files

    def reserve(self, size: int, *, replacing: Reservation | None = None) -> Reservation:
        """Set `size` bytes aside for a download, or raise SpoolFull / DiskFull.

        `replacing` is a reservation about to be given back (the form this one replaces),
        so a member's new form isn't refused for the bytes of the old one.
        """
        held = self.held()
        if replacing is not None:
            held -= replacing.held
        if held + size > self.cap_bytes:
            raise SpoolFull(said(SPOOL_FULL))
        self.check_room(size)
        self._reserved += size
        return Reservation(self, size)

    def check_room(self, size: int) -> None:
        """Raise DiskFull unless `size` more bytes fit on the disk and leave the margin free."""
        if self._free() < size + self.disk_margin:
            raise DiskFull()

    def disk_ok(self) -> bool:
        """Whether the disk has more than the margin free (for `/readyz`): one statvfs call."""
        return self._free() >= self.disk_margin

    def _free(self) -> int:
        try:
            return int(self._disk_usage(self.directory).free)
        except FileNotFoundError:
            return int(self._disk_usage(self.directory.parent).free)

    def _settle(self, *, reserved: int, files: int) -> None:
        self._reserved += reserved
        # A scan since the file landed may already have counted it (or its deletion).
        self._files = max(0, self._files + files)

    def _scan(self) -> int:
        total = 0
        with contextlib.suppress(FileNotFoundError), os.scandir(self.directory) as entries:
            for entry in entries:
                if entry.name.endswith(PARTIAL_SUFFIX):
                    continue
                with contextlib.suppress(OSError):
                    if entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
        return total


def is_disk_full(error: BaseException | None) -> bool:
    """Whether `error` (or what caused it) is a full disk: ENOSPC, or SQLite's SQLITE_FULL."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, DiskFull):
            return True
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(error, StorageError) and error.reason == "full":
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False
