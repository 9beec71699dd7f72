"""The message context menus: "Sing over this" and "Rewrite part of this", on any message
carrying audio (a member's upload or one of the bot's results).

The file goes through the intake exactly as /sing's attachment does (`Intake.begin`, then
`finish_sing` / `finish_inpaint`): the same refusals, quota, spool and one open form per
member. With one audio file the download starts with the command, as /sing's; with several
the form carries a File select and the download starts at submit, once the choice is known.
On one of the bot's results the new song records which song and take it came from.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.errors import FormClosed, UserFacingError
from bot.core.media.inspect import describe_size
from bot.core.models import Gender, Task, TaskKind
from bot.core.songs import actions, message_audio
from bot.core.songs.intake import ALREADY_SENT, AttachmentRef, PendingAudio
from bot.discord.bot import SingingBot
from bot.discord.ui.modals import FileOption, LyricsForm, RewritePartForm, SingOverForm
from cogs._common import attachment_ref, confirm_queued, origin_of, role_ids_of, song_command

SING_OVER = "Sing over this"
REWRITE_PART = "Rewrite part of this"
NO_SUCH_FILE = "Pick one of the message's audio files in the File list."


def _audio_of(message: discord.Message) -> list[AttachmentRef]:
    refs = [attachment_ref(a) for a in message.attachments]
    return message_audio.audio_files([r for r in refs if r is not None])


def _options(files: Sequence[AttachmentRef]) -> list[FileOption]:
    return [FileOption(f.filename, describe_size(f.size)) for f in files]


def _picked(files: Sequence[AttachmentRef], value: str) -> AttachmentRef:
    """The file the form names ("" without a File select: the only one)."""
    if not value and len(files) == 1:
        return files[0]
    if value.isdigit() and int(value) < len(files):
        return files[int(value)]
    raise UserFacingError(NO_SUCH_FILE)  # only a hand-made submit gets here


class FormAudio:
    """A form's audio: begun with the command (one file) or at its first submit (the file
    the member picked), then the same pending request for every submit of the form, so the
    intake answers a repeat ("You already sent this form: song #12.")."""

    def __init__(self, bot: SingingBot, kind: TaskKind, files: Sequence[AttachmentRef]) -> None:
        self.bot, self.kind, self.files = bot, kind, files
        self.pending: PendingAudio | None = None
        self._starting = False

    async def begin_now(self, interaction: discord.Interaction) -> None:
        self.pending = await self._begin(interaction, self.files[0])

    async def _begin(self, interaction: discord.Interaction, file: AttachmentRef) -> PendingAudio:
        return await self.bot.intake.begin(
            interaction.user.id,
            kind=self.kind,
            attachment=file,
            audio_url=None,
            guild_id=interaction.guild_id,
            role_ids=role_ids_of(interaction),
        )

    def abandon(self) -> None:
        if self.pending is not None:
            self.pending.abandon()

    async def for_submit(
        self, interaction: discord.Interaction, file: AttachmentRef
    ) -> PendingAudio:
        """After the submit was deferred. Raises what /sing's begin raises for the file."""
        if self.pending is not None:
            return self.pending
        if self._starting:  # a second submit while the first one starts the download
            raise FormClosed(ALREADY_SENT)
        self._starting = True
        self.pending = await self._begin(interaction, file)
        return self.pending


