"""One door for every song, on Discord's side: /sing, /inpaint, the Rewrite and Again
buttons, and the message menus all come in here.

    command, button or menu ─► `SongDoor.precheck` / `begin` (quota, budget, known range;
                               the audio) ─► `SongDoor.open(form)`
    form submit (`SongForm.on_submit`: read, check, defer) ─► `SongDoor.send`:
        `Intake.submit` (the one entry, the one "a form is sent once" rule) ─► `confirm`

A command only says what its form asks for (a `SongRequest` of its kind). A new kind of song
(/extend, an Extend button) is an option list, a form, and a `SongRequest` of its kind.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.core.i18n import LocaleLike, gettext
from bot.core.models import Request, Task, TaskKind, TaskStatus
from bot.core.servers.threads import wants_thread
from bot.core.songs.forms import AttachmentRef, InpaintRange, Origin, PendingAudio, SongRequest
from bot.core.songs.progress import failure_text, song_ref
from bot.discord.options import role_ids_of
from bot.discord.songs.threads import thread_link
from bot.discord.ui.modals import SongForm

if TYPE_CHECKING:
    from bot.discord.bot import SingingBot

log = logging.getLogger(__name__)

# How long the form's private answer waits to say whether MusicGPT took the request.
SEND_WAIT_SECONDS = 10.0

THREAD_TYPES = (
    discord.ChannelType.public_thread,
    discord.ChannelType.private_thread,
    discord.ChannelType.news_thread,
)


class SongDoor:
    """`SingingBot.door`."""

    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot

    async def precheck(
        self, interaction: discord.Interaction, *, span: InpaintRange | None = None
    ) -> None:
        """Before a form opens (or a button's song starts): the clicker's quota with their
        roles here, the server's budget, and the range when it is already known."""
        await self.bot.intake.precheck(
            interaction.user.id,
            guild_id=interaction.guild_id,
            role_ids=role_ids_of(interaction),
            span=span,
        )

    async def begin(
        self,
        interaction: discord.Interaction,
        kind: TaskKind,
        *,
        attachment: AttachmentRef | None,
        audio_url: str | None,
        span: InpaintRange | None = None,
    ) -> PendingAudio:
        """The pre-check and the audio of a form whose file is known now (its download
        starts at once); the member's older form for this command goes."""
        return await self.bot.intake.begin(
            interaction.user.id,
            kind=kind,
            attachment=attachment,
            audio_url=audio_url,
            guild_id=interaction.guild_id,
            role_ids=role_ids_of(interaction),
            span=span,
        )

    @staticmethod
    async def open(interaction: discord.Interaction, form: SongForm) -> None:
        """Show the form; its audio goes if it never reaches the member."""
        try:
            await interaction.response.send_modal(form)
        except BaseException:
            form.abandon()
            raise

    async def send(
        self,
        interaction: discord.Interaction,
        song: SongRequest | Request,
        pending: PendingAudio,
        *,
        thread: bool | None = None,
        fetch: AttachmentRef | None = None,
    ) -> None:
        """Queue the song (`Intake.submit`) and answer privately. A `SongRequest` is asked
        from where the interaction is (`thread`: the command's option); a `Request` (Rewrite,
        Again) says where itself. `fetch`: a file to download into the form now."""
        if isinstance(song, SongRequest):
            song = song.request(await self.origin(interaction, thread=thread), pending)
        task = await self.bot.intake.submit(
            song, pending, role_ids=role_ids_of(interaction), fetch=fetch
        )
        await self.confirm(interaction, task)

    async def origin(self, interaction: discord.Interaction, *, thread: bool | None) -> Origin:
        """Who asked and where: the interaction's own channel (a thread, for a command or
        button used inside one), the member's roles, and whether the song gets a thread of
        its own (the server's threads mode with `thread`, the option)."""
        in_thread = getattr(interaction.channel, "type", None) in THREAD_TYPES
        settings = await self.bot.guild_settings.get(interaction.guild_id)
        return Origin(
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or 0,
            upload_limit=interaction.filesize_limit,
            thread_wanted=wants_thread(thread, in_thread=in_thread, settings=settings),
            role_ids=role_ids_of(interaction),
        )

    async def confirm(self, interaction: discord.Interaction, task: Task) -> None:
        """Post the status message, then answer privately: refused, sent, or in line."""
        await self.bot.status_renderer.render_now(task.id)
        try:  # started from the status message just posted, so the answer can link it
            await self.bot.thread_opener.settle(task)
        except Exception:
            # Best effort here: the sweep and the poster try again; the answer still goes.
            log.exception("couldn't open the thread of task %s", task.id)
        settled = await self.bot.tracker.wait_until_sent(task.id, SEND_WAIT_SECONDS) or task
        locale = interaction.locale  # a private answer: the member's language
        song = song_ref(task.id, locale).capitalize()
        if settled.status is TaskStatus.FAILED:
            text = f"❌ {failure_text(settled, locale)}"
        elif settled.status is TaskStatus.QUEUED:
            position = await self.bot.store.queue_position(task.id)
            text = gettext(
                locale,
                "Got it! {song} is #{position} in line for MusicGPT. {follow}",
                song=song,
                position=position,
                follow=follow(settled, locale),
            )
        else:
            text = gettext(
                locale,
                "Got it! {song} is with MusicGPT. {follow}",
                song=song,
                follow=follow(settled, locale),
            )
        await interaction.followup.send(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )


def status_link(task: Task, locale: LocaleLike = None) -> str:
    if task.status_message_id is None:
        return gettext(locale, "in this channel")
    guild = task.guild_id or "@me"
    return f"https://discord.com/channels/{guild}/{task.channel_id}/{task.status_message_id}"


def follow(task: Task, locale: LocaleLike = None) -> str:
    """Where the member follows the song: its thread when it has one, else its status."""
    if link := thread_link(task):
        return gettext(locale, "Follow it in its thread: {link}", link=link)
    return gettext(locale, "Follow it here: {link}", link=status_link(task, locale))
