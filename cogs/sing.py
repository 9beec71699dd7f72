"""/sing: AI vocals over an instrumental."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.models import TaskKind
from bot.core.songs.forms import SongRequest
from bot.discord.bot import SingingBot
from bot.discord.options import Prompt, Voice, attachment_ref, gender_of, song_command
from bot.discord.ui.modals import SingLyrics, Values


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
        door = self.bot.door
        pending = await door.begin(
            interaction, TaskKind.SING, attachment=attachment_ref(audio), audio_url=audio_url
        )

        async def send(modal: discord.Interaction, values: Values) -> None:
            song = SongRequest(
                TaskKind.SING, prompt, lyrics=values["lyrics"], gender=gender_of(gender)
            )
            await door.send(modal, song, pending, thread=thread)

        await door.open(interaction, SingLyrics(send, pending, locale=interaction.locale))


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(Sing(bot))
