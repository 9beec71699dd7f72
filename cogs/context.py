"""The message context menus: "Sing over this" and "Rewrite part of this", on any message
carrying audio (a member's upload or one of the bot's results).

The file goes through the same door as /sing's attachment (`bot.discord.songs.door`): the
same refusals, quota, spool and one submit per form. With one audio file the download starts
with the command, as /sing's; with several the form carries a File select and the download
starts at submit (`Intake.submit`'s `fetch`), once the choice is known.
On one of the bot's results the new song records which song and take it came from.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.errors import UserFacingError
from bot.core.i18n import N_
from bot.core.i18n.said import said
from bot.core.media.inspect import describe_size
from bot.core.models import Gender, Task, TaskKind
from bot.core.songs import actions, message_audio
from bot.core.songs.forms import AttachmentRef, PendingAudio, SongRequest
from bot.discord.bot import SingingBot
from bot.discord.options import attachment_ref, song_command
from bot.discord.ui.modals import FileOption, RewritePartForm, SingOverForm, Values

SING_OVER = "Sing over this"
REWRITE_PART = "Rewrite part of this"
NO_SUCH_FILE = N_("Pick one of the message's audio files in the File list.")


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
    raise UserFacingError(said(NO_SUCH_FILE))  # only a hand-made submit gets here


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

    async def _pending(
        self, interaction: discord.Interaction, kind: TaskKind, files: Sequence[AttachmentRef]
    ) -> PendingAudio:
        """The form's audio: the only file, its download started now (refusals before the
        form, as /sing); or none yet, the file picked in the form (the pre-check only)."""
        door = self.bot.door
        if len(files) == 1:
            return await door.begin(interaction, kind, attachment=files[0], audio_url=None)
        await door.precheck(interaction)
        return PendingAudio()

    # --- Sing over this ---------------------------------------------------------------

    async def sing_over(self, interaction: discord.Interaction, message: discord.Message) -> None:
        files = _audio_of(message)
        layout = message_audio.sing_layout(len(files))
        parent = await self._result_task(message)
        pending = await self._pending(interaction, TaskKind.SING, files)

        async def send(modal: discord.Interaction, values: Values) -> None:
            file = _picked(files, values["file"])
            take = self._take(parent, file)
            song = SongRequest(
                TaskKind.SING,
                values["style"],
                lyrics=values["lyrics"],
                gender=Gender(values["voice"]) if values["voice"] else None,
                parent_task_id=parent.id if parent and take else None,
                parent_output=take,
            )
            await self.bot.door.send(modal, song, pending, fetch=_fetched(files, file))

        form = SingOverForm(
            send,
            pending,
            check=lambda values: _picked(files, values["file"]),
            files=_options(files) if layout.file_choice else (),
        )
        await self.bot.door.open(interaction, form)

    # --- Rewrite part of this ---------------------------------------------------------

    async def rewrite_part(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        files = _audio_of(message)
        layout = message_audio.rewrite_layout(len(files))
        parent = await self._result_task(message)
        pending = await self._pending(interaction, TaskKind.INPAINT, files)

        def check(values: Values) -> None:
            _picked(files, values["file"])
            actions.typed_span(values["start"], values["end"])

        async def send(modal: discord.Interaction, values: Values) -> None:
            file = _picked(files, values["file"])
            take = self._take(parent, file)
            song = SongRequest(
                TaskKind.INPAINT,
                values["style"],
                lyrics=values["lyrics"],
                new_lyrics=values["new_lyrics"],
                gender=parent.gender if parent else None,
                # Checked against the file's measured length before the charge.
                span=actions.typed_span(values["start"], values["end"]),
                num_outputs=actions.REWRITE_OUTPUTS,
                parent_task_id=parent.id if parent and take else None,
                parent_output=take,
            )
            await self.bot.door.send(modal, song, pending, fetch=_fetched(files, file))

        form = RewritePartForm(
            send,
            pending,
            check=check,
            title=_rewrite_title(parent, self._take(parent, files[0]) if len(files) == 1 else None),
            style=parent.prompt if parent else None,
            lyrics=parent.lyrics if parent else None,
            files=_options(files) if layout.file_choice else (),
        )
        await self.bot.door.open(interaction, form)


def _fetched(files: Sequence[AttachmentRef], file: AttachmentRef) -> AttachmentRef | None:
    """The picked file, to download at submit; None when the form's only file was begun
    with the command."""
    return file if len(files) > 1 else None


def _rewrite_title(parent: Task | None, take: int | None) -> str:
    if parent is None:
        return "Rewrite part of this"
    if take is not None:
        return f"Rewrite take {take} of song #{parent.id}"
    return f"Rewrite part of song #{parent.id}"


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(ContextMenus(bot))
