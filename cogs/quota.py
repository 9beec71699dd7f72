"""/quota and /help."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.bot import SingingBot

HELP = """\
**/sing** `prompt` + `audio` (or `audio_url`) [`gender`]: I open a box for your lyrics, \
then sing them over your instrumental.
  e.g. `/sing prompt: dreamy synth-pop, airy female vocal audio: beat.mp3`
**/inpaint** `start` `end` `prompt` + `audio` (or `audio_url`) [`gender`] [`outputs`]: \
I rewrite that stretch of the song; the lyrics box is optional.
  e.g. `/inpaint start: 1:15 end: 1:32.5 prompt: gospel choir audio: song.mp3`
**/quota**: how many generations you have left today.
Audio: MP3, WAV, FLAC, OGG or M4A, up to {max_mb} MB. You get {daily} songs a day \
(reset at 00:00 UTC) and up to {active} at a time. I post the songs in the channel \
and mention you when they're ready."""


class Quota(commands.Cog):
    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot

    @app_commands.command(name="quota", description="How many songs you can still make today.")
    async def quota(self, interaction: discord.Interaction) -> None:
        quota = self.bot.quota
        usage = await quota.usage(interaction.user.id)
        limits = quota.limits
        left = max(0, limits.daily - usage.used_today)
        lines = [
            f"You have **{left} of {limits.daily}** generations left today; "
            f"the quota {quota.reset_phrase()}.",
            f"In progress: {usage.active} of {limits.active} at a time.",
        ]
        await interaction.response.send_message("\n".join(lines), ephemeral=True)

    @app_commands.command(name="help", description="What this bot does and how to use it.")
    async def help(self, interaction: discord.Interaction) -> None:
        settings = self.bot.settings
        text = HELP.format(
            max_mb=settings.max_audio_mb,
            daily=settings.user_daily_quota,
            active=settings.user_max_active,
        )
        await interaction.response.send_message(text, ephemeral=True)


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(Quota(bot))
