"""/inpaint: rewrite a stretch of an existing song."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.models import TaskKind
from bot.core.songs.actions import typed_span
from bot.core.songs.forms import InpaintRange, SongRequest
from bot.core.timecodes import format_timecode, parse_timecode
from bot.discord.bot import SingingBot
from bot.discord.options import Prompt, Timecode, Voice, attachment_ref, gender_of, song_command
from bot.discord.ui.modals import InpaintLyrics, Values


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
        door = self.bot.door
        span = InpaintRange(start, end)
        pending = await door.begin(
            interaction,
            TaskKind.INPAINT,
            attachment=attachment_ref(audio),
            audio_url=audio_url,
            span=span,
        )

        async def send(modal: discord.Interaction, values: Values) -> None:
            # The range and style are the options, or as edited after a refusal (Edit and
            # retry asks for them in the form).
            retyped = typed_span(values["start"], values["end"])
            song = SongRequest(
                TaskKind.INPAINT,
                values["style"] or prompt,
                lyrics=values["lyrics"],
                new_lyrics=values["new_lyrics"],
                gender=gender_of(gender),
                span=retyped,
                num_outputs=outputs,
            )
            await door.send(modal, song, pending, thread=thread)

        form = InpaintLyrics(
            send,
            pending,
            start=_typed(start),
            end=_typed(end),
            style=prompt,
            locale=interaction.locale,
        )
        await door.open(interaction, form)


def _typed(seconds: float) -> str:
    """A time as the member reads it (1:15.5), exactly when that loses nothing."""
    shown = format_timecode(seconds)
    return shown if parse_timecode(shown, field="start") == seconds else f"{seconds:g}"


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(Inpaint(bot))
