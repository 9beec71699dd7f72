"""/settings: what a server's owner decides (quota, budget, blocked words, threads).

Registered for Manage Server (`default_member_permissions` "32") and server channels only,
and checked again here, at run time, from the member's own permissions in the interaction:
an owner can override command permissions in Discord, and who may change what the server
pays for must not rest on that alone. The texts are `bot.core.servers.settings_text`'s.
"""

from __future__ import annotations

import io
import logging
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.errors import UserFacingError
from bot.core.i18n import LANGUAGE_NAMES, catalog_code, gettext
from bot.core.i18n.said import Said
from bot.core.servers import settings_text
from bot.core.servers.guild_settings import LANGUAGE_CHOICES as LANGUAGES
from bot.core.servers.guild_settings import ThreadsMode, edited_words
from bot.discord.bot import SingingBot

Mode = Literal["off", "optional", "always"]
log = logging.getLogger(__name__)

# /settings language's choices besides auto: Discord's locale, and the language's own name.
LANGUAGE_CHOICES = [(code, LANGUAGE_NAMES[catalog_code(code)]) for code in LANGUAGES[1:]]


def language_set(interaction: discord.Interaction, chosen: str | None) -> str:
    """/settings language's answer, in the member's language."""
    if chosen is None:
        return gettext(
            interaction.locale,
            "I'll post statuses and songs here in this server's Discord language ({language}).",
            language=LANGUAGE_NAMES[catalog_code(interaction.guild_locale)],
        )
    return gettext(
        interaction.locale,
        "I'll post statuses and songs here in {language}.",
        language=LANGUAGE_NAMES[catalog_code(chosen)],
    )


def manager_guild(interaction: discord.Interaction) -> int:
    """The server of a member allowed to change its settings; UserFacingError otherwise."""
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    if not interaction.permissions.manage_guild:
        raise UserFacingError(Said(settings_text.NOT_ALLOWED))
    return interaction.guild_id


async def answer(interaction: discord.Interaction, text: str) -> None:
    # Roles are shown as mentions: listed, never pinged.
    await interaction.response.send_message(
        text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
    )


