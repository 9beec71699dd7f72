"""A finished task's songs, fetched for posting: what fits the upload limit is downloaded,
anything else (too big, or MusicGPT's file server failing) becomes a link.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from bot.core.errors import AudioRejected
from bot.core.media.download import DIR_MODE, DownloadFailed, download_to_file
from bot.core.models import Output, Task

log = logging.getLogger(__name__)

DOWNLOAD_ATTEMPTS = 3  # per output file, before it is posted as a link
SUFFIXES = frozenset({".mp3", ".wav", ".flac", ".ogg", ".m4a"})


@dataclass(frozen=True, slots=True)
class Attachable:
    output: Output
    path: Path | None  # None: post a link instead

    def as_link(self) -> Attachable:
        return Attachable(self.output, None)


class OutputFetcher:
    def __init__(self, session: aiohttp.ClientSession, directory: Path) -> None:
        self._session = session
        self._directory = directory
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        directory.chmod(DIR_MODE)  # members' songs: the bot's user alone reads them

    async def fetch(self, task: Task, limit: int) -> list[Attachable]:
        """Every output of `task`, in order; together the downloaded ones fit in `limit` bytes.

        The downloads run at once; each may use what is left of the limit after the ones
        before it, so what fits is decided in output order, as one message would take them.
        """
        paths = [
            self._directory / f"{task.id}-{uuid.uuid4().hex}{suffix_of(o.audio_url)}"
            for o in task.outputs
        ]
        sizes = await asyncio.gather(
            *(
                self._download(task, o.audio_url, p, limit)
                for o, p in zip(task.outputs, paths, strict=True)
            )
        )
        attachables: list[Attachable] = []
        room = limit
        for output, path, size in zip(task.outputs, paths, sizes, strict=True):
            if size is not None and size <= room:
                room -= size
                attachables.append(Attachable(output, path))
            else:
                if size is not None:
                    log.info("output of task %s too big for what is left; linked", task.id)
                path.unlink(missing_ok=True)
                attachables.append(Attachable(output, None))
        return attachables

    async def _download(self, task: Task, url: str, path: Path, max_bytes: int) -> int | None:
        """Bytes downloaded, or None when this output must be a link."""
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(DownloadFailed),
                stop=stop_after_attempt(DOWNLOAD_ATTEMPTS),
                wait=wait_exponential(multiplier=0.5, max=5),
                before_sleep=lambda state: log.info(
                    "download of an output of task %s failed (%s); retrying",
                    task.id,
                    state.outcome.exception() if state.outcome else "?",
                ),
                reraise=True,
            ):
                with attempt:
                    return await download_to_file(self._session, url, path, max_bytes=max_bytes)
        except AudioRejected as error:
            log.info("output of task %s not attached: %s", task.id, error.user_message)
        return None


def discard(attachables: Sequence[Attachable]) -> None:
    for item in attachables:
        if item.path:
            item.path.unlink(missing_ok=True)


def suffix_of(url: str) -> str:
    suffix = Path(url.split("?", 1)[0]).suffix.lower()
    return suffix if suffix in SUFFIXES else ".mp3"
