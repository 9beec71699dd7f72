"""/notify: whether a member also gets a DM copy of their songs (sent by the poster,
`bot.discord.songs.poster`)."""

from __future__ import annotations

import time

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.i18n import gettext
from bot.core.songs.notify import NOTIFY_OFF, NOTIFY_ON
from bot.discord.bot import SingingBot


class Notify(commands.Cog):
    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot

    # Short: /help lists every command and option in one 2000-character message.
    @app_commands.command(name="notify", description="Whether I DM you your songs too.")
    @app_commands.describe(dm="True: a DM copy of each song")
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    async def notify(self, interaction: discord.Interaction, dm: bool) -> None:
        # A member's choice, not a server's: the same in every server and in DMs.
        await self.bot.store.set_dm_copies(interaction.user.id, dm, time.time())
        answer = gettext(interaction.locale, NOTIFY_ON if dm else NOTIFY_OFF)
        await interaction.response.send_message(answer, ephemeral=True)


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(Notify(bot))
