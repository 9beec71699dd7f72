"""Small translations from Discord objects to the services' own types, shared by the cogs."""

from __future__ import annotations

import logging
from typing import Any, Literal, TypeVar, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.models import Gender, Task, TaskStatus
from bot.core.servers.threads import wants_thread
from bot.core.songs.intake import PROMPT_MAX, AttachmentRef, Origin
from bot.core.songs.progress import failure_text, song_ref
from bot.core.timecodes import parse_timecode
from bot.discord.bot import SingingBot
from cogs.status import StatusRenderer
from cogs.threads import Threads, thread_link

log = logging.getLogger(__name__)

# How long the modal's private answer waits to say whether MusicGPT took the request.
SEND_WAIT_SECONDS = 10.0

THREAD_TYPES = (
    discord.ChannelType.public_thread,
    discord.ChannelType.private_thread,
    discord.ChannelType.news_thread,
)

# Spelled out (not `Gender`) so the choices read "male", not "MALE", in Discord.
Voice = Literal["male", "female", "neutral"]
# On the option itself, so Discord stops the member typing more (the intake checks it too).
Prompt = app_commands.Range[str, 1, PROMPT_MAX]


CogT = TypeVar("CogT", bound=commands.Cog)


def loaded_cog(bot: commands.Bot, cog: type[CogT]) -> CogT | None:
    """The bot's loaded cog of this class, found by name: `load_extension` executes a cog's
    module afresh, so the class imported here is not the class of the cog it loaded (an
    `isinstance` check against it is always False)."""
    return cast(CogT | None, bot.get_cog(cog.__cog_name__))


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


async def origin_of(
    bot: SingingBot, interaction: discord.Interaction, *, thread: bool | None = None
) -> Origin:
    """Who asked and where: the interaction's own channel (a thread, for a command or button
    used inside one), the member's roles, and whether the song gets a thread of its own (the
    server's threads mode with `thread`, the option)."""
    in_thread = getattr(interaction.channel, "type", None) in THREAD_TYPES
    settings = await bot.guild_settings.get(interaction.guild_id)
    return Origin(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id or 0,
        upload_limit=interaction.filesize_limit,
        thread_wanted=wants_thread(thread, in_thread=in_thread, settings=settings),
        role_ids=role_ids_of(interaction),
    )


def attachment_ref(attachment: discord.Attachment | None) -> AttachmentRef | None:
    if attachment is None:
        return None
    return AttachmentRef(
        url=attachment.url,
        filename=attachment.filename,
        size=attachment.size,
        content_type=attachment.content_type,
    )


def gender_of(voice: Voice | None) -> Gender | None:
    return Gender(voice) if voice else None


def status_link(task: Task) -> str:
    if task.status_message_id is None:
        return "in this channel"
    guild = task.guild_id or "@me"
    return f"https://discord.com/channels/{guild}/{task.channel_id}/{task.status_message_id}"


def follow(task: Task) -> str:
    """Where the member follows the song: its thread when it has one, else its status."""
    if link := thread_link(task):
        return f"Follow it in its thread: {link}"
    return f"Follow it here: {status_link(task)}"


async def confirm_queued(interaction: discord.Interaction, task: Task, bot: SingingBot) -> None:
    """Post the status message, then answer the modal privately: refused, sent, or in line."""
    if renderer := loaded_cog(bot, StatusRenderer):
        await renderer.show(task.id)
    if threads := loaded_cog(bot, Threads):
        try:  # started from the status message just posted, so the answer can link it
            await threads.settle(task)
        except Exception:
            # Best effort here: the sweep and the delivery try again; the answer still goes.
            log.exception("couldn't open the thread of task %s", task.id)
    settled = await bot.tracker.wait_until_sent(task.id, SEND_WAIT_SECONDS) or task
    song = song_ref(task.id).capitalize()
    if settled.status is TaskStatus.FAILED:
        text = f"❌ {failure_text(settled)}"
    elif settled.status is TaskStatus.QUEUED:
        position = await bot.store.queue_position(task.id)
        text = f"Got it! {song} is #{position} in line for MusicGPT. {follow(settled)}"
    else:
        text = f"Got it! {song} is with MusicGPT. {follow(settled)}"
    await interaction.followup.send(
        text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
    )
