"""/usage: where a server's MusicGPT credits went this month (Manage Server only)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.errors import UserFacingError
from bot.core.i18n import N_
from bot.core.i18n.said import Said
from bot.core.servers.usage import TOP, month_bounds, usage_text
from bot.core.songs.budget import Budget
from bot.core.songs.quota import reset_said
from bot.discord.bot import SingingBot

NOT_ALLOWED = N_("Only members who can manage this server can see its usage.")


class Usage(commands.Cog):
    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="usage", description="This month's songs and credits per member, and today's spend."
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)  # "32"
    async def usage(self, interaction: discord.Interaction) -> None:
        # Owners can override who sees the command in Discord: the member's own permission,
        # as Discord reports it in this interaction, decides.
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            raise UserFacingError(Said(NOT_ALLOWED))
        now = discord.utils.utcnow().timestamp()
        first, end = month_bounds(now)
        total, top = await self.bot.store.guild_usage(interaction.guild_id, first, end, top=TOP)
        today = await Budget(self.bot.store, self.bot.guild_settings).today(interaction.guild_id)
        await interaction.response.send_message(
            usage_text(now, total, top, today, reset_said(now), interaction.locale),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),  # names, never pings
        )


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(Usage(bot))
