"""Small translations from Discord objects to the services' own types, shared by the cogs."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.intake import AttachmentRef, Origin
from bot.models import Gender, Task, TaskStatus
from bot.tracker import Tracker

# How long the modal's private answer waits to say whether MusicGPT took the request.
SEND_WAIT_SECONDS = 10.0

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


async def confirm_queued(interaction: discord.Interaction, task: Task, tracker: Tracker) -> None:
    """Answer the modal privately: refused at once, sent, or waiting in line."""
    settled = await tracker.wait_until_sent(task.id, SEND_WAIT_SECONDS) or task
    if settled.status is TaskStatus.FAILED:
        refund = " Your generation was refunded." if settled.quota_refunded else ""
        text = f"❌ {settled.error}{refund}"
    elif settled.status is TaskStatus.QUEUED:
        position = await tracker.queue_position(task.id)
        text = (
            f"Got it! Request #{task.id} is #{position} in line for MusicGPT. "
            f"Follow it here: {status_link(settled)}"
        )
    else:
        text = (
            f"Got it! Request #{task.id} is with MusicGPT. Follow it here: {status_link(settled)}"
        )
    await interaction.followup.send(
        text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
    )
