"""The status renderer: keeps each task's status message in the channel up to date.

The one place a status message is drawn. It consumes the tracker's "task N changed" events
and never holds the tracker up; the confirmation of a new song asks for its first drawing
through the same path (`render_now`), so the message exists (and can be linked to) before
the member is told the song was taken. Per task,
the latest state wins: changes that arrive while a message is being edited are folded into
one more edit of whatever the task looks like by then. A few renders run at once, so a burst
of finished tasks doesn't take the event loop away from posting their songs.

An inpaint's waveform picture (`bot.core.media.waveform_jobs`) is drawn in the background from its
first
drawing on; its arrival is one more change. The PNG is uploaded once, with whichever send or
edit first finds it ready; later edits only name it (`attachment://`), and Discord keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import tasks

from bot.core.media.waveform_jobs import attachment_name, wants_picture
from bot.core.models import Task, TaskStatus, WaveformState
from bot.core.songs.actions import cancelled_key, deleted_key
from bot.core.songs.progress import StatusView, status_view
from bot.discord.ui.buttons import status_buttons
from bot.discord.ui.cards import status_embed

if TYPE_CHECKING:
    from bot.discord.bot import SingingBot

log = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0  # progress bars and queue positions advance this often
CONCURRENT_RENDERS = 4
# A finished song is usually posted within a fraction of a second: the "posting…" stage is
# only shown when posting takes longer than this, so a burst of results costs one status
# edit per task instead of two (bench figure 4).
POSTING_GRACE = 2.0
# Status edits wait (up to this long) while songs are being posted: the songs matter more,
# and a status changed meanwhile is rendered once, as it stands then.
YIELD_TO_DELIVERY = 1.0
# How far back (newest first) a restarted bot looks for a status it sent but never recorded.
STATUS_SEARCH_LIMIT = 200


def status_nonce(task: Task) -> str:
    """The nonce of a task's first status send, the same after a restart (from its row; at
    most 25 characters, Discord's limit). With `enforce_nonce` (discord.py sets it with every
    nonce) a repeated send within a few minutes returns the message already made instead of a
    second one. The time it was asked keeps song #1 of a fresh database from meeting the
    nonce of an old song #1."""
    return f"s{task.id}-{int(task.created_at * 1000)}"[:25]


def is_status_of(title: str | None, task_id: int) -> bool:
    """Whether an embed's title is a status of this task (`… · song #N`, the number last in
    every language)."""
    return bool(title) and str(title).endswith(f" #{task_id}")


