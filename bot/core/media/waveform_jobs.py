"""Waveform pictures for inpaints and extends: which audio to draw, drawing it, and where the
PNG lives. An inpaint's picture marks the part replaced, an extend's where the new part starts
(shaded from `extend_after` to the end).

One job per such task, started when its status is first shown (and again after a restart if
it never finished): the song is drawn by `bot.core.media.waveform` in the media worker, the PNG
kept in `waveforms/` next to the database (0600) until the status renderer has uploaded it
and the task is final. `tasks.waveform_state` says what was made and posted, so a restart
neither loses a picture nor uploads it twice. On PostgreSQL the PNG is in the database too
(`waveform_pictures`, until the task is final): whichever process draws the status message
writes it out to its own folder, so a picture drawn by a process that died since is posted.

Where the audio comes from, first that works (`sources_for`):

* the task's own file in the audio folder, while it is there (the dispatcher deletes it
  once MusicGPT has it: the job works on its own hard link, so it never holds that up);
* the kept input (`bot.core.media.inputs`) with the same content hash, once the task was submitted;
  on PostgreSQL, the task's blob in the database (`bot.core.media.blobs`), queued or kept;
* the task's link: a Rewrite's is the parent's take as MusicGPT named it, which delivery
  already downloads the same way; a member's `audio_url` is fetched only when it is on the
  origins attachments may come from (Discord's CDN), with redirects checked hop by hop.
  Any other link gets no picture: the bot must not be a way to reach hosts only it can see.

A picture that can't be made is one log line and `none`; the task never notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bot.core.config import UrlOrigin, origin_of
from bot.core.errors import AudioRejected
from bot.core.media.blobs import DatabaseAudio
from bot.core.media.download import DIR_MODE, FILE_MODE, download_to_file
from bot.core.media.inputs import link_or_copy
from bot.core.media.waveform import WaveformFailed, render_waveform
from bot.core.media.worker import MediaWorker
from bot.core.models import Task, TaskKind, WaveformState
from bot.core.store.port import WaveformStore

__all__ = ["Source", "Waveforms", "attachment_name", "sources_for", "wants_picture"]

log = logging.getLogger(__name__)

Render = Callable[..., Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class Source:
    """One place a task's audio may be read from; exactly one field set."""

    path: Path | None = None  # a file of the bot's own (the task's upload)
    kept: str | None = None  # a kept input's content hash
    url: str | None = None
    # A link to check origin by origin (a member's), rather than MusicGPT's own.
    guarded: bool = False


_DRAWN_KINDS = frozenset({TaskKind.INPAINT, TaskKind.EXTEND})


def wants_picture(task: Task) -> bool:
    """An inpaint or extend whose picture was never made (nor found impossible), under way."""
    return task.kind in _DRAWN_KINDS and task.waveform_state is None and not task.status.is_final


def attachment_name(task_id: int) -> str:
    return f"waveform-{task_id}.png"


def _on(url: str, origins: Collection[UrlOrigin]) -> bool:
    try:
        return origin_of(url) in origins
    except ValueError:  # a malformed port
        return False


def sources_for(
    task: Task, parent: Task | None, *, allowed_origins: Collection[UrlOrigin]
) -> list[Source]:
    """Where to read the task's audio, best first; empty when the bot may read none."""
    sources: list[Source] = []
    if task.audio_path:
        sources.append(Source(path=Path(task.audio_path)))
    if task.input_sha256:
        sources.append(Source(kept=task.input_sha256))
    url = task.audio_url
    if url:
        if _is_parents_take(task, parent, url):
            sources.append(Source(url=url))
        elif _on(url, allowed_origins):
            sources.append(Source(url=url, guarded=True))
    return sources


def _is_parents_take(task: Task, parent: Task | None, url: str) -> bool:
    """The link is the take a Rewrite started from, as MusicGPT gave it to the bot."""
    take = task.parent_output
    if parent is None or take is None or not 1 <= take <= len(parent.outputs):
        return False
    return parent.outputs[take - 1].audio_url == url


