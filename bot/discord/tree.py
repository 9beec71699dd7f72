"""The one error boundary: every command, modal and view error ends up in `report_error`."""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands

from bot.core.errors import DiskFull, UserFacingError
from bot.core.i18n import N_, LocaleLike, gettext
from bot.core.media.spool import is_disk_full

log = logging.getLogger(__name__)

UNEXPECTED = N_("Something went wrong on my side. It has been logged; please try again.")
NO_DMS = N_(
    "I make songs only in server channels, where the server sees them: run this command in "
    "one. /help, /quota and /history work here too."
)
RESTARTING = N_("I'm restarting; try again in a minute.")


def user_message_for(error: BaseException, locale: LocaleLike = None) -> str | None:
    """The text to show for an expected error in the member's language (`locale`,
    `interaction.locale`; English without one), or None for a bug."""
    if isinstance(error, app_commands.CommandInvokeError | app_commands.TransformerError):
        error = error.__cause__ or error
        if isinstance(error, app_commands.CommandInvokeError):
            error = error.original
    if isinstance(error, UserFacingError):
        return error.message_in(locale)
    if is_disk_full(error):  # wherever it struck (the database, a file): say so, not "a bug"
        return gettext(locale, DiskFull.MESSAGE)
    if isinstance(error, app_commands.CommandOnCooldown):
        return gettext(
            locale,
            "Slow down a little: try again in {seconds} s.",
            seconds=f"{error.retry_after:.0f}",
        )
    if isinstance(error, app_commands.NoPrivateMessage):
        return gettext(locale, NO_DMS)
    if isinstance(error, app_commands.BotMissingPermissions):
        missing = ", ".join(error.missing_permissions)
        return gettext(
            locale, "I need these permissions in this channel first: {missing}.", missing=missing
        )
    if isinstance(error, app_commands.CheckFailure):
        return gettext(locale, "You can't use this command here; try another channel.")
    return None


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Answer privately, whichever stage the interaction is at; never pings anyone."""
    mentions = discord.AllowedMentions.none()
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=mentions)
        else:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=mentions)
    except discord.HTTPException:
        # The token may have expired (15 minutes) or Discord refused; nothing more to do.
        log.warning("couldn't send an ephemeral reply to interaction %s", interaction.id)


async def report_error(interaction: discord.Interaction, error: BaseException) -> None:
    message = user_message_for(error, interaction.locale)
    if is_disk_full(error):
        log.warning("disk full: %s", error)  # the operator's to fix; not a bug's traceback
    if message is None:
        log.error("unexpected error in %s", _source(interaction), exc_info=error)
        message = gettext(interaction.locale, UNEXPECTED)
    await send_ephemeral(interaction, message)


def _source(interaction: discord.Interaction) -> str:
    """What the member used, for the log: `/sing`, or a button's or form's custom_id (which
    carries an action and task id, nothing secret)."""
    if interaction.command is not None:
        return f"/{interaction.command.qualified_name}"
    custom_id = interaction.data.get("custom_id") if interaction.data else None
    return f"component {custom_id}" if custom_id else "an interaction"


class SingingTree(app_commands.CommandTree):
    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """While the bot shuts down, a new command would start work it can't finish."""
        stopping = getattr(interaction.client, "stopping", None)
        if isinstance(stopping, asyncio.Event) and stopping.is_set():
            await send_ephemeral(interaction, gettext(interaction.locale, RESTARTING))
            return False
        return True

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await report_error(interaction, error)
