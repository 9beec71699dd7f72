"""Posting finished songs, and finding what an earlier run already posted.

Everything goes through the channel (never the interaction token, which dies after 15
minutes), so a task finishing hours later or after a restart is still posted. Fetching the
files is `bot.core.songs.outputs`' job; the poster only speaks Discord. The takes go where
the song is: its thread is settled first (`ThreadOpener`, which the poster is built with).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord

from bot.core.errors import PermanentDeliveryError
from bot.core.i18n import LocaleLike, gettext
from bot.core.models import Task
from bot.core.public_text import safe_link, shown
from bot.core.songs.failures import NOT_ALLOWED
from bot.core.songs.notify import DM_UPLOAD_LIMIT, CopyImpossible, copy_failure, post_link
from bot.core.songs.outputs import Attachable, OutputFetcher, discard
from bot.core.songs.progress import describe_length, lineage_line, song_ref
from bot.discord.songs.threads import ThreadOpener
from bot.discord.ui.buttons import result_buttons

if TYPE_CHECKING:
    from bot.discord.bot import SingingBot

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024  # what Discord allows everywhere
# How far back (newest first) find_delivery looks, stopping early at the status message.
HISTORY_SEARCH_LIMIT = 1000
TITLE_LIMIT = 100  # a song title; MusicGPT's are a few words


def delivery_marker(task: Task) -> str:
    """Text every result message carries, so a restarted bot can find what it posted."""
    return f"({song_ref(task.id)})"


def _markers(task: Task) -> tuple[str, ...]:
    # Posts made before the unit word was "song" carry "(request #N)": still ours.
    return delivery_marker(task), f"(request #{task.id})"


def result_text(
    task: Task,
    outputs: Sequence[Attachable],
    *,
    show_cost: bool = False,
    locale: LocaleLike = None,
) -> str:
    """The public result post. Its only markup is the bot's: MusicGPT's titles are escaped
    and its links percent-encoded (`bot.core.public_text`), so neither can pass for the bot's words
    or ping anyone; the one mention is the requester's, who is meant to be pinged. The cost
    is the owner's business, shown publicly only with SHOW_COST. `locale`: the server's
    (`SingingBot.public_locale`); the marker stays English, for `find_delivery`."""
    lines = [
        gettext(
            locale,
            "<@{user}> your song is ready! {marker}",
            user=task.user_id,
            marker=delivery_marker(task),
        )
    ]
    if lineage := lineage_line(task, locale):  # "Rewrite of #12 take 2, ...": ours, no markup
        lines.append(lineage)
    for number, item in enumerate(outputs, start=1):
        title = shown(item.output.title, TITLE_LIMIT) or gettext(
            locale, "Take {number}", number=number
        )
        line = f"**{number}. {title}** · {describe_length(item.output.duration)}"
        if item.path is None:
            link = safe_link(item.output.audio_url)
            line += (
                gettext(locale, " · too big to attach here, download: <{link}>", link=link)
                if link
                else gettext(locale, " · too big to attach here, and MusicGPT sent no usable link")
            )
        lines.append(line)
    if show_cost and task.cost is not None:
        lines.append(gettext(locale, "Cost: {cost} MusicGPT credits", cost=f"{task.cost:g}"))
    return "\n".join(lines)[:2000]


def copy_text(
    task: Task, outputs: Sequence[Attachable], post: str | None, locale: LocaleLike = None
) -> str:
    """The DM copy (/notify): the takes as in the channel post, and a link back to it. The
    same marker, so a restarted bot finds a copy it sent (`find_copy`). `locale`: the
    server's, as the post it copies (the requester's own isn't known when a song finishes)."""
    lines = [gettext(locale, "Here's a copy of your song! {marker}", marker=delivery_marker(task))]
    if post:
        lines.append(gettext(locale, "Posted here: {link}", link=post))
    # The takes; no mention.
    lines.extend(result_text(task, outputs, locale=locale).splitlines()[1:])
    return "\n".join(lines)[:2000]


def only_the_requester(task: Task) -> discord.AllowedMentions:
    return discord.AllowedMentions(
        everyone=False, roles=False, users=[discord.Object(task.user_id)], replied_user=False
    )


