"""/quota: how many songs a member can still make today."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.songs.quota import quota_lines, source_line
from bot.discord.bot import SingingBot
from bot.discord.options import role_ids_of


class Quota(commands.Cog):
    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="quota", description="How many songs you can still make today, and when that resets."
    )
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    async def quota(self, interaction: discord.Interaction) -> None:
        quota = self.bot.quota
        effective = await quota.limits_for(interaction.guild_id, role_ids_of(interaction))
        usage = await quota.usage(interaction.user.id)
        lines = quota_lines(usage, effective.limits, quota.reset_said(), interaction.locale)
        if source := source_line(effective, interaction.locale):
            lines.append(source)
        await interaction.response.send_message("\n".join(lines), ephemeral=True)


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(Quota(bot))