class Waveforms:
    def __init__(
        self,
        store: WaveformStore,
        directory: Path,
        *,
        session: aiohttp.ClientSession,
        worker: MediaWorker,
        inputs_dir: Path,
        max_bytes: int,
        allowed_origins: Collection[UrlOrigin],
        render: Render = render_waveform,
        blobs: DatabaseAudio | None = None,
    ) -> None:
        self._store = store
        self._blobs = blobs  # PostgreSQL: uploads' bytes, and pictures, are in the database
        self.directory = directory
        self._session = session
        self._worker = worker
        self._inputs_dir = inputs_dir
        self._max_bytes = max_bytes
        self._origins = frozenset(allowed_origins)
        self._render = render  # the seam unit tests draw with
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        directory.chmod(DIR_MODE)

    def path_for(self, task_id: int) -> Path:
        return self.directory / attachment_name(task_id)

    async def picture(self, task: Task) -> Path | None:
        """The PNG to upload with the task's status, if one is made and not posted yet (on
        PostgreSQL, written out here when another process drew it)."""
        if task.waveform_state is not WaveformState.READY:
            return None
        path = self.path_for(task.id)
        if await asyncio.to_thread(path.is_file):
            return path
        png = await self._store.waveform_png(task.id) if self._blobs is not None else None
        if png is None:
            return None
        await asyncio.to_thread(_write_private, path, png)
        return path

    async def posted(self, task: Task) -> None:
        """The status message carries the picture now."""
        await self._store.set_waveform_state(task.id, WaveformState.POSTED, was=WaveformState.READY)

    async def discard_if_posted(self, task_id: int) -> bool:
        """Once the task is final and its picture posted, Discord keeps it: ours goes."""
        task = await self._store.get_task(task_id)
        if task is None or not task.status.is_final:
            return False
        if task.waveform_state is not WaveformState.POSTED:
            return False
        with contextlib.suppress(OSError):
            await asyncio.to_thread(self.path_for(task_id).unlink, missing_ok=True)
        if self._blobs is not None:
            await self._store.drop_waveform_pngs(task_id)
        return True

    async def sweep(self) -> int:
        """At start-up: remove what a finished task (or a crash mid-job) left behind. A
        final task's picture is never shown again, whether it was posted or not."""
        removed = 0
        for entry in await asyncio.to_thread(lambda: list(self.directory.iterdir())):
            task_id = _task_of(entry.name)
            task = await self._store.get_task(task_id) if task_id is not None else None
            keep = (
                task is not None
                and entry.name == attachment_name(task.id)
                and not task.status.is_final
            )
            if not keep:
                with contextlib.suppress(OSError):
                    entry.unlink()
                    removed += 1
        if self._blobs is not None:
            await self._store.drop_waveform_pngs()
        return removed

    # --- making ----------------------------------------------------------------------------

    async def make(self, task_id: int) -> bool:
        """Draw the task's picture if it still wants one; True when its state changed (a
        picture is ready, or it was found impossible). Never raises but for cancellation."""
        try:
            task = await self._store.get_task(task_id)
            if task is None or not wants_picture(task):
                return False
            parent = (
                await self._store.get_task(task.parent_task_id) if task.parent_task_id else None
            )
            png = await self._draw(task, parent)
            if png is None:
                return await self._store.set_waveform_state(task_id, WaveformState.NONE, was=None)
            await asyncio.to_thread(_write_private, self.path_for(task_id), png)
            if self._blobs is not None:  # before READY: whoever sees READY finds it
                await self._store.put_waveform_png(task_id, png)
            return await self._store.set_waveform_state(task_id, WaveformState.READY, was=None)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("no waveform for task %s (%s)", task_id, type(error).__name__)
            with contextlib.suppress(Exception):
                await self._store.set_waveform_state(task_id, WaveformState.NONE, was=None)
            return True

    async def _draw(self, task: Task, parent: Task | None) -> bytes | None:
        for source in sources_for(task, parent, allowed_origins=self._origins):
            local = await self._local_copy(task, source)
            if local is None:
                continue
            try:
                # member=None: every picture queues behind the last one, so pictures take at
                # most one of the worker's slots and members' checks always have another.
                return await self._render(
                    local,
                    start=task.replace_start,
                    end=task.replace_end,
                    worker=self._worker,
                    member=None,
                )
            except WaveformFailed as failed:
                log.info("no waveform for task %s: %s", task.id, failed.user_message)
                return None  # every source holds the same song: the next won't decode either
            finally:
                with contextlib.suppress(OSError):
                    local.unlink(missing_ok=True)
        log.info("no waveform for task %s: no copy of its audio I may read", task.id)
        return None

    async def _local_copy(self, task: Task, source: Source) -> Path | None:
        """A file of the job's own with the source's bytes, or None if it isn't there.

        Its own name (a hard link where possible) so that the dispatcher deleting the
        task's file, or an eviction, can't pull the song away mid-drawing.
        """
        target = self.directory / f"source-{task.id}-{uuid.uuid4().hex}"
        try:
            if source.path is not None:
                await asyncio.to_thread(link_or_copy, source.path, target)
            elif source.kept is not None and self._blobs is not None:
                if not await self._blobs.write_to(source.kept, target):
                    return None
            elif source.kept is not None:
                kept = await self._store.get_input(source.kept)
                if kept is None:
                    return None
                original = self._inputs_dir / f"{kept.sha256}{kept.extension}"
                await asyncio.to_thread(link_or_copy, original, target)
            elif source.url is not None:
                await download_to_file(
                    self._session,
                    source.url,
                    target,
                    max_bytes=self._max_bytes,
                    allowed_origins=self._origins if source.guarded else None,
                )
        except FileNotFoundError:
            return None  # gone meanwhile (submitted, or evicted): the next source, then
        except AudioRejected as refused:
            log.info("waveform of task %s: couldn't fetch its audio: %s", task.id, refused)
            return None
        return target


def _task_of(name: str) -> int | None:
    """The task a file in the folder belongs to, from its name."""
    for prefix in ("waveform-", "source-"):
        if name.startswith(prefix):
            number = name[len(prefix) :].split("-", 1)[0].split(".", 1)[0]
            return int(number) if number.isdigit() else None
    return None


def _write_private(path: Path, data: bytes) -> None:
    """Written whole under a temporary name, then renamed: a crash leaves no half PNG."""
    partial = path.with_name(f"{path.name}.part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
