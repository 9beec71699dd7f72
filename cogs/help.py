"""/help: one screen. What I do in two lines, an example, my commands in one compact list, the
buttons and message menus in a line each, your quota, and where the details are.

Discord already shows each command's options and their descriptions while a member types, so
/help doesn't repeat them: the details are in docs/commands.md. The command list is read from
the registered commands themselves, so /help can't fall out of step with what Discord offers
(README's table is checked against the same commands).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.i18n import N_, LocaleLike, gettext, or_list
from bot.core.songs.quota import quota_lines
from bot.discord.bot import SingingBot
from bot.discord.options import role_ids_of
from bot.discord.ui.buttons import (
    AgainButton,
    AgainWithChangesButton,
    CancelButton,
    DeleteButton,
    ExtendButton,
    LyricsButton,
    RewriteButton,
    TryAgainButton,
)

TITLE = N_("🎤 What I do")
INTRO = N_(
    "I sing your lyrics with MusicGPT over an instrumental you give me (`/sing`), or rewrite "
    "a stretch of a song (`/inpaint`).\n"
    "You give a prompt and the audio, type the lyrics in the box I open, and I post 1 or 2 "
    "takes here."
)
EXAMPLE = N_("`/sing prompt: warm soul vocal audio: beat.mp3`, then type your lyrics in the box.")
# The buttons by their labels, in the language they carry here (the server's): /help names
# them as they read, whatever language the sentence around them is in.
ON_A_SONG = N_(
    "{rewrite}, {extend}, 👍, {again}, {changes}, {lyrics} and {delete} under its takes; "
    "{cancel} while it waits, {try_again} if it failed."
)


def button_names(locale: LocaleLike = None) -> dict[str, str]:
    """ON_A_SONG's buttons, labelled as they are in `locale` (English: Rewrite, Again...)."""
    return {
        "rewrite": RewriteButton.label_in(locale),
        "extend": ExtendButton.label_in(locale),
        "again": AgainButton.label_in(locale),
        "changes": AgainWithChangesButton.label_in(locale),
        "lyrics": LyricsButton.label_in(locale),
        "delete": DeleteButton.label_in(locale),
        "cancel": CancelButton.label_in(locale),
        "try_again": TryAgainButton.label_in(locale),
    }


DOCS = N_(
    "Every option, button and limit is in `docs/commands.md`, in my source code (whoever runs "
    "me has the link)."
)
COLOUR = 0x5865F2
# One screen: the whole description stays well under Discord's 4096.
HELP_LIMIT = 1000


Listed = app_commands.Command[Any, ..., Any] | app_commands.Group


def for_managers(command: Listed) -> bool:
    return command.default_permissions is not None


def command_list(registered: Iterable[Listed], locale: LocaleLike = None) -> list[str]:
    """Everyone's commands on one line, the server managers' on another."""
    everyone = " · ".join(f"`/{c.name}`" for c in registered if not for_managers(c))
    managers = " · ".join(f"`/{c.name}`" for c in registered if for_managers(c))
    lines = [gettext(locale, "**Commands:** {commands}", commands=everyone)]
    if managers:
        lines.append(gettext(locale, "**For server managers:** {commands}", commands=managers))
    return lines


def menus_line(menus: Sequence[str], locale: LocaleLike = None) -> str | None:
    """The message menus, by the names Discord shows this member (translated at sync)."""
    if not menus:
        return None
    names = or_list(locale, [gettext(locale, menu) for menu in menus])
    return gettext(locale, "**On a message with audio:** Apps → {menus}.", menus=names)


def help_text(
    registered: Iterable[Listed],
    menus: Sequence[str],
    quota: Sequence[str],
    locale: LocaleLike = None,
    buttons_locale: LocaleLike = None,
) -> str:
    """The whole of /help, one screen, in the member's language (`locale`); the buttons by
    their labels in `buttons_locale`, the language they carry where the member is."""
    on_a_song = gettext(locale, ON_A_SONG, **button_names(buttons_locale))
    parts = [
        gettext(locale, INTRO),
        gettext(locale, "**Try:** {example}", example=gettext(locale, EXAMPLE)),
        "\n".join(
            [
                *command_list(registered, locale),
                gettext(locale, "**On a song:** {buttons}", buttons=on_a_song),
                *filter(None, [menus_line(menus, locale)]),
            ]
        ),
        "\n".join(quota),
        gettext(locale, "**More:** {docs}", docs=gettext(locale, DOCS)),
    ]
    return "\n\n".join(parts)


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
        locale = interaction.locale
        lines = quota_lines(usage, effective.limits, quota.reset_said(), locale)
        # A server's buttons are in its language; outside one (a DM) they are the member's.
        buttons = (
            await self.bot.public_locale(interaction.guild_id) if interaction.guild_id else locale
        )
        embed = discord.Embed(
            title=gettext(locale, TITLE),
            description=help_text(registered, menus, lines, locale, buttons),
            colour=COLOUR,
        )
        await interaction.response.send_message(
            embed=embed, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(Help(bot))
