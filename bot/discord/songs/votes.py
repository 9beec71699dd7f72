"""The 👍 buttons' Discord side (`SingingBot.votes`): a click is counted, answered privately
at once, and the result message's buttons are redrawn through an `EditCoalescer`.

The acknowledgement never waits for the edit: the store's toggle (one short transaction)
says whether the vote is now counted, the member reads that in one private line, and the
message is only marked changed. The coalescer edits it at most once a second, reading the
counts as they are then, so twenty clicks in a second cost a few edits and the last edit
always shows the final counts. Only the buttons are sent (the PATCH carries `components`),
so the takes' text and files are never touched.

Rows are the truth here too: each click records that its message has counts to show
(`vote_messages.changed_at`) before it is answered, and each edit when the counts it showed
were read (`shown_at`). A bot stopped (or killed) between a click and its edit redraws, once
it is connected again, every message a vote changed in the last day that it didn't show.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Final

import discord

from bot.core.clock import SystemClock
from bot.core.errors import UserFacingError
from bot.core.i18n.said import Said, said
from bot.core.models import Task
from bot.core.songs import votes
from bot.core.songs.vote_edits import EditCoalescer, EditGone
from bot.core.songs.votes import Tally
from bot.core.store.votes import VoteMessage
from bot.discord.tree import send_ephemeral
from bot.discord.ui.buttons import result_buttons

if TYPE_CHECKING:
    from bot.discord.bot import SingingBot

log = logging.getLogger(__name__)

CATCH_UP: Final = 24 * 3600.0  # at start-up, messages left behind this recently are redrawn


def no_votes_here(task_id: int) -> Said:
    return said("Song #{number} has no takes to vote for any more.", number=task_id)


class VoteBoard:
    """`SingingBot.votes`."""

    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot
        self._clock = SystemClock()
        self._edits: EditCoalescer[VoteMessage] = EditCoalescer(self._redraw, self._clock)
        self._catch_up: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._catch_up = asyncio.create_task(self._redraw_left_behind(), name="votes-catch-up")

    async def close(self) -> None:
        if self._catch_up is not None:
            self._catch_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._catch_up
        await self._edits.close()

    def pending(self) -> int:
        return self._edits.pending()

    async def click(
        self, interaction: discord.Interaction, task_id: int, take: int, task: Task | None
    ) -> None:
        """A 👍 on take `take` of `task` (song `task_id` as the click's `ButtonHandlers` read
        it: None when it is gone or another server's)."""
        store = self.bot.store
        if task is None or not task.outputs:
            raise UserFacingError(no_votes_here(task_id))
        clicked = await votes.click(store, task_id, len(task.outputs), take, interaction.user.id)
        message = None
        if interaction.message is not None and interaction.channel_id is not None:
            message = VoteMessage(interaction.channel_id, interaction.message.id, task_id)
            await store.vote_changed(message, self._clock.now())
        await send_ephemeral(interaction, clicked.answer_in(interaction.locale))
        if message is not None:
            self._edits.touch(message)

    async def _redraw(self, message: VoteMessage) -> None:
        store = self.bot.store
        read_at = self._clock.now()
        task = await store.get_task(message.task_id)
        if task is None:
            await store.votes_shown(message.message_id, read_at)
            raise EditGone
        tally = Tally.of(await store.vote_counts(task.id), len(task.outputs))
        channel = self.bot.get_partial_messageable(message.channel_id, guild_id=task.guild_id)
        # The result is public: its labels in the server's language, as the poster drew them.
        locale = await self.bot.public_locale(task.guild_id)
        try:
            await channel.get_partial_message(message.message_id).edit(
                view=result_buttons(task, tally, locale)
            )
        except (discord.NotFound, discord.Forbidden) as error:
            await store.votes_shown(message.message_id, read_at)  # never to be shown: done
            raise EditGone from error
        await store.votes_shown(message.message_id, read_at)

    async def _redraw_left_behind(self) -> None:
        await self.bot.wait_until_ready()
        try:
            left = [m for m in await self._left_behind() if await self._ours(m)]
        except Exception:
            log.exception("couldn't read the vote counts a stopped run left unshown")
            return
        if left:
            log.info("redrawing the votes of %d result message(s) left behind", len(left))
        for message in left:
            self._edits.touch(message)

    async def _left_behind(self) -> list[VoteMessage]:
        return await self.bot.store.votes_not_shown(self._clock.now() - CATCH_UP)

    async def _ours(self, message: VoteMessage) -> bool:
        """Whether this process redraws `message`: its song's server is one this process
        holds (every server, unsharded), so sharded processes don't all redraw everyone's. A
        song gone from the store is anyone's: its redraw only marks it shown."""
        task = await self.bot.store.get_task(message.task_id)
        return task is None or self.bot.holds(task.guild_id)
