"""The status message's embed, from the plain-text view `bot.core.songs.progress` computes.

The status is public and in the bot's name, but part of what it shows is the member's (prompt,
file name, link) or MusicGPT's (an error). Every string of the view is therefore escaped
(`bot.core.public_text.shown`) and the only markup is this module's own: the progress bar's code
span and the requester's mention, which an embed shows without pinging (and every send and
edit of it also says `AllowedMentions.none()`).
"""

from __future__ import annotations

import discord

from bot.core.i18n import N_, LocaleLike, gettext
from bot.core.public_text import shown
from bot.core.songs.progress import StatusView

COLOURS = {"working": 0x5865F2, "finished": 0x57F287, "failed": 0xED4245}
# Discord's limits: field value 1024, description 4096 characters.
FIELD_LIMIT = 1024
STAGE_LIMIT = 1024  # a stage is a line or two; an error text longer than this is noise
REQUESTER_FIELD = N_("Asked by")
DELETER_FIELD = N_("Takes deleted by")
CANCELLED_BY_FIELD = N_("Cancelled by")


def status_embed(
    view: StatusView, *, picture: str | None = None, locale: LocaleLike = None
) -> discord.Embed:
    """`picture`: the file name of an attachment of the status message to show as its
    image (an inpaint's waveform); `locale`: the server's, for the fields' names."""
    colour = COLOURS["failed" if view.failed else "finished" if view.finished else "working"]
    stage = shown(view.stage, STAGE_LIMIT)
    # The bar is the bot's own (block characters and a percentage); it goes in a code span.
    description = stage if view.progress is None else f"{stage}\n`{view.progress}`"
    if view.lineage:  # the bot's own words and numbers: nothing in it to escape
        description = f"{view.lineage}\n{description}"
    embed = discord.Embed(title=view.title, description=description, colour=colour)
    embed.add_field(
        name=gettext(locale, REQUESTER_FIELD), value=f"<@{view.requester_id}>", inline=True
    )
    if view.deleted_by is not None:
        embed.add_field(
            name=gettext(locale, DELETER_FIELD), value=f"<@{view.deleted_by}>", inline=True
        )
    if view.cancelled_by is not None:
        embed.add_field(
            name=gettext(locale, CANCELLED_BY_FIELD), value=f"<@{view.cancelled_by}>", inline=True
        )
    for name, value in view.details:
        # The prompt is the member's words: a field of its own, full width, shown literally.
        embed.add_field(
            name=gettext(locale, name), value=shown(value, FIELD_LIMIT), inline=name != "Prompt"
        )
    if picture is not None:
        embed.set_image(url=f"attachment://{picture}")
    return embed
