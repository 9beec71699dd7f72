"""/song number:N: one song of this server, privately: what it is, who asked, its takes with
their 👍, where it came from and what was made from it (bot/core/songs/song_card.py)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.songs.song_card import not_found, song_card
from bot.discord.bot import SingingBot


class Song(commands.Cog):
    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="song",
        description="One song of this server: its takes, votes, and the songs made from it.",
    )
    @app_commands.describe(number="The song's number, as its status and result show it (#N).")
    @app_commands.guild_only()
    async def song(
        self, interaction: discord.Interaction, number: app_commands.Range[int, 1]
    ) -> None:
        store = self.bot.store
        guild_id = interaction.guild_id
        locale = interaction.locale
        text = (
            not_found(number, locale)
            if guild_id is None
            else await song_card(store, store, guild_id, number, locale)
        )
        await interaction.response.send_message(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(Song(bot))
