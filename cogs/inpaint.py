"""/inpaint: rewrite a stretch of an existing song."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.models import TaskKind
from bot.discord.bot import SingingBot
from bot.discord.ui.modals import InpaintLyrics, LyricsForm
from cogs._common import (
    Prompt,
    Timecode,
    Voice,
    attachment_ref,
    confirm_queued,
    gender_of,
    origin_of,
    role_ids_of,
    song_command,
)


class Inpaint(commands.Cog):
    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="inpaint",
        description="I rewrite a stretch of your song (a box for the lyrics opens next).",
    )
    @app_commands.describe(
        start="Where the new part starts: 75, 75.5, 1:15 or 1:15.5",
        end="Where the new part ends, same formats",
        prompt="How the new part should sound",
        audio="The song: MP3, WAV, FLAC, OGG, M4A or most other audio",
        audio_url="Or an http or https link to the song",
        gender="The voice I sing the new part with",
        outputs="How many takes I make (default 2)",
        thread="I post this song's status, takes and follow-ups in a thread of its own",
    )
    @song_command
    async def inpaint(
        self,
        interaction: discord.Interaction,
        start: app_commands.Transform[float, Timecode("start")],
        end: app_commands.Transform[float, Timecode("end")],
        prompt: Prompt,
        audio: discord.Attachment | None = None,
        audio_url: str | None = None,
        gender: Voice | None = None,
        outputs: Literal[1, 2] = 2,
        thread: bool = False,
    ) -> None:
        intake = self.bot.intake
        span = intake.check_span(start, end)
        pending = await intake.begin(
            interaction.user.id,
            kind=TaskKind.INPAINT,
            attachment=attachment_ref(audio),
            audio_url=audio_url,
            guild_id=interaction.guild_id,
            role_ids=role_ids_of(interaction),
        )

        async def on_lyrics(modal_interaction: discord.Interaction, form: LyricsForm) -> None:
            assert isinstance(form, InpaintLyrics)  # noqa: S101
            # Read before any await: a repeat submit refreshes the form's values.
            lyrics, new_lyrics = form.lyrics_text, form.new_lyrics_text
            await modal_interaction.response.defer(ephemeral=True, thinking=True)
            task = await intake.finish_inpaint(
                await origin_of(self.bot, modal_interaction, thread=thread),
                pending,
                prompt=prompt,
                span=span,
                lyrics=lyrics,
                new_lyrics=new_lyrics,
                gender=gender_of(gender),
                num_outputs=outputs,
            )
            await confirm_queued(modal_interaction, task, self.bot)

        with pending.discarded_on_error():
            await interaction.response.send_modal(InpaintLyrics(on_lyrics, pending.abandon))


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(Inpaint(bot))
