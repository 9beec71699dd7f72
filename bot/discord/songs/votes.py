"""The 👍 buttons' Discord side (`SingingBot.votes`): a click is counted, answered privately
at once, and the result message's buttons are redrawn through an `EditCoalescer`.

The acknowledgement never waits for the edit: the store's toggle (one short transaction)
says whether the vote is now counted, the member reads that in one private line, and the
message is only marked changed. The coalescer edits it at most once a second, reading the
counts as they are then, so twenty clicks in a second cost two or three edits and the last
edit always shows the final counts. Only the buttons are sent (the PATCH carries
`components`), so the takes' text and files are never touched.

After a restart the counts are the rows', and the next click on a message redraws it with
all of them; an edit still to come when the bot stopped is lost until that click.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import discord

from bot.core.clock import SystemClock
from bot.core.errors import UserFacingError
from bot.core.songs import votes
from bot.core.songs.vote_edits import EditCoalescer, EditGone
from bot.core.songs.votes import Tally
from bot.discord.tree import send_ephemeral
from bot.discord.ui.buttons import result_buttons

if TYPE_CHECKING:
    from bot.discord.bot import SingingBot

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class ResultMessage:
    """A result message whose buttons show a song's votes."""

    channel_id: int
    message_id: int
    task_id: int


def no_votes_here(task_id: int) -> str:
    return f"Song #{task_id} has no takes to vote for any more."


class VoteBoard:
    """`SingingBot.votes`."""

    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot
        self._edits: EditCoalescer[ResultMessage] = EditCoalescer(self._redraw, SystemClock())

    async def click(self, interaction: discord.Interaction, task_id: int, take: int) -> None:
        store = self.bot.store
        task = await store.get_task(task_id)
        if task is None or not task.outputs:
            raise UserFacingError(no_votes_here(task_id))
        clicked = await votes.click(store, task_id, len(task.outputs), take, interaction.user.id)
        await send_ephemeral(interaction, clicked.answer)
        message = interaction.message
        if message is not None and interaction.channel_id is not None:
            self._edits.touch(ResultMessage(interaction.channel_id, message.id, task_id))

    async def _redraw(self, key: ResultMessage) -> None:
        store = self.bot.store
        task = await store.get_task(key.task_id)
        if task is None:
            raise EditGone
        tally = Tally.of(await store.vote_counts(task.id), len(task.outputs))
        channel = self.bot.get_partial_messageable(key.channel_id, guild_id=task.guild_id)
        try:
            await channel.get_partial_message(key.message_id).edit(view=result_buttons(task, tally))
        except (discord.NotFound, discord.Forbidden) as error:
            raise EditGone from error

    def pending(self) -> int:
        return self._edits.pending()

    async def close(self) -> None:
        await self._edits.close()