class ContextMenus(commands.Cog):
    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot
        # discord.py's context_menu decorator can't sit on a cog's method: the menus are
        # built here, around bound methods, and added to the tree when the cog loads.
        self.menus = (
            song_command(app_commands.ContextMenu(name=SING_OVER, callback=self.sing_over)),
            song_command(app_commands.ContextMenu(name=REWRITE_PART, callback=self.rewrite_part)),
        )

    async def cog_load(self) -> None:
        for menu in self.menus:
            self.bot.tree.add_command(menu)

    async def cog_unload(self) -> None:
        for menu in self.menus:
            self.bot.tree.remove_command(menu.name, type=menu.type)

    async def _result_task(self, message: discord.Message) -> Task | None:
        """The song a result message of ours carries, if we still know it."""
        me = self.bot.user
        if me is None or message.author.id != me.id:
            return None  # a member can type "(song #3)"; only our own marker counts
        task_id = message_audio.song_of(message.content)
        return await self.bot.store.get_task(task_id) if task_id is not None else None

    @staticmethod
    def _take(parent: Task | None, file: AttachmentRef) -> int | None:
        return message_audio.take_of(file.filename, parent.id) if parent else None

    async def _prepare(
        self, interaction: discord.Interaction, kind: TaskKind, files: Sequence[AttachmentRef]
    ) -> FormAudio:
        audio = FormAudio(self.bot, kind, files)
        if len(files) == 1:
            await audio.begin_now(interaction)  # refusals before the form, as /sing
        else:
            await self.bot.quota.check(  # the file is begun at submit
                interaction.user.id,
                guild_id=interaction.guild_id,
                role_ids=role_ids_of(interaction),
            )
            await self.bot.intake.check_budget(interaction.guild_id)
        return audio

    # --- Sing over this ---------------------------------------------------------------

    async def sing_over(self, interaction: discord.Interaction, message: discord.Message) -> None:
        files = _audio_of(message)
        layout = message_audio.sing_layout(len(files))
        parent = await self._result_task(message)
        audio = await self._prepare(interaction, TaskKind.SING, files)

        async def on_submit(modal_interaction: discord.Interaction, form: LyricsForm) -> None:
            assert isinstance(form, SingOverForm)  # noqa: S101
            values = form.values  # before any await: a repeat submit refreshes them
            file = _picked(files, values["file"])
            await modal_interaction.response.defer(ephemeral=True, thinking=True)
            pending = await audio.for_submit(modal_interaction, file)
            take = self._take(parent, file)
            task = await self.bot.intake.finish_sing(
                await origin_of(self.bot, modal_interaction),
                pending,
                prompt=values["style"],
                lyrics=values["lyrics"],
                gender=Gender(values["voice"]) if values["voice"] else None,
                parent_task_id=parent.id if parent and take else None,
                parent_output=take,
            )
            await confirm_queued(modal_interaction, task, self.bot)

        form = SingOverForm(
            on_submit, audio.abandon, files=_options(files) if layout.file_choice else ()
        )
        await self._open(interaction, form, audio)

    # --- Rewrite part of this ---------------------------------------------------------

    async def rewrite_part(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        files = _audio_of(message)
        layout = message_audio.rewrite_layout(len(files))
        parent = await self._result_task(message)
        audio = await self._prepare(interaction, TaskKind.INPAINT, files)

        async def on_submit(modal_interaction: discord.Interaction, form: LyricsForm) -> None:
            assert isinstance(form, RewritePartForm)  # noqa: S101
            values = form.values  # before any await: a repeat submit refreshes them
            file = _picked(files, values["file"])
            try:  # checked before anything is charged: the answer is the modal's own
                span = actions.typed_span(values["start"], values["end"])
            except UserFacingError:
                audio.abandon()  # the form is gone from the member's screen: its file too
                raise
            await modal_interaction.response.defer(ephemeral=True, thinking=True)
            pending = await audio.for_submit(modal_interaction, file)
            take = self._take(parent, file)
            task = await self.bot.intake.finish_inpaint(
                await origin_of(self.bot, modal_interaction),
                pending,
                prompt=values["style"],
                span=span,  # checked against the file's measured length before the charge
                lyrics=values["lyrics"],
                new_lyrics=values["new_lyrics"],
                gender=parent.gender if parent else None,
                num_outputs=actions.REWRITE_OUTPUTS,
                parent_task_id=parent.id if parent and take else None,
                parent_output=take,
            )
            await confirm_queued(modal_interaction, task, self.bot)

        form = RewritePartForm(
            on_submit,
            title=_rewrite_title(parent, self._take(parent, files[0]) if len(files) == 1 else None),
            style=parent.prompt if parent else None,
            lyrics=parent.lyrics if parent else None,
            files=_options(files) if layout.file_choice else (),
            on_abandon=audio.abandon,
        )
        await self._open(interaction, form, audio)

    @staticmethod
    async def _open(interaction: discord.Interaction, form: LyricsForm, audio: FormAudio) -> None:
        try:
            await interaction.response.send_modal(form)
        except BaseException:
            audio.abandon()  # the form never reached the member: its download goes
            raise


def _rewrite_title(parent: Task | None, take: int | None) -> str:
    if parent is None:
        return "Rewrite part of this"
    if take is not None:
        return f"Rewrite take {take} of song #{parent.id}"
    return f"Rewrite part of song #{parent.id}"


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(ContextMenus(bot))
