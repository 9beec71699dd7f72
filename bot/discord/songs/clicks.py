"""What the result and status buttons do: Rewrite, Again, Delete, Cancel, 👍
(`SingingBot.button_actions`, the `ButtonActions` the buttons call).

Thin on purpose: each reads the click, asks `bot.core.songs.actions` (the decisions and the
derived request), and goes through the song's door (`bot.discord.songs.door`: the pre-check,
the form, the one submit, the answer). Errors raised here reach
`bot.discord.tree.report_error` through `bot.discord.ui.buttons`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import discord

from bot.core.errors import UserFacingError
from bot.core.models import Task
from bot.core.songs import actions, message_audio
from bot.core.songs.actions import Clicker
from bot.core.songs.forms import AttachmentRef, InpaintRange, PendingAudio
from bot.discord.options import attachment_ref
from bot.discord.tree import send_ephemeral
from bot.discord.ui.modals import RewriteForm, Values

if TYPE_CHECKING:
    from bot.discord.bot import SingingBot

log = logging.getLogger(__name__)


def _clicker(interaction: discord.Interaction) -> Clicker:
    return Clicker(interaction.user.id, interaction.filesize_limit, interaction.channel_id)


def take_attachment(
    message: discord.Message | None, task_id: int, take: int
) -> AttachmentRef | None:
    """The take as the result message carries it (the poster names it song-N-T.ext)."""
    if message is None:
        return None
    for attachment in message.attachments:
        if message_audio.take_of(attachment.filename, task_id) == take:
            return attachment_ref(attachment)
    return None


class ButtonHandlers:
    """`SingingBot.button_actions`."""

    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot

    async def _parent(self, task_id: int) -> Task:
        return actions.parent_of(await self.bot.store.get_task(task_id), task_id)

    # --- Rewrite -----------------------------------------------------------------------

    async def rewrite(self, interaction: discord.Interaction, task_id: int, take: int) -> None:
        door = self.bot.door
        parent = await self._parent(task_id)
        output = actions.take_of(parent, take)
        await door.precheck(interaction)  # refused before the form, as /inpaint
        posted = take_attachment(interaction.message, task_id, take)
        # The take as MusicGPT gave it (its URL), or our own post of it once that link died.
        pending = PendingAudio(url=output.audio_url)

        def span(values: Values) -> InpaintRange:
            return actions.rewrite_span(parent, take, values["start"], values["end"])

        async def send(modal: discord.Interaction, values: Values) -> None:
            request = actions.rewrite_request(
                parent,
                take,
                _clicker(modal),
                span=span(values),
                prompt=values["style"],
                lyrics=values["lyrics"],
                new_lyrics=values["new_lyrics"],
            )
            fetch = None
            if not await actions.link_works(self.bot.session, output.audio_url):
                # MusicGPT's link is gone: send the take's exact bytes, from our own post.
                if posted is None:
                    raise actions.no_copy(parent, take)
                fetch = posted
            await door.send(modal, request, pending, fetch=fetch)

        form = RewriteForm(
            send,
            pending,
            check=span,
            title=f"Rewrite take {take} of song #{task_id}",
            style=parent.prompt,
            lyrics=parent.lyrics,
        )
        await door.open(interaction, form)

    # --- Again -------------------------------------------------------------------------

    async def again(self, interaction: discord.Interaction, task_id: int) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        parent = await self._parent(task_id)
        await self.bot.door.precheck(interaction)  # before copying its input
        pending = PendingAudio(url=parent.audio_url)
        if actions.needs_kept_input(parent):
            path = await self._kept_input(parent)
            if path is None:
                raise actions.not_kept(parent)
            pending = self.bot.intake.kept_file(
                path, filename=parent.audio_filename, duration=parent.audio_duration
            )
        request = actions.again_request(parent, _clicker(interaction))
        await self.bot.door.send(interaction, request, pending)

    async def _kept_input(self, parent: Task) -> Path | None:
        """A fresh copy of the parent's uploaded input, if the input store still keeps it."""
        if not parent.input_sha256:  # never kept (INPUT_RETENTION_DAYS=0, or a failed keep)
            return None
        return await self.bot.inputs.reuse(parent.input_sha256)

    # --- Delete ------------------------------------------------------------------------

    async def delete(self, interaction: discord.Interaction, task_id: int) -> None:
        task = await self.bot.store.get_task(task_id)
        manage = interaction.permissions.manage_messages
        if not actions.may_delete(task, interaction.user.id, manage_messages=manage):
            raise UserFacingError(actions.delete_refusal(task_id))
        if interaction.message is None:
            return
        await interaction.response.defer()  # a silent acknowledgement; the post goes
        await interaction.message.delete()

    # --- Cancel ------------------------------------------------------------------------

    async def cancel(self, interaction: discord.Interaction, task_id: int) -> None:
        user_id = interaction.user.id
        store = self.bot.store
        refusal = actions.cancel_refusal(await store.get_task(task_id), task_id, user_id)
        if refusal is None and await self.bot.tracker.cancel(task_id, user_id) is None:
            # The dispatcher claimed it between the read and the cancel: too late now.
            now = await store.get_task(task_id)
            refusal = actions.cancel_refusal(now, task_id, user_id) or actions.too_late(task_id)
        if refusal is not None:
            raise UserFacingError(refusal)
        await send_ephemeral(interaction, actions.cancelled_text(task_id))
        await self.bot.status_renderer.render_now(task_id)  # says cancelled; the button goes

    # --- 👍 ------------------------------------------------------------------------------

    async def vote(self, interaction: discord.Interaction, task_id: int, take: int) -> None:
        """Anyone who sees the result may vote; never MusicGPT, never a charge."""
        await self.bot.votes.click(interaction, task_id, take)