class Poster:
    """The tracker's `ResultPoster` and `CopySender` (`SingingBot.poster`)."""

    def __init__(self, bot: SingingBot, threads: ThreadOpener) -> None:
        self.bot = bot
        self._threads = threads
        self._outputs = OutputFetcher(bot.session, bot.settings.database_path.parent / "outputs")

    async def deliver(self, task: Task) -> Sequence[int]:
        await self.bot.wait_until_ready()
        # The takes go where the song is: its thread first, decided now if it wasn't yet.
        task = await self._threads.settle(task, last_chance=True)
        attachables = await self._outputs.fetch(task, self._upload_limit(task))
        try:
            return [await self._post(task, attachables)]
        except discord.HTTPException as error:
            if error.status != 413:
                raise
            # The guild takes less than we thought: the same message, with links only.
            log.info("upload of task %s too large for the channel; sending links", task.id)
            return [await self._post(task, [item.as_link() for item in attachables])]
        finally:
            discard(attachables)

    def _upload_limit(self, task: Task) -> int:
        guild = self.bot.get_guild(task.guild_id) if task.guild_id else None
        limits = [task.upload_limit, guild.filesize_limit if guild else None]
        known = [limit for limit in limits if limit]
        return min(known) if known else DEFAULT_UPLOAD_LIMIT

    async def _post(self, task: Task, attachables: Sequence[Attachable]) -> int:
        files = [
            discord.File(item.path, filename=f"song-{task.id}-{number}{item.path.suffix}")
            for number, item in enumerate(attachables, start=1)
            if item.path
        ]
        reference = None
        # A reply must be in the replied-to message's channel: in a thread (whose starter is
        # the status, in the parent channel) the takes are posted without one.
        if task.status_message_id and task.thread_id is None:
            reference = discord.MessageReference(
                message_id=task.status_message_id,
                channel_id=task.channel_id,
                fail_if_not_exists=False,
            )
        locale = await self.bot.public_locale(task.guild_id)
        try:
            message = await self.bot.channel_for(task).send(
                result_text(
                    task, attachables, show_cost=self.bot.settings.show_cost, locale=locale
                ),
                files=files,
                reference=reference,  # type: ignore[arg-type]
                view=result_buttons(task, locale=locale),
                allowed_mentions=only_the_requester(task),
            )
        except discord.Forbidden as error:
            raise PermanentDeliveryError(NOT_ALLOWED) from error
        finally:
            for file in files:
                file.close()
        return message.id

    async def find_delivery(self, task: Task) -> Sequence[int] | None:
        """Look for our own result message, in case a run died between posting and recording."""
        await self.bot.wait_until_ready()
        me = self.bot.user
        channel = self.bot.channel_for(task)
        after = discord.Object(task.status_message_id) if task.status_message_id else None
        markers = _markers(task)
        with contextlib.suppress(discord.HTTPException):
            # Newest first, back to the status message: the post we look for went out just
            # before the crash. Oldest first from the status message (discord.py's default
            # with `after`) read only the first page after it and, in a busy channel, missed
            # the post behind 100 chat messages, so it was posted twice (found by
            # tests/e2e/test_restart_e2e.py::test_crash_after_posting_in_a_busy_channel...).
            async for message in channel.history(
                limit=HISTORY_SEARCH_LIMIT, after=after, oldest_first=False
            ):
                mine = me is not None and message.author.id == me.id
                if mine and any(marker in message.content for marker in markers):
                    return [message.id]
        return None

    # --- DM copies (/notify): the tracker's `CopySender` ---------------------------------------

    async def send_copy(self, task: Task) -> int:
        """DM the requester the takes (files within DM_UPLOAD_LIMIT, links beyond it) and a
        link to the channel post, which is already out: nothing here can change it."""
        await self.bot.wait_until_ready()
        dm = await self._dm_channel(task)
        attachables = await self._outputs.fetch(task, DM_UPLOAD_LIMIT)
        try:
            try:
                return await self._send_copy(dm, task, attachables)
            except discord.HTTPException as error:
                if error.status != 413:
                    raise
                log.info("DM copy of task %s too large; sending links", task.id)
                return await self._send_copy(dm, task, [item.as_link() for item in attachables])
        except discord.HTTPException as error:
            failure = copy_failure(error.status, error.code)
            if failure is None:
                raise
            raise failure(f"HTTP {error.status} {error.code}") from error
        finally:
            discard(attachables)

    async def _dm_channel(self, task: Task) -> discord.DMChannel:
        try:
            user = self.bot.get_user(task.user_id) or await self.bot.fetch_user(task.user_id)
            # Discord opens the DM channel even when the member's DMs are closed; the send
            # is what it refuses (403 50007).
            return user.dm_channel or await user.create_dm()
        except discord.NotFound as error:
            raise CopyImpossible("unknown user") from error

    async def _send_copy(
        self, dm: discord.DMChannel, task: Task, attachables: Sequence[Attachable]
    ) -> int:
        files = [
            discord.File(item.path, filename=f"song-{task.id}-{number}{item.path.suffix}")
            for number, item in enumerate(attachables, start=1)
            if item.path
        ]
        post = None
        if task.delivered_message_ids:
            post = post_link(
                task.guild_id, task.thread_id or task.channel_id, task.delivered_message_ids[0]
            )
        locale = await self.bot.public_locale(task.guild_id)
        try:
            message = await dm.send(
                copy_text(task, attachables, post, locale),
                files=files,
                allowed_mentions=discord.AllowedMentions.none(),
            )
        finally:
            for file in files:
                file.close()
        return message.id

    async def find_copy(self, task: Task) -> int | None:
        """Our own copy in the requester's DMs, in case a run died between sending and
        recording it: newer than the channel post (snowflakes grow with time). A search
        that fails raises, so the attempt is retried instead of maybe sending twice."""
        await self.bot.wait_until_ready()
        me = self.bot.user
        markers = _markers(task)
        posted = task.delivered_message_ids
        after = discord.Object(posted[0]) if posted else None
        dm = await self._dm_channel(task)
        async for message in dm.history(
            limit=HISTORY_SEARCH_LIMIT, after=after, oldest_first=False
        ):
            mine = me is not None and message.author.id == me.id
            if mine and any(marker in message.content for marker in markers):
                return message.id
        return None
