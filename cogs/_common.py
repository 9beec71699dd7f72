"""Small translations from Discord objects to the services' own types, shared by the cogs."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.intake import AttachmentRef, Origin
from bot.models import Gender, Task

GENDER_CHOICES = [app_commands.Choice(name=g.value, value=g.value) for g in Gender]


def origin_of(interaction: discord.Interaction) -> Origin:
    return Origin(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id or 0,
        upload_limit=interaction.filesize_limit,
    )


def attachment_ref(attachment: discord.Attachment | None) -> AttachmentRef | None:
    if attachment is None:
        return None
    return AttachmentRef(url=attachment.url, filename=attachment.filename, size=attachment.size)


def gender_of(choice: app_commands.Choice[str] | None) -> Gender | None:
    return Gender(choice.value) if choice else None


def status_link(task: Task) -> str:
    if task.status_message_id is None:
        return "in this channel"
    guild = task.guild_id or "@me"
    return f"https://discord.com/channels/{guild}/{task.channel_id}/{task.status_message_id}"


async def confirm_queued(interaction: discord.Interaction, task: Task) -> None:
    await interaction.followup.send(
        f"Got it! Request #{task.id} is in. Follow it here: {status_link(task)}",
        ephemeral=True,
        allowed_mentions=discord.AllowedMentions.none(),
    )
