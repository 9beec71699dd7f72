"""/help: what I do, my commands and their options, the audio I take, and your quota.

The command list is read from the registered commands themselves, so /help can't fall out of
step with what Discord offers (README's table is checked against the same commands).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.bot import SingingBot
from bot.media.names import ACCEPTED_FORMATS
from cogs._common import role_ids_of
from cogs.quota import quota_lines

INTRO = (
    "I sing with MusicGPT: give me a prompt and an instrumental (or a song to rewrite part "
    "of), type your lyrics in the box I open, and I post the song in the channel as 1 or 2 "
    "takes, mentioning only you."
)
RULES = (
    "Give `audio` or `audio_url`, not both. Times are like 75, 75.5, 1:15 or 1:15.5.",
    "/sing and /inpaint work in server channels; /quota, /history and /help work in DMs too.",
)
MESSAGE_LIMIT = 2000


def usage_line(command: app_commands.Command[Any, ..., Any]) -> str:
    """`/sing` `prompt` `[audio]`: required options bare, optional ones in brackets."""
    options = [p.name if p.required else f"[{p.name}]" for p in command.parameters]
    return " ".join([f"**/{command.name}**", *(f"`{o}`" for o in options)])


def option_line(parameter: app_commands.Parameter) -> str:
    choices = [str(c.value) for c in parameter.choices]
    listed = f": {', '.join(choices[:-1])} or {choices[-1]}" if len(choices) > 1 else ""
    return f"  `{parameter.name}`: {parameter.description}{listed}"


def group_line(group: app_commands.Group) -> str:
    """`/settings` with its subcommands named, on one line: their options are in Discord,
    and /help's 2000 characters go to the commands every member can use."""
    subs = " ".join(f"`{c.name}`" for c in group.commands)
    needs = " (Manage Server)" if group.default_permissions else ""
    return f"**/{group.name}** {subs}{needs}."


def commands_text(
    registered: Iterable[app_commands.Command[Any, ..., Any] | app_commands.Group],
) -> list[str]:
    lines: list[str] = []
    described: set[str] = set()
    for command in registered:
        if isinstance(command, app_commands.Group):
            lines.append(group_line(command))
            continue
        lines.append(f"{usage_line(command)}: {command.description}")
        for parameter in command.parameters:
            # An option that is the same on an earlier command (`thread`) is described once.
            if (line := option_line(parameter)) not in described:
                described.add(line)
                lines.append(line)
    return lines


class Help(commands.Cog):
    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="help", description="What I do, my commands and their options, and your quota."
    )
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    async def help(self, interaction: discord.Interaction) -> None:
        registered = [
            c
            for c in self.bot.tree.get_commands()
            if isinstance(c, app_commands.Command | app_commands.Group)
        ]
        quota = self.bot.quota
        effective = await quota.limits_for(interaction.guild_id, role_ids_of(interaction))
        usage = await quota.usage(interaction.user.id)
        formats = (
            f"Audio: {ACCEPTED_FORMATS}, or a video's sound track, "
            f"up to {self.bot.settings.max_audio_mb} MB a file."
        )
        lines = [
            INTRO,
            "",
            *commands_text(registered),
            "",
            *RULES,
            formats,
            *quota_lines(usage, effective.limits, quota.reset_phrase()),
        ]
        await interaction.response.send_message("\n".join(lines)[:MESSAGE_LIMIT], ephemeral=True)


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(Help(bot))
