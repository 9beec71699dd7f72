"""What the result and status buttons do: Rewrite, Extend, 👍, Again, Again with changes,
Lyrics, Delete, Cancel, Try again (a failed song's status) and Edit and retry (a refused form)
(`SingingBot.button_actions`, the `ButtonActions` the buttons call).

Thin on purpose: each reads the click, asks `bot.core.songs.actions` (the decisions and the
derived request), and goes through the song's door (`bot.discord.songs.door`: the pre-check,
the form, the one submit, the answer). Errors raised here reach
`bot.discord.tree.report_error` through `bot.discord.ui.buttons`.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord

from bot.core.errors import UserFacingError
from bot.core.i18n import N_, gettext
from bot.core.models import Output, Task, TaskKind, TaskStatus
from bot.core.songs import actions, message_audio
from bot.core.songs.actions import Clicker
from bot.core.songs.forms import AttachmentRef, InpaintRange, PendingAudio
from bot.core.timecodes import format_timecode
from bot.discord.options import attachment_ref
from bot.discord.tree import send_ephemeral
from bot.discord.ui.modals import AgainForm, ExtendForm, RewriteForm, Values

if TYPE_CHECKING:
    from bot.discord.bot import SingingBot

log = logging.getLogger(__name__)

# The titles of the forms a button opens, which name the song: in the clicker's language
# (the form is theirs), whole titles so each language orders take and song its own way.
# Discord cuts a title at 45 characters (`form_words.TITLE_MAX`); these fit with a long id.
REWRITE_TITLE = N_("Rewrite take {take} of song #{number}")
EXTEND_TITLE = N_("Extend take {take} of song #{number}")
CHANGES_TITLE = N_("Again with changes: song #{number}")


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


def manages_messages_in(interaction: discord.Interaction, channel_id: int) -> bool:
    """Whether the clicker may manage messages in `channel_id` (a song's channel), not merely
    where they clicked (/queue's menu may be used anywhere): Discord's own answer when the
    click is in that channel, else the member's permissions there as the cached channel (or
    thread) gives them. A channel this process can't see is a no, never a guess from the
    server-wide role: the requester may still cancel, and a moderator can click the song's own
    Cancel button."""
    if interaction.channel_id == channel_id:
        return interaction.permissions.manage_messages
    guild, member = interaction.guild, interaction.user
    if guild is None or not isinstance(member, discord.Member):
        return False
    channel = guild.get_channel_or_thread(channel_id)
    return channel is not None and channel.permissions_for(member).manage_messages


class ButtonHandlers:
    """`SingingBot.button_actions`."""

    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot

    async def _song(self, interaction: discord.Interaction, task_id: int) -> Task | None:
        """The song a click names, read here by every click (and /queue's cancel menu): None
        when it is gone, and also when it isn't the clicked server's (a forged custom_id, a DM
        song clicked in a server, or the reverse), so another server's song is answered
        exactly like a missing one, nothing read, charged or changed."""
        return actions.song_here(await self.bot.store.get_task(task_id), interaction.guild_id)

    async def _parent(self, interaction: discord.Interaction, task_id: int) -> Task:
        return actions.parent_of(await self._song(interaction, task_id), task_id)

    # --- Rewrite and Extend (a take) ---------------------------------------------------

    async def _take(
        self, interaction: discord.Interaction, task_id: int, take: int
    ) -> tuple[Task, Output, AttachmentRef | None]:
        """The clicked take: its song, its output, and our own post of it (on the clicked
        result), after the pre-check, so a refusal comes before the form (as /inpaint and
        /extend)."""
        parent = await self._parent(interaction, task_id)
        output = actions.take_of(parent, take)
        await self.bot.door.precheck(interaction)
        return parent, output, take_attachment(interaction.message, task_id, take)

    async def _copy_if_gone(
        self,
        parent: Task,
        take: int,
        output: Output,
        posted: AttachmentRef | None,
        *,
        verb: str = "rewrite",
    ) -> AttachmentRef | None:
        """None while MusicGPT still serves the take; once its link is gone, our own post of
        it (the take's exact bytes), or a refusal when there is none."""
        if await actions.link_works(self.bot.session, output.audio_url):
            return None
        if posted is None:
            raise actions.no_copy(parent, take, verb=verb)
        return posted

    # --- Rewrite -----------------------------------------------------------------------

    async def rewrite(self, interaction: discord.Interaction, task_id: int, take: int) -> None:
        door = self.bot.door
        parent, output, posted = await self._take(interaction, task_id, take)
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
            fetch = await self._copy_if_gone(parent, take, output, posted)
            await door.send(modal, request, pending, fetch=fetch)

        form = RewriteForm(
            send,
            pending,
            check=span,
            title=gettext(interaction.locale, REWRITE_TITLE, take=take, number=task_id),
            style=parent.prompt,
            lyrics=parent.lyrics,
        )
        await door.open(interaction, form)

    # --- Extend ------------------------------------------------------------------------

    async def extend(self, interaction: discord.Interaction, task_id: int, take: int) -> None:
        door = self.bot.door
        parent, output, posted = await self._take(interaction, task_id, take)
        # The take as MusicGPT gave it (its URL), or our own post of it once that link died;
        # its length (MusicGPT's) is where the new part starts when After is left blank.
        pending = PendingAudio(url=output.audio_url, duration=output.duration)

        length = output.duration
        prefilled = format_timecode(length) if length is not None else None

        def after(values: Values) -> float | None:
            if values["after"].strip() == prefilled:  # left as it was: the exact length
                return None
            return actions.extend_after(parent, take, values["after"])

        async def send(modal: discord.Interaction, values: Values) -> None:
            request = actions.extend_request(
                parent,
                take,
                _clicker(modal),
                after=after(values),
                prompt=values["style"],
                lyrics=values["lyrics"],
            )
            fetch = await self._copy_if_gone(parent, take, output, posted, verb="extend")
            if fetch is None and request.extend_after is None and length is None:
                # The take's end, and MusicGPT never said its length: our post is measured
                # (without one, the intake asks for After).
                fetch = posted
            await door.send(modal, request, pending, fetch=fetch)

        form = ExtendForm(
            send,
            pending,
            check=after,
            title=gettext(interaction.locale, EXTEND_TITLE, take=take, number=task_id),
            after=prefilled,
            style=parent.prompt,
        )
        await door.open(interaction, form)

    # --- Again -------------------------------------------------------------------------

    async def again(self, interaction: discord.Interaction, task_id: int) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        parent = await self._parent(interaction, task_id)
        await self.bot.door.precheck(interaction)  # before copying its input
        pending = await self._same_input(parent)
        request = actions.again_request(parent, _clicker(interaction))
        await self.bot.door.send(interaction, request, pending)

    async def _same_input(self, parent: Task) -> PendingAudio:
        """The parent's input once more: its link, or a fresh copy of the kept upload (a
        refusal, nothing charged, when it is no longer kept)."""
        if not actions.needs_kept_input(parent):
            return PendingAudio(url=parent.audio_url)
        path = await self._kept_input(parent)
        if path is None:
            raise actions.not_kept(parent)
        return self.bot.intake.kept_file(
            path, filename=parent.audio_filename, duration=parent.audio_duration
        )

    # --- Try again (a failed song's status) ---------------------------------------------

    async def try_again(self, interaction: discord.Interaction, task_id: int) -> None:
        """Again, of a failed song: the same inputs, charged to whoever clicks."""
        parent = await self._parent(interaction, task_id)
        if refusal := actions.try_again_refusal(parent):
            raise UserFacingError(refusal)
        await self.again(interaction, task_id)

    # --- Again with changes -------------------------------------------------------------

    async def again_with_changes(self, interaction: discord.Interaction, task_id: int) -> None:
        door = self.bot.door
        parent = await self._parent(interaction, task_id)
        await door.precheck(interaction)  # refused before the form, as Again
        pending = await self._same_input(parent)

        async def send(modal: discord.Interaction, values: Values) -> None:
            request = actions.again_with_changes_request(
                parent,
                _clicker(modal),
                prompt=values["style"],
                lyrics=values["lyrics"],
                gender=values["voice"],
            )
            await door.send(modal, request, pending)

        form = AgainForm(
            send,
            pending,
            title=gettext(interaction.locale, CHANGES_TITLE, number=task_id),
            style=parent.prompt,
            lyrics=parent.lyrics,
            voice=parent.gender.value if parent.gender else None,
            lyrics_required=parent.kind is TaskKind.SING,
        )
        await door.open(interaction, form)

    # --- Lyrics -------------------------------------------------------------------------

    async def lyrics(self, interaction: discord.Interaction, task_id: int) -> None:
        answer = actions.lyrics_answer(await self._parent(interaction, task_id), interaction.locale)
        nobody = discord.AllowedMentions.none()
        if answer.file_text is None:
            await interaction.response.send_message(
                answer.text, ephemeral=True, allowed_mentions=nobody
            )
            return
        data = io.BytesIO(answer.file_text.encode())
        await interaction.response.send_message(
            answer.text,
            file=discord.File(data, filename=answer.filename),
            ephemeral=True,
            allowed_mentions=nobody,
        )

    # --- Edit and retry -----------------------------------------------------------------

    async def edit_and_retry(self, interaction: discord.Interaction, key: str) -> None:
        await self.bot.door.retry(interaction, key)

    async def _kept_input(self, parent: Task) -> Path | None:
        """A fresh copy of the parent's uploaded input, if the input store still keeps it."""
        if not parent.input_sha256:  # never kept (INPUT_RETENTION_DAYS=0, or a failed keep)
            return None
        return await self.bot.inputs.reuse(parent.input_sha256)

    # --- Delete ------------------------------------------------------------------------

    async def delete(self, interaction: discord.Interaction, task_id: int) -> None:
        """The requester, or a member who may manage messages where the result is, deletes
        the clicked result; the song's status says so, and by whom. A song gone from the
        store (or another server's) is answered as gone by every button, this one too: its
        messages can still be deleted with Discord's own menu."""
        task = await self._parent(interaction, task_id)
        manage = interaction.permissions.manage_messages  # where the clicked result is
        if not actions.may_delete(task, interaction.user.id, manage_messages=manage):
            raise UserFacingError(actions.delete_refusal(task_id))
        message = interaction.message
        if message is None:  # Discord sends it with every click; without it, nothing to delete
            raise UserFacingError(actions.gone(task_id))
        await interaction.response.defer(ephemeral=True, thinking=True)
        store, key = self.bot.store, actions.deleted_key(task_id)
        # Who, recorded before the delete, so the status says it even if we stop right after;
        # the first one to delete stays named (a second click finds the message gone).
        before = await store.get_value(key)
        if not before:
            await store.set_value(key, str(interaction.user.id))
        try:
            await message.delete()
        except discord.NotFound:
            pass  # deleted already (a second click, or by hand): done all the same
        except discord.HTTPException:
            if not before:
                await store.set_value(key, "")  # still there: nobody deleted it
            raise
        await send_ephemeral(interaction, actions.deleted_text(task_id, interaction.locale))
        await self.bot.status_renderer.render_now(task_id)

    # --- Cancel ------------------------------------------------------------------------

    async def cancel(self, interaction: discord.Interaction, task_id: int) -> None:
        """The requester, or a member who may manage messages in the song's channel (a
        moderator there), cancels a queued song: refunded; a moderator's cancel tells the
        requester under the status."""
        user_id = interaction.user.id
        store = self.bot.store
        task = await self._song(interaction, task_id)
        manage = task is not None and manages_messages_in(interaction, task.channel_id)
        refusal = actions.cancel_refusal(task, task_id, user_id, manage_messages=manage)
        if refusal is not None or task is None:
            if task is not None and task.status is TaskStatus.CANCELLED:
                # A Cancel button left on a cancelled song (a kill before its redraw): the
                # status catches up.
                self.bot.tracker.events.publish(task_id)
            raise UserFacingError(refusal or actions.too_late(task_id))
        others = actions.cancelled_for_others(task, user_id)
        renderer = self.bot.status_renderer
        # Who, stored before the cancel, so its first drawing (and any after a restart) says.
        by_key = actions.cancelled_key(task_id)
        if others:
            await store.set_value(by_key, str(user_id))
        if await self.bot.tracker.cancel(task_id, task.user_id) is None:
            # The dispatcher claimed it between the read and the cancel: too late now.
            if others:
                await store.set_value(by_key, "")
            now = await store.get_task(task_id)
            raise UserFacingError(
                actions.cancel_refusal(now, task_id, user_id, manage_messages=manage)
                or actions.too_late(task_id)
            )
        if not others:
            await send_ephemeral(interaction, actions.cancelled_text(task_id, interaction.locale))
        else:
            await send_ephemeral(interaction, actions.cancelled_for_text(task, interaction.locale))
            await self._tell_requester(interaction, task, user_id)
        await renderer.render_now(task_id)  # says cancelled (and by whom); the button goes

    async def _tell_requester(self, interaction: discord.Interaction, task: Task, by: int) -> None:
        """A short public reply to the song's status (from its button or /queue's menu alike),
        pinging only the requester."""
        public = await self.bot.public_locale(task.guild_id)
        text = actions.requester_told_text(task, by, public)
        only_them = discord.AllowedMentions(users=[discord.Object(task.user_id)])
        extra: dict[str, Any] = {}
        if task.status_message_id is not None:
            extra["reference"] = discord.MessageReference(
                message_id=task.status_message_id,
                channel_id=task.channel_id,
                fail_if_not_exists=False,
            )
        try:
            channel = self.bot.status_channel_for(task)
            await channel.send(text, allowed_mentions=only_them, **extra)
        except discord.HTTPException:
            log.warning("couldn't tell the requester of task %s it was cancelled", task.id)

    # --- 👍 ------------------------------------------------------------------------------

    async def vote(self, interaction: discord.Interaction, task_id: int, take: int) -> None:
        """Anyone who sees the result may vote; never MusicGPT, never a charge."""
        await self.bot.votes.click(
            interaction, task_id, take, await self._song(interaction, task_id)
        )
