"""/history: the caller's last requests, privately (the formatting is bot/core/songs/history.py)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.songs.history import LIMIT, history_text
from bot.discord.bot import SingingBot


class History(commands.Cog):
    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="history",
        description="Your last 10 songs, newest first, with their status and links.",
    )
    # Like /quota: it is the member's own information, and the links work from anywhere.
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    async def history(self, interaction: discord.Interaction) -> None:
        tasks = await self.bot.store.recent_tasks(interaction.user.id, LIMIT)
        await interaction.response.send_message(
            history_text(tasks, interaction.locale),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(History(bot))
