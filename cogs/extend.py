"""/extend: the song goes on, with a new part MusicGPT writes after a point in it."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.models import TaskKind
from bot.core.songs.forms import SongRequest
from bot.discord.bot import SingingBot
from bot.discord.options import Prompt, Timecode, Voice, attachment_ref, gender_of, song_command
from bot.discord.ui.modals import ExtendLyrics, Values


class Extend(commands.Cog):
    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="extend",
        description="I continue your song with a new part (a box for its lyrics opens next).",
    )
    @app_commands.describe(
        prompt="How the new part should sound",
        audio="The song: MP3, WAV, FLAC, OGG, M4A or most other audio",
        audio_url="Or an http or https link to the song",
        after="Where the new part starts: 75, 75.5, 1:15 or 1:15.5 (default: the song's end)",
        gender="The voice I sing the new part with",
        thread="I post this song's status, takes and follow-ups in a thread of its own",
    )
    @song_command
    async def extend(
        self,
        interaction: discord.Interaction,
        prompt: Prompt,
        audio: discord.Attachment | None = None,
        audio_url: str | None = None,
        after: app_commands.Transform[float, Timecode("after")] | None = None,
        gender: Voice | None = None,
        thread: bool = False,
    ) -> None:
        door = self.bot.door
        pending = await door.begin(
            interaction,
            TaskKind.EXTEND,
            attachment=attachment_ref(audio),
            audio_url=audio_url,
            after=after,
        )

        async def send(modal: discord.Interaction, values: Values) -> None:
            song = SongRequest(
                TaskKind.EXTEND,
                prompt,
                lyrics=values["lyrics"],
                gender=gender_of(gender),
                after=after,
            )
            await door.send(modal, song, pending, thread=thread)

        await door.open(interaction, ExtendLyrics(send, pending, locale=interaction.locale))


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(Extend(bot))