class Settings(commands.Cog):
    settings = app_commands.Group(
        name="settings",
        description="Server owners: my quota, credit budget, blocked words and threads here.",
        guild_only=True,
        allowed_contexts=app_commands.AppCommandContext(guild=True),
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot

    @settings.command(name="view", description="Every setting I use here, and where it comes from.")
    async def view(self, interaction: discord.Interaction) -> None:
        guild_id = manager_guild(interaction)
        current = await self.bot.guild_settings.get(guild_id)
        lines = settings_text.view_lines(
            current,
            self.bot.quota.limits,
            locale=interaction.locale,
            server_locale=interaction.guild_locale,
        )
        if not settings_text.roles_cut(current, lines):
            await answer(interaction, "\n".join(lines))
            return
        # More overrides than a message holds: the summary counts them, a file lists them all.
        guild = interaction.guild
        names = {r.id: r.name for r in guild.roles} if guild is not None else {}
        quota_lines = settings_text.role_quota_lines(current, names, interaction.locale)
        listed = "\n".join(quota_lines) + "\n"
        attached = discord.File(io.BytesIO(listed.encode()), filename=settings_text.ROLES_FILE)
        await interaction.response.send_message(
            "\n".join(lines),
            file=attached,
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @settings.command(
        name="quota", description="Songs a member can make a day and have in progress."
    )
    @app_commands.describe(
        daily="Songs a member can make per UTC day",
        active="Songs a member can have in progress at once",
        role="Only for members with this role (only a role: remove its own quota)",
        role_id="A role's id instead of `role`: alone, it removes a deleted role's quota",
    )
    async def quota(
        self,
        interaction: discord.Interaction,
        daily: app_commands.Range[int, 0, None] | None = None,
        active: app_commands.Range[int, 1, None] | None = None,
        role: discord.Role | None = None,
        role_id: app_commands.Range[str, 1, 25] | None = None,
    ) -> None:
        guild_id = manager_guild(interaction)
        service = self.bot.guild_settings
        target = role.id if role is not None else None
        if role_id is not None:
            if role is not None:
                raise UserFacingError(Said(settings_text.BOTH_ROLES))
            target = typed_role_id(role_id)
            exists = interaction.guild is not None and interaction.guild.get_role(target)
            if (daily is not None or active is not None) and not exists:
                raise UserFacingError(Said(settings_text.UNKNOWN_ROLE, named={"role_id": target}))
        if daily is None and active is None:
            if target is None:
                raise UserFacingError(Said(settings_text.NOTHING_GIVEN))
            current = await service.clear_role_quota(guild_id, target)
        else:
            current = await service.set_quota(guild_id, daily=daily, active=active, role_id=target)
        text = settings_text.quota_set(current, self.bot.quota.limits, target, interaction.locale)
        await answer(interaction, text)

    @settings.command(
        name="budget", description="MusicGPT credits this server can spend per UTC day."
    )
    @app_commands.describe(credits="Credits per UTC day for the whole server; 0 means no budget")
    async def budget(
        self, interaction: discord.Interaction, credits: app_commands.Range[float, 0, None]
    ) -> None:
        guild_id = manager_guild(interaction)
        current = await self.bot.guild_settings.set_budget(guild_id, credits)
        await answer(interaction, settings_text.budget_set(current, interaction.locale))

    @settings.command(name="words", description="Words I refuse in prompts and lyrics here.")
    @app_commands.describe(
        add="Words to block, separated by commas",
        remove="Words to stop blocking, separated by commas",
    )
    async def words(
        self, interaction: discord.Interaction, add: str | None = None, remove: str | None = None
    ) -> None:
        guild_id = manager_guild(interaction)
        if not (add or "").strip(", ") and not (remove or "").strip(", "):
            raise UserFacingError(Said(settings_text.NO_WORDS_GIVEN))
        service = self.bot.guild_settings
        current = await service.get(guild_id)
        words = edited_words(current.blocked_words, add=add, remove=remove)
        current = await service.set_blocked_words(guild_id, words)
        await answer(interaction, settings_text.words_set(current, interaction.locale))

    @settings.command(name="threads", description="Whether songs get a thread of their own here.")
    @app_commands.describe(
        mode="off: never; optional: when the `thread` option asks (default); always: every song"
    )
    async def threads(self, interaction: discord.Interaction, mode: Mode) -> None:
        guild_id = manager_guild(interaction)
        current = await self.bot.guild_settings.set_threads_mode(guild_id, ThreadsMode(mode))
        await answer(interaction, settings_text.threads_set(current, interaction.locale))

    @settings.command(name="language", description="The language of my statuses and songs here.")
    @app_commands.describe(language="auto: this server's Discord language (the default)")
    @app_commands.choices(
        language=[
            app_commands.Choice(name="auto: this server's language", value="auto"),
            *(app_commands.Choice(name=name, value=value) for value, name in LANGUAGE_CHOICES),
        ]
    )
    async def language(
        self, interaction: discord.Interaction, language: app_commands.Choice[str]
    ) -> None:
        guild_id = manager_guild(interaction)
        current = await self.bot.guild_settings.set_language(guild_id, language.value)
        await answer(interaction, language_set(interaction, current.language))

    @commands.Cog.listener()
    async def on_guild_role_delete(self, role: discord.Role) -> None:
        """A deleted role's quota override goes with it (it could never apply again)."""
        if await self.bot.guild_settings.forget_role(role.guild.id, role.id):
            log.info("removed the quota of deleted role %s in guild %s", role.id, role.guild.id)


def typed_role_id(typed: str) -> int:
    """A role id as typed (`123…`, or pasted as a mention `<@&123…>`)."""
    digits = typed.strip().removeprefix("<@&").removesuffix(">")
    if not digits.isdigit():
        raise UserFacingError(Said(settings_text.BAD_ROLE_ID))
    return int(digits)


async def setup(bot: SingingBot) -> None:
    await bot.add_cog(Settings(bot))
