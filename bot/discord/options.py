"""What the song commands and menus share, read from Discord: the option types (a prompt, a
voice, a time), the server-only check, and the translations of Discord objects into the
intake's own types."""

from __future__ import annotations

from typing import Any, Literal

import discord
from discord import app_commands

from bot.core.models import Gender
from bot.core.songs.forms import AttachmentRef
from bot.core.songs.intake import PROMPT_MAX
from bot.core.timecodes import parse_timecode

# Spelled out (not `Gender`) so the choices read "male", not "MALE", in Discord.
Voice = Literal["male", "female", "neutral"]
# On the option itself, so Discord stops the member typing more (the intake checks it too).
Prompt = app_commands.Range[str, 1, PROMPT_MAX]


def in_a_server(interaction: discord.Interaction) -> bool:
    """/sing and /inpaint post their status and takes in a server channel, for the server to
    see: Discord doesn't offer them in DMs (`guild_only`), and one that arrives anyway (an old
    client, a global command still being updated) is refused here, before anything starts."""
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    return True


def song_command(func: Any) -> Any:
    """What /sing and /inpaint share: server channels only."""
    return app_commands.guild_only()(app_commands.check(in_a_server)(func))


class Timecode(app_commands.Transformer):
    """A time option typed as 75, 75.5, 1:15 or 1:15.5, read into seconds before the command."""

    def __init__(self, option: str) -> None:
        self.option = option  # named in the refusal: "`start` must be a time like ..."

    async def transform(self, interaction: discord.Interaction, value: str) -> float:
        return parse_timecode(value, field=self.option)


def role_ids_of(interaction: discord.Interaction) -> tuple[int, ...]:
    """The member's roles in the server the interaction came from (none in a DM, where the
    user is a `discord.User`): their quota is the largest override among them."""
    roles = getattr(interaction.user, "roles", None) or ()
    return tuple(role.id for role in roles)


def attachment_ref(attachment: discord.Attachment | None) -> AttachmentRef | None:
    if attachment is None:
        return None
    return AttachmentRef(
        url=attachment.url,
        filename=attachment.filename,
        size=attachment.size,
        content_type=attachment.content_type,
    )


def gender_of(voice: str | None) -> Gender | None:
    return Gender(voice) if voice else None
