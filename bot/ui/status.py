"""The status message's embed, from the plain-text view `bot.progress` computes."""

from __future__ import annotations

import discord

from bot.progress import StatusView

COLOURS = {"working": 0x5865F2, "finished": 0x57F287, "failed": 0xED4245}


def status_embed(view: StatusView) -> discord.Embed:
    colour = COLOURS["failed" if view.failed else "finished" if view.finished else "working"]
    description = view.stage if view.progress is None else f"{view.stage}\n`{view.progress}`"
    embed = discord.Embed(title=view.title, description=description, colour=colour)
    for name, value in view.details:
        embed.add_field(name=name, value=value[:1024], inline=name != "Prompt")
    return embed
