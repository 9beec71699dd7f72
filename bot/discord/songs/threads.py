"""A song's thread on Discord: started from its status message, decided once, crash-safe.

A thread started from a message takes the message's id. Whoever opens a song's thread (the
command right after posting the status, the sweep below after a restart, the delivery just
before posting the takes) asks Discord the same thing, so a run that died between Discord
making the thread and the store recording it learns on the next try, from Discord's 160004
("A thread has already been created for this message"), that the thread is there, and adopts
it: its id is the status message's. Anything else Discord answers is a refusal, recorded with
its reason (`bot.core.servers.threads.ThreadRefusal`); the song then goes on in the channel and
its status
says why. Decisions go through the store's guarded writes, so there is only ever one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, cast

import aiohttp
import discord
from discord.ext import tasks
from discord.http import Route

from bot.core.models import Task
from bot.core.servers.threads import THREAD_EXISTS, ThreadRefusal, refusal_for, thread_name
from bot.core.songs.progress import song_ref

if TYPE_CHECKING:
    from bot.discord.bot import SingingBot

log = logging.getLogger(__name__)

SWEEP_SECONDS = 5.0  # how soon an undecided thread (after a restart, say) is opened
# Tries when Discord gave no answer at all: it may have made the thread anyway, and asking
# again finds out (160004) instead of leaving an empty thread behind a refusal.
UNANSWERED_ATTEMPTS = 2


def undecided(task: Task) -> bool:
    return task.thread_wanted and task.thread_id is None and task.thread_refusal is None


def thread_link(task: Task) -> str | None:
    """Where to follow a song that has a thread."""
    if task.thread_id is None or task.guild_id is None:
        return None
    return f"https://discord.com/channels/{task.guild_id}/{task.thread_id}"


class ThreadOpener:
    """Opens each song's thread (`SingingBot.thread_opener`): the confirmation right after
    the status is posted, the poster before the takes go, and its own sweep."""

    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot
        self._store = bot.store
        self._locks: dict[int, asyncio.Lock] = {}  # one opener per task at a time

    def start(self) -> None:
        self.sweep.start()

    def stop(self) -> None:
        self.sweep.cancel()

    async def settle(self, task: Task, *, last_chance: bool = False) -> Task:
        """The task, with its thread decided if it can be now: opened, adopted or refused.

        Unchanged when it wants no thread, is decided already, is finished, or has no status
        message to start the thread from yet. `last_chance` (the delivery, about to post the
        takes) decides that last case too: the song stays in the channel.
        """
        if not undecided(task):
            return task
        # The lock only saves a request: two openers at once would still be one thread (the
        # second is told 160004) and one decision (the store's guard).
        lock = self._locks.setdefault(task.id, asyncio.Lock())
        try:
            async with lock:
                fresh = await self._store.get_task(task.id)
                if fresh is None or not undecided(fresh):
                    return fresh or task
                decided = await self._decide(fresh, last_chance=last_chance)
        finally:
            if not lock.locked():
                self._locks.pop(task.id, None)
        if decided is None:  # not decidable yet, or decided meanwhile by another opener
            return await self._store.get_task(task.id) or fresh
        # The status says where the song went, or why not; the renderer picks that up.
        self.bot.tracker.events.publish(task.id)
        return decided

    async def _decide(self, task: Task, *, last_chance: bool) -> Task | None:
        if task.status.is_final:
            return None  # nothing more will be posted for it
        if task.status_message_id is None:
            if not last_chance:
                return None
            return await self._refused(task, ThreadRefusal.OTHER, "no status message")
        if missing := self._missing_permissions(task):
            # A thread the bot could start but not post in would fail the song at delivery.
            return await self._refused(task, ThreadRefusal.NOT_ALLOWED, f"missing {missing}")
        for _ in range(UNANSWERED_ATTEMPTS):
            try:
                thread_id = await self._start_from_status(task, task.status_message_id)
            except discord.HTTPException as error:
                if error.code == THREAD_EXISTS:
                    # Made by a run that died before recording it: the thread has the id of
                    # the message it was started from.
                    log.info("task %s: adopting the thread its status message has", task.id)
                    return await self._store.record_thread(task.id, task.status_message_id)
                refusal = refusal_for(error.status, error.code)
                return await self._refused(task, refusal, f"HTTP {error.status} {error.code}")
            except (ValueError, TypeError) as error:
                # discord.py: a kind of channel whose messages start no threads.
                return await self._refused(task, ThreadRefusal.OTHER, repr(error))
            except (OSError, aiohttp.ClientError, TimeoutError) as error:
                log.info("task %s: no answer to opening its thread (%r)", task.id, error)
                continue
            log.info("task %s: opened thread %s", task.id, thread_id)
            return await self._store.record_thread(task.id, thread_id)
        return await self._refused(task, ThreadRefusal.OTHER, "no answer from Discord")

    def _missing_permissions(self, task: Task) -> str | None:
        """What the bot lacks for a thread it can post in, as far as its cache knows (Discord
        still has the last word: a 403 to the request is a refusal too)."""
        channel = self.bot.get_channel(task.channel_id)
        if not isinstance(channel, discord.TextChannel):
            return None
        granted = channel.permissions_for(channel.guild.me)
        needed = ("create_public_threads", "send_messages_in_threads")
        return ", ".join(name for name in needed if not getattr(granted, name)) or None

    async def _start_from_status(self, task: Task, message_id: int) -> int:
        """POST /channels/{channel}/messages/{status}/threads: a public thread, archived after
        the channel's default inactivity; the new thread's id."""
        locale = await self.bot.public_locale(task.guild_id)  # the fallback name's words
        name = thread_name(task.prompt, song_ref(task.id, locale))
        channel = self.bot.status_channel_for(task)
        if getattr(channel, "guild", None) is not None:
            # discord.py reads the default inactivity from the cached channel.
            starter = discord.PartialMessage(channel=cast(Any, channel), id=message_id)
            return (await starter.create_thread(name=name)).id
        # A server another process holds (shards): discord.py wants a cached guild for this,
        # so the request goes by ids alone, and Discord applies the channel's default.
        route = Route(
            "POST",
            "/channels/{channel_id}/messages/{message_id}/threads",
            channel_id=task.channel_id,
            message_id=message_id,
        )
        data = await self.bot.http.request(route, json={"name": name})
        return int(data["id"])

    async def _refused(self, task: Task, refusal: ThreadRefusal, detail: str) -> Task | None:
        log.info("task %s: no thread (%s: %s); it stays in the channel", task.id, refusal, detail)
        return await self._store.record_thread_refusal(task.id, refusal.value)

    @tasks.loop(seconds=SWEEP_SECONDS)
    async def sweep(self) -> None:
        """Open the threads nobody recorded: after a restart (a run that died between posting
        the status and recording its thread), or for a status message posted late. One
        process at a time over a shared database (the others skip the round), so Discord is
        asked once per thread."""
        try:
            async with self._store.exclusively("threads-sweep") as ours:
                if ours:
                    await self._open_waiting()
        except Exception:
            # A tasks.loop stops for good on an exception it doesn't expect: log and go on.
            log.exception("couldn't list the songs waiting for a thread")

    async def _open_waiting(self) -> None:
        for task in await self._store.tasks_awaiting_thread():
            try:
                await self.settle(task)
            except Exception:
                log.exception("couldn't open the thread of task %s", task.id)

    @sweep.before_loop
    async def _before_sweep(self) -> None:
        await self.bot.wait_until_ready()
