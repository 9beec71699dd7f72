"""/queue: this server's songs waiting and under way, in order, privately (the words are
bot/core/songs/queue.py). A member who may manage messages also gets a menu to cancel any
waiting song, the same Cancel as the song's own button."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.songs.queue import queue_text, server_queue
from bot.discord.bot import SingingBot
from bot.discord.ui.queue import cancel_menu


class Queue(commands.Cog):
    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot

    @app_commands.command(name="queue", description="Songs waiting and being made here, in order.")
    @app_commands.guild_only()
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def queue(self, interaction: discord.Interaction) -> None:
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        entries = server_queue(await self.bot.store.unfinished_tasks(), interaction.guild_id)
        manager = interaction.permissions.manage_messages
        text = queue_text(entries, may_cancel_any=manager, locale=interaction.locale)
        nobody = discord.AllowedMentions.none()
        names = self._names(interaction)
        menu = cancel_menu(entries, names, interaction.locale) if manager else None
        if menu is None:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=nobody)
        else:
            await interaction.response.send_message(
                text, view=menu, ephemeral=True, allowed_mentions=nobody
            )

    @staticmethod
    def _names(interaction: discord.Interaction) -> dict[int, str]:
        guild = interaction.guild
        if guild is None:
            return {}
        return {m.id: m.display_name for m in guild.members}


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(Queue(bot))
