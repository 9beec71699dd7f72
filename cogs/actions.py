"""What the result and status buttons do: Rewrite, Again, Delete, Cancel.

Thin on purpose: each reads the click, asks `bot.core.songs.actions` (the decisions and the derived
request) and the intake (checks, charge, queue), and answers privately. Errors raised here
reach `bot.discord.tree.report_error` through `bot.discord.ui.buttons`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import discord
from discord.ext import commands

from bot.core.errors import FormClosed, UserFacingError
from bot.core.models import Task
from bot.core.songs import actions, message_audio
from bot.core.songs.actions import Clicker
from bot.core.songs.intake import ALREADY_SENT, AttachmentRef, InpaintRange, PendingAudio
from bot.discord.bot import SingingBot
from bot.discord.tree import send_ephemeral
from bot.discord.ui.modals import LyricsForm, RewriteForm
from cogs._common import attachment_ref, confirm_queued, loaded_cog, role_ids_of
from cogs.status import StatusRenderer

log = logging.getLogger(__name__)


def _clicker(interaction: discord.Interaction) -> Clicker:
    return Clicker(interaction.user.id, interaction.filesize_limit, interaction.channel_id)


def take_attachment(
    message: discord.Message | None, task_id: int, take: int
) -> AttachmentRef | None:
    """The take as the result message carries it (cogs.delivery names it song-N-T.ext)."""
    if message is None:
        return None
    for attachment in message.attachments:
        if message_audio.take_of(attachment.filename, task_id) == take:
            return attachment_ref(attachment)
    return None


class Actions(commands.Cog):
    """The bot's `ButtonActions`."""

    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.button_actions = self

    async def cog_unload(self) -> None:
        self.bot.button_actions = None

    async def _check_quota(self, interaction: discord.Interaction) -> None:
        """The clicker's own quota, with their roles in this server."""
        await self.bot.quota.check(
            interaction.user.id,
            guild_id=interaction.guild_id,
            role_ids=role_ids_of(interaction),
        )

    async def _parent(self, task_id: int) -> Task:
        return actions.parent_of(await self.bot.store.get_task(task_id), task_id)

    # --- Rewrite -----------------------------------------------------------------------

    async def rewrite(self, interaction: discord.Interaction, task_id: int, take: int) -> None:
        parent = await self._parent(task_id)
        actions.take_of(parent, take)
        await self._check_quota(interaction)  # refused before the form, as /inpaint
        await self.bot.intake.check_budget(interaction.guild_id)
        posted = take_attachment(interaction.message, task_id, take)
        sent = False  # a form stays registered after its submit (bot.ui.modals): once only

        async def on_submit(modal_interaction: discord.Interaction, form: LyricsForm) -> None:
            nonlocal sent
            assert isinstance(form, RewriteForm)  # noqa: S101
            values = form.values  # read before any await: a repeat submit refreshes them
            if sent:
                raise FormClosed(ALREADY_SENT)
            # Checked before anything is charged or sent: the answer is the modal's own.
            span = actions.rewrite_span(parent, take, values["start"], values["end"])
            sent = True
            await modal_interaction.response.defer(ephemeral=True, thinking=True)
            await self._queue_rewrite(modal_interaction, parent, take, posted, span, values)

        song = f"song #{task_id}"
        form = RewriteForm(
            on_submit,
            title=f"Rewrite take {take} of {song}",
            style=parent.prompt,
            lyrics=parent.lyrics,
        )
        await interaction.response.send_modal(form)

    async def _queue_rewrite(
        self,
        interaction: discord.Interaction,
        parent: Task,
        take: int,
        posted: AttachmentRef | None,
        span: InpaintRange,
        values: dict[str, str],
    ) -> None:
        clicker = _clicker(interaction)
        await self._check_quota(interaction)
        request = actions.rewrite_request(
            parent,
            take,
            clicker,
            span=span,
            prompt=values["style"],
            lyrics=values["lyrics"],
            new_lyrics=values["new_lyrics"],
        )
        pending: PendingAudio | None = None
        output = actions.take_of(parent, take)
        if not await actions.link_works(self.bot.session, output.audio_url):
            # MusicGPT's link is gone: send the take's exact bytes, from our own post.
            if posted is None:
                raise actions.no_copy(parent, take)
            pending = await self.bot.intake.copy_of(clicker.user_id, posted)
            request = actions.from_file(request, posted.filename)
        task = await self.bot.intake.submit_derived(
            request, pending, span=span, role_ids=role_ids_of(interaction)
        )
        await confirm_queued(interaction, task, self.bot)

    # --- Again -------------------------------------------------------------------------

    async def again(self, interaction: discord.Interaction, task_id: int) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        parent = await self._parent(task_id)
        clicker = _clicker(interaction)
        await self._check_quota(interaction)
        await self.bot.intake.check_budget(interaction.guild_id)  # before copying its input
        pending: PendingAudio | None = None
        if actions.needs_kept_input(parent):
            path = await self._kept_input(parent)
            if path is None:
                raise actions.not_kept(parent)
            pending = self.bot.intake.kept_file(
                path, filename=parent.audio_filename, duration=parent.audio_duration
            )
        request = actions.again_request(parent, clicker)
        task = await self.bot.intake.submit_derived(
            request, pending, span=actions.again_span(parent), role_ids=role_ids_of(interaction)
        )
        await confirm_queued(interaction, task, self.bot)

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
        if renderer := loaded_cog(self.bot, StatusRenderer):  # (isinstance: see loaded_cog)
            await renderer.show(task_id)  # the status says cancelled, the button goes


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(Actions(bot))