class StatusRenderer:
    """`SingingBot.status_renderer`."""

    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot
        self._store = bot.store
        # The render of each task under way (it renders again while `_again` names the task).
        self._rendering: dict[int, asyncio.Task[None]] = {}
        self._again: set[int] = set()  # changed while being rendered: render once more
        self._shown: dict[int, tuple[str, str | None, str | None]] = {}
        self._locks: dict[int, asyncio.Lock] = {}  # one render of a task at a time
        self._slots = asyncio.Semaphore(CONCURRENT_RENDERS)
        self._consumer: asyncio.Task[None] | None = None
        self._drawing: dict[int, asyncio.Task[None]] = {}  # waveform jobs, by task
        # Told each task as drawn, with its queue position (never waited for).
        self.on_drawn: list[Callable[[Task, int], None]] = []
        # Tasks made before this process started may have a status that a killed run sent
        # but never recorded: looked for once before sending one (`_find_status`).
        self._started_at = time.time()

    def start(self) -> None:
        self._consumer = asyncio.create_task(self._consume(), name="status-renderer")
        self.refresh_progress.start()

    def stop(self) -> None:
        self.refresh_progress.cancel()
        for task in [self._consumer, *self._rendering.values(), *self._drawing.values()]:
            if task is not None:
                task.cancel()

    async def _consume(self) -> None:
        await self.bot.wait_until_ready()
        events = self.bot.tracker.events
        while True:
            for task_id in await events.take():
                self._schedule(task_id, yield_first=True)

    async def render_now(self, task_id: int) -> None:
        """Render the task as it is now and wait for it: a new song's first status (before
        its confirmation links it), a cancelled one's last. Through the same coalescing
        renders as every change, without waiting for posting songs."""
        await asyncio.shield(self._schedule(task_id, yield_first=False))

    def _schedule(self, task_id: int, *, yield_first: bool) -> asyncio.Task[None]:
        if render := self._rendering.get(task_id):
            self._again.add(task_id)
            return render
        render = asyncio.create_task(self._render(task_id, yield_first), name=f"status-{task_id}")
        self._rendering[task_id] = render
        return render

    async def _render(self, task_id: int, yield_first: bool) -> None:
        try:
            while True:
                if yield_first:
                    with contextlib.suppress(TimeoutError):
                        idle = self.bot.tracker.delivery.idle
                        await asyncio.wait_for(idle.wait(), YIELD_TO_DELIVERY)
                yield_first = True
                self._again.discard(task_id)
                async with self._slots:
                    try:
                        await self._draw(task_id)
                    except Exception:
                        # Status messages are best effort: the next change or refresh retries.
                        log.exception("couldn't show the status of task %s", task_id)
                if task_id not in self._again:
                    return
        finally:
            self._rendering.pop(task_id, None)

    async def _draw(self, task_id: int) -> None:
        """Render the task as it is now; no edit when the message already says this."""
        lock = self._locks.setdefault(task_id, asyncio.Lock())
        async with lock:
            task = await self._store.get_task(task_id)
            if task is None:
                return
            self._start_waveform(task)
            if self._posting_soon(task):
                return
            queued = task.status is TaskStatus.QUEUED
            position = await self._store.queue_position(task_id) if queued else 0
            # Who deleted the takes, or cancelled someone else's song: stored, so a redraw
            # after a restart still names them.
            deleted_by = by = None
            if task.status is TaskStatus.DELIVERED:
                deleted = await self._store.get_value(deleted_key(task_id))
                deleted_by = int(deleted) if deleted else None
            elif task.status is TaskStatus.CANCELLED:
                cancelled = await self._store.get_value(cancelled_key(task_id))
                by = int(cancelled) if cancelled else None
            locale = await self.bot.public_locale(task.guild_id)
            view = status_view(
                task, position, time.time(), locale, deleted_by=deleted_by, cancelled_by=by
            )
            picture = _picture_key(task.waveform_state)
            rendered = (view.stage, view.progress, picture)
            for follow in self.on_drawn:  # a form's private answer follows too (the door)
                follow(task, position)
            # The buttons follow the status (Cancel only while queued), so the stage, which
            # changes whenever the status does, also says when they change.
            if self._shown.get(task_id) != rendered:
                if await self._put(task, view, status_buttons(task, locale), locale):
                    rendered = (view.stage, view.progress, "shown")
                self._shown[task_id] = rendered
            if task.status.is_final:
                self._shown.pop(task_id, None)
                self._locks.pop(task_id, None)
                await self._picture_done(task_id)

    def _posting_soon(self, task: Task) -> bool:
        """True (and a look again scheduled) while the result is likely to be posted soon."""
        if task.status not in (TaskStatus.COMPLETED, TaskStatus.DELIVERING):
            return False
        left = (task.completed_at or 0.0) + POSTING_GRACE - time.time()
        if left <= 0:
            return False
        events = self.bot.tracker.events
        asyncio.get_running_loop().call_later(left, events.publish, task.id)
        return True

    async def _put(
        self,
        task: Task,
        status: StatusView,
        view: discord.ui.View | None,
        locale: str | None = None,
    ) -> bool:
        """Send or edit the status message; True when this uploaded the waveform picture."""
        channel = self.bot.status_channel_for(task)  # a thread's starter is in the channel
        # The embed names the requester as a mention; embeds never ping, and the message says
        # so explicitly too, on every send and edit (the bot's default could change).
        nobody = discord.AllowedMentions.none()
        waveforms = self.bot.waveforms
        upload = await waveforms.picture(task) if waveforms is not None else None
        name = attachment_name(task.id)
        posted = task.waveform_state is WaveformState.POSTED
        if task.status_message_id is not None:
            try:
                existing = channel.get_partial_message(task.status_message_id)  # type: ignore[attr-defined]
                embed = status_embed(
                    status, picture=name if upload or posted else None, locale=locale
                )
                extra: dict[str, Any] = {}
                if upload is not None:  # once: without `attachments`, an edit keeps them
                    extra["attachments"] = [discord.File(upload, filename=name)]
                # view=None takes a Cancel button away once the task left the queue.
                await existing.edit(embed=embed, view=view, allowed_mentions=nobody, **extra)
                if upload is not None and waveforms is not None:
                    await waveforms.posted(task)
                return upload is not None
            except discord.NotFound:
                log.info("status message of task %s was deleted; posting a new one", task.id)
            if posted and waveforms is not None:  # the picture went with the old message
                upload = waveforms.path_for(task.id)
                upload = upload if upload.is_file() else None
        elif task.created_at < self._started_at and (found := await self._find_status(task)):
            # A run killed between sending the status and recording it: adopt its message.
            log.info("found the unrecorded status message of task %s", task.id)
            await self._store.set_status_message(task.id, found)
            adopted = dataclasses.replace(task, status_message_id=found)
            return await self._put(adopted, status, view, locale)
        embed = status_embed(status, picture=name if upload else None, locale=locale)
        extra = {"file": discord.File(upload, filename=name)} if upload is not None else {}
        if task.status_message_id is None:  # the first send: idempotent for a few minutes
            extra["nonce"] = status_nonce(task)
        message = await channel.send(embed=embed, view=view, allowed_mentions=nobody, **extra)  # type: ignore[arg-type]
        await self._store.set_status_message(task.id, message.id)
        if upload is not None and waveforms is not None:
            await waveforms.posted(task)
        return upload is not None

    async def _find_status(self, task: Task) -> int | None:
        """Our own status message of the task in its channel's recent history, if a run
        that died posted one without recording it (as the poster's `find_delivery`)."""
        await self.bot.wait_until_ready()
        me = self.bot.user
        channel = self.bot.status_channel_for(task)
        with contextlib.suppress(discord.HTTPException):
            async for message in channel.history(limit=STATUS_SEARCH_LIMIT, oldest_first=False):
                if me is None or message.author.id != me.id:
                    continue
                if any(is_status_of(embed.title, task.id) for embed in message.embeds):
                    return message.id
        return None

    # --- waveform pictures -------------------------------------------------------------

    def _start_waveform(self, task: Task) -> None:
        """Draw an inpaint's picture in the background, once per task (and per start)."""
        waveforms = self.bot.waveforms
        if waveforms is None or not wants_picture(task) or task.id in self._drawing:
            return

        async def draw() -> None:
            try:
                if await waveforms.make(task.id):
                    self.bot.tracker.events.publish(task.id)  # the picture is one more change
            finally:
                self._drawing.pop(task.id, None)

        self._drawing[task.id] = asyncio.create_task(draw(), name=f"waveform-{task.id}")

    async def _picture_done(self, task_id: int) -> None:
        """A final task's posted picture is Discord's to keep: the bot's copy goes."""
        waveforms = self.bot.waveforms
        if waveforms is not None and task_id not in self._drawing:
            await waveforms.discard_if_posted(task_id)

    @tasks.loop(seconds=REFRESH_SECONDS)
    async def refresh_progress(self) -> None:
        """Advance progress bars and queue positions; also revives status after a restart."""
        try:
            unfinished = await self._store.unfinished_tasks()
        except Exception:
            # A tasks.loop stops for good on an exception it doesn't expect: log and go on.
            log.exception("couldn't list tasks to refresh their status")
            return
        for task in unfinished:
            if task.status in (TaskStatus.QUEUED, TaskStatus.SUBMITTED):
                self.bot.tracker.events.publish(task.id)

    @refresh_progress.before_loop
    async def _before_refresh(self) -> None:
        await self.bot.wait_until_ready()


def _picture_key(state: WaveformState | None) -> str | None:
    """What the status shows of its picture: one to upload, one shown, or none."""
    if state is WaveformState.READY:
        return "upload"
    return "shown" if state is WaveformState.POSTED else None
