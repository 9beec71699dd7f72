"""/help: what I do, my commands and their options, the buttons and message menus, the audio
I take, and your quota, as one embed (a section each, within Discord's embed limits).

The command list is read from the registered commands themselves, so /help can't fall out of
step with what Discord offers (README's table is checked against the same commands).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.media.names import ACCEPTED_FORMATS
from bot.core.songs.quota import quota_lines
from bot.discord.bot import SingingBot
from bot.discord.options import role_ids_of

INTRO = (
    "I sing with MusicGPT: give me a prompt and an instrumental (or a song to rewrite part "
    "of), type your lyrics in the box I open, and I post the song in the channel as 1 or 2 "
    "takes, mentioning only you."
)
RULES = (
    "Give `audio` or `audio_url`, not both. Times are like 75, 75.5, 1:15 or 1:15.5.",
    "/sing and /inpaint work in server channels; /quota, /history, /notify and /help work in "
    "DMs too.",
)
ON_A_RESULT = (
    "**Rewrite** (one per take): rewrite a stretch of that take; anyone here can, charged to "
    "whoever clicks.",
    "**Again**: the same song again, charged to whoever clicks.",
    "**Delete**: removes the post; its requester or a member with Manage Messages can.",
    "**👍** (one per take): your vote for that take, click again to take it back; anyone here "
    "can, it costs nothing, and the leading take's button turns green.",
    "**Cancel**, on a song still waiting in line: its requester stops it and gets the song back.",
)
COLOUR = 0x5865F2
# Discord's embed limits: 1024 characters a field value, 6000 in all.
FIELD_LIMIT = 1024
EMBED_LIMIT = 6000


def usage_line(command: app_commands.Command[Any, ..., Any]) -> str:
    """`/sing` `prompt` `[audio]`: required options bare, optional ones in brackets."""
    options = [p.name if p.required else f"[{p.name}]" for p in command.parameters]
    return " ".join([f"**/{command.name}**", *(f"`{o}`" for o in options)])


def option_line(parameter: app_commands.Parameter) -> str:
    choices = [str(c.value) for c in parameter.choices]
    listed = f": {', '.join(choices[:-1])} or {choices[-1]}" if len(choices) > 1 else ""
    return f"  `{parameter.name}`: {parameter.description}{listed}"


def group_line(group: app_commands.Group) -> str:
    """`/settings` with its subcommands named, on one line: their options are in Discord."""
    subs = " ".join(f"`{c.name}`" for c in group.commands)
    return f"**/{group.name}** {subs}: {group.description}"


def for_managers(command: app_commands.Command[Any, ..., Any] | app_commands.Group) -> bool:
    return command.default_permissions is not None


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    lines: tuple[str, ...]

    @property
    def value(self) -> str:
        return "\n".join(self.lines)[:FIELD_LIMIT]


def command_sections(
    registered: Iterable[app_commands.Command[Any, ..., Any] | app_commands.Group],
    menus: Iterable[str] = (),
) -> list[Section]:
    """/help's sections, from the registered commands: a song command with its options each,
    the other commands together, the managers' commands, the buttons and the message menus."""
    sections: list[Section] = []
    other: list[str] = []
    managers: list[str] = []
    described: set[str] = set()
    for command in registered:
        if for_managers(command):
            managers.append(
                group_line(command)
                if isinstance(command, app_commands.Group)
                else f"{usage_line(command)}: {command.description}"
            )
            continue
        if isinstance(command, app_commands.Group):
            other.append(group_line(command))
            continue
        head = f"{usage_line(command)}: {command.description}"
        if len(command.parameters) < 2:
            other.append(head)  # /quota, /notify `dm`, /help: a line each
            continue
        options = []
        for parameter in command.parameters:
            # An option that is the same on an earlier command (`thread`) is described once.
            if (line := option_line(parameter)) not in described:
                described.add(line)
                options.append(line)
        sections.append(Section(f"/{command.name}", (head, *options)))
    if other:
        sections.append(Section("Your songs", tuple(other)))
    sections.append(Section("Buttons on a song", ON_A_RESULT))
    if menus := tuple(menus):
        named = " and ".join(f"**{name}**" for name in menus)
        sections.append(
            Section(
                "On any message with audio",
                (
                    f"Right-click it (or long-press) → Apps → {named}: the same as /sing and "
                    "/inpaint with that file.",
                ),
            )
        )
    if managers:
        sections.append(Section("For server managers (Manage Server)", tuple(managers)))
    return sections


def help_embed(sections: Iterable[Section]) -> discord.Embed:
    embed = discord.Embed(title="🎤 What I do", description=INTRO, colour=COLOUR)
    for section in sections:
        embed.add_field(name=section.name, value=section.value, inline=False)
    return embed


class Help(commands.Cog):
    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="help", description="What I do, my commands and their options, and your quota."
    )
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    async def help(self, interaction: discord.Interaction) -> None:
        tree = self.bot.tree
        registered = [
            c
            for c in tree.get_commands()
            if isinstance(c, app_commands.Command | app_commands.Group)
        ]
        menus = [c.name for c in tree.get_commands(type=discord.AppCommandType.message)]
        quota = self.bot.quota
        effective = await quota.limits_for(interaction.guild_id, role_ids_of(interaction))
        usage = await quota.usage(interaction.user.id)
        formats = (
            f"{ACCEPTED_FORMATS}, or a video's sound track, "
            f"up to {self.bot.settings.max_audio_mb} MB a file.",
        )
        sections = [
            *command_sections(registered, menus),
            Section("Good to know", (*RULES, *formats)),
            Section(
                "Your quota", tuple(quota_lines(usage, effective.limits, quota.reset_phrase()))
            ),
        ]
        await interaction.response.send_message(
            embed=help_embed(sections),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(Help(bot))
