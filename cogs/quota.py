"""/quota: how many songs a member can still make today."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.models import QuotaLimits, QuotaUsage
from bot.core.servers.guild_settings import EffectiveLimits, Source
from bot.core.wording import count, noun
from bot.discord.bot import SingingBot
from cogs._common import role_ids_of

SOURCES = {Source.ROLE: "a role of yours", Source.SERVER: "this server's setting"}


def quota_lines(usage: QuotaUsage, limits: QuotaLimits, reset: str) -> list[str]:
    """The answer to /quota (and the end of /help): songs left today, and in progress."""
    left = max(0, limits.daily - usage.used_today)
    return [
        f"You have **{left} of {limits.daily}** {noun(limits.daily, 'song')} left today; "
        f"the quota {reset}.",
        f"In progress: {usage.active} of the {count(limits.active, 'song')} you can have at once.",
    ]


def source_line(effective: EffectiveLimits) -> str | None:
    """Where the member's limits come from, when not from the default."""
    said = []
    if effective.daily_from in SOURCES:
        said.append(f"your {effective.limits.daily} a day from {SOURCES[effective.daily_from]}")
    if effective.active_from in SOURCES:
        said.append(
            f"your {effective.limits.active} at a time from {SOURCES[effective.active_from]}"
        )
    return f"Limits here: {' and '.join(said)}." if said else None


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
        lines = quota_lines(usage, effective.limits, quota.reset_phrase())
        if source := source_line(effective):
            lines.append(source)
        await interaction.response.send_message("\n".join(lines), ephemeral=True)


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(Quota(bot))
