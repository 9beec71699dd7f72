"""The Discord side of the tracker: status messages and posting finished songs.

Everything goes through the channel (never the interaction token, which dies after 15
minutes), so a task finishing hours later or after a restart is still shown and posted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import discord
from discord.ext import commands, tasks
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from bot.bot import SingingBot
from bot.errors import AudioRejected, PermanentDeliveryError
from bot.media.download import DownloadFailed, download_to_file
from bot.models import Output, Task, TaskStatus
from bot.progress import describe_length, status_view
from bot.ui import status_embed

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024  # what Discord allows everywhere
REFRESH_SECONDS = 5.0  # progress edits at most this often per status message
# How far back (newest first) find_delivery looks, stopping early at the status message.
HISTORY_SEARCH_LIMIT = 1000
DOWNLOAD_ATTEMPTS = 3  # per output file, before it is posted as a link


@dataclass(frozen=True, slots=True)
class Attachable:
    output: Output
    path: Path | None  # None: post a link instead


def delivery_marker(task: Task) -> str:
    """Text every result message carries, so a restarted bot can find what it posted."""
    return f"(request #{task.id})"


def result_text(task: Task, outputs: Sequence[Attachable]) -> str:
    lines = [f"<@{task.user_id}> your song is ready! {delivery_marker(task)}"]
    for number, item in enumerate(outputs, start=1):
        title = discord.utils.escape_markdown(item.output.title or f"Version {number}")
        line = f"**{number}. {title}** · {describe_length(item.output.duration)}"
        if item.path is None:
            line += f" · too big to attach here, download: <{item.output.audio_url}>"
        lines.append(line)
    if task.cost is not None:
        lines.append(f"Cost: {task.cost:g} MusicGPT credits")
    return "\n".join(lines)[:2000]


def only_the_requester(task: Task) -> discord.AllowedMentions:
    return discord.AllowedMentions(
        everyone=False, roles=False, users=[discord.Object(task.user_id)], replied_user=False
    )


class Delivery(commands.Cog):
    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot
        self._locks: dict[int, asyncio.Lock] = {}
        self._shown: dict[int, tuple[str, str | None]] = {}
        self._output_dir = bot.settings.database_path.parent / "outputs"

    async def cog_load(self) -> None:
        self.bot.tracker.attach(self)
        self.refresh_progress.start()

    async def cog_unload(self) -> None:
        self.refresh_progress.cancel()

    def _channel(self, task: Task) -> discord.abc.Messageable:
        channel = self.bot.get_channel(task.channel_id)
        if isinstance(channel, discord.abc.Messageable):
            return channel
        return self.bot.get_partial_messageable(task.channel_id, guild_id=task.guild_id)

    # --- status messages -------------------------------------------------------------------

    async def show_status(self, task: Task) -> None:
        await self.bot.wait_until_ready()
        lock = self._locks.setdefault(task.id, asyncio.Lock())
        async with lock:
            # Render the newest state, not the snapshot we were handed: updates can overtake
            # each other on the way here.
            latest = await self.bot.tracker.store.get_task(task.id)
            if latest is None:
                return
            position = await self.bot.tracker.queue_position(task.id)
            view = status_view(latest, position, time.time())
            rendered = (view.stage, view.progress)
            if self._shown.get(task.id) == rendered:
                return
            await self._put_status(latest, status_embed(view))
            self._shown[task.id] = rendered
            if latest.status.is_final:
                self._shown.pop(task.id, None)
                self._locks.pop(task.id, None)

    async def _put_status(self, task: Task, embed: discord.Embed) -> None:
        channel = self._channel(task)
        if task.status_message_id is not None:
            try:
                await channel.get_partial_message(task.status_message_id).edit(embed=embed)  # type: ignore[attr-defined]
                return
            except discord.NotFound:
                log.info("status message of task %s was deleted; posting a new one", task.id)
        message = await channel.send(embed=embed, allowed_mentions=discord.AllowedMentions.none())
        await self.bot.tracker.store.set_status_message(task.id, message.id)

    @tasks.loop(seconds=REFRESH_SECONDS)
    async def refresh_progress(self) -> None:
        """Advance progress bars and queue positions; also revives status after a restart."""
        for task in await self.bot.tracker.unfinished_tasks():
            if task.status in (TaskStatus.QUEUED, TaskStatus.SUBMITTED):
                try:
                    await self.show_status(task)
                except Exception:
                    # One bad message must not stop the loop for everyone else.
                    log.exception("couldn't refresh the status of task %s", task.id)

    @refresh_progress.before_loop
    async def _before_refresh(self) -> None:
        await self.bot.wait_until_ready()

    # --- results ---------------------------------------------------------------------------

    async def deliver(self, task: Task) -> Sequence[int]:
        await self.bot.wait_until_ready()
        limit = self._upload_limit(task)
        attachables = await self._fetch_outputs(task, limit)
        try:
            return [await self._post(task, attachables)]
        except discord.HTTPException as error:
            if error.status != 413:
                raise
            # The guild takes less than we thought: the same message, with links only.
            log.info("upload of task %s too large for the channel; sending links", task.id)
            links = [Attachable(item.output, None) for item in attachables]
            return [await self._post(task, links)]
        finally:
            for item in attachables:
                if item.path:
                    item.path.unlink(missing_ok=True)

    def _upload_limit(self, task: Task) -> int:
        guild = self.bot.get_guild(task.guild_id) if task.guild_id else None
        limits = [task.upload_limit, guild.filesize_limit if guild else None]
        known = [limit for limit in limits if limit]
        return min(known) if known else DEFAULT_UPLOAD_LIMIT

    async def _fetch_outputs(self, task: Task, limit: int) -> list[Attachable]:
        """Download what fits in one message; anything else becomes a link."""
        attachables: list[Attachable] = []
        room = limit
        for output in task.outputs:
            path = self._output_dir / f"{task.id}-{uuid.uuid4().hex}{_suffix(output.audio_url)}"
            try:
                size = await self._download(output.audio_url, path, room)
            except AudioRejected as error:
                log.info("output of task %s not attached: %s", task.id, error.user_message)
                attachables.append(Attachable(output, None))
                continue
            room -= size
            attachables.append(Attachable(output, path))
        return attachables

    async def _download(self, url: str, path: Path, max_bytes: int) -> int:
        """A few tries for network trouble; too big is final (the output becomes a link)."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(DownloadFailed),
            stop=stop_after_attempt(DOWNLOAD_ATTEMPTS),
            wait=wait_exponential(multiplier=0.5, max=5),
            reraise=True,
        ):
            with attempt:
                return await download_to_file(self.bot.session, url, path, max_bytes=max_bytes)
        raise AssertionError("unreachable: AsyncRetrying re-raises the last error")

    async def _post(self, task: Task, attachables: Sequence[Attachable]) -> int:
        files = [
            discord.File(item.path, filename=_filename(task, number, item))
            for number, item in enumerate(attachables, start=1)
            if item.path
        ]
        reference = None
        if task.status_message_id:
            reference = discord.MessageReference(
                message_id=task.status_message_id,
                channel_id=task.channel_id,
                fail_if_not_exists=False,
            )
        try:
            message = await self._channel(task).send(
                result_text(task, attachables),
                files=files,
                reference=reference,  # type: ignore[arg-type]
                allowed_mentions=only_the_requester(task),
            )
        except discord.Forbidden as error:
            raise PermanentDeliveryError(
                "The song was ready, but I'm not allowed to post in that channel. "
                "Your generation was refunded."
            ) from error
        finally:
            for file in files:
                file.close()
        return message.id

    async def find_delivery(self, task: Task) -> Sequence[int] | None:
        """Look for our own result message, in case a run died between posting and recording."""
        await self.bot.wait_until_ready()
        me = self.bot.user
        channel = self._channel(task)
        after = discord.Object(task.status_message_id) if task.status_message_id else None
        marker = delivery_marker(task)
        with contextlib.suppress(discord.HTTPException):
            # Newest first, back to the status message: the post we look for went out just
            # before the crash. Oldest first from the status message (discord.py's default
            # with `after`) read only the first page after it and, in a busy channel, missed
            # the post behind 100 chat messages, so it was posted twice (found by
            # tests/e2e/test_restart_e2e.py::test_crash_after_posting_in_a_busy_channel...).
            async for message in channel.history(
                limit=HISTORY_SEARCH_LIMIT, after=after, oldest_first=False
            ):
                if me and message.author.id == me.id and marker in message.content:
                    return [message.id]
        return None


def _suffix(url: str) -> str:
    suffix = Path(url.split("?", 1)[0]).suffix.lower()
    return suffix if suffix in {".mp3", ".wav", ".flac", ".ogg", ".m4a"} else ".mp3"


def _filename(task: Task, number: int, item: Attachable) -> str:
    suffix = item.path.suffix if item.path else ".mp3"
    return f"song-{task.id}-{number}{suffix}"


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(Delivery(bot))
