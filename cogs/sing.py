"""/sing: AI vocals over an instrumental."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.models import TaskKind
from bot.discord.bot import SingingBot
from bot.discord.ui.modals import LyricsForm, SingLyrics
from cogs._common import (
    Prompt,
    Voice,
    attachment_ref,
    confirm_queued,
    gender_of,
    origin_of,
    role_ids_of,
    song_command,
)


class Sing(commands.Cog):
    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="sing",
        description="I sing your lyrics over your instrumental (a box for the lyrics opens next).",
    )
    @app_commands.describe(
        prompt="Style, tone or genre of the vocals, e.g. 'soulful R&B, warm and breathy'",
        audio="The instrumental: MP3, WAV, FLAC, OGG, M4A or most other audio",
        audio_url="Or an http or https link to the instrumental",
        gender="The voice I sing with",
        thread="I post this song's status, takes and follow-ups in a thread of its own",
    )
    @song_command
    async def sing(
        self,
        interaction: discord.Interaction,
        prompt: Prompt,
        audio: discord.Attachment | None = None,
        audio_url: str | None = None,
        gender: Voice | None = None,
        thread: bool = False,
    ) -> None:
        intake = self.bot.intake
        pending = await intake.begin(
            interaction.user.id,
            kind=TaskKind.SING,
            attachment=attachment_ref(audio),
            audio_url=audio_url,
            guild_id=interaction.guild_id,
            role_ids=role_ids_of(interaction),
        )

        async def on_lyrics(modal_interaction: discord.Interaction, form: LyricsForm) -> None:
            assert isinstance(form, SingLyrics)  # noqa: S101
            lyrics = form.lyrics_text  # before any await: a repeat submit refreshes the form
            await modal_interaction.response.defer(ephemeral=True, thinking=True)
            task = await intake.finish_sing(
                await origin_of(self.bot, modal_interaction, thread=thread),
                pending,
                prompt=prompt,
                lyrics=lyrics,
                gender=gender_of(gender),
            )
            await confirm_queued(modal_interaction, task, self.bot)

        with pending.discarded_on_error():
            await interaction.response.send_modal(SingLyrics(on_lyrics, pending.abandon))


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(Sing(bot))
