"""/queue's menu for members who may manage messages: cancel a waiting song of anyone's.

A plain (not persistent) view on the private /queue answer: it lives as long as that answer
is useful (10 minutes), and its choice goes through the same Cancel as the song's own button
(`ButtonActions.cancel`: who may, the refund, the requester told), errors to the one boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import discord

from bot.core.i18n import N_, LocaleLike, gettext
from bot.core.songs.queue import QueueEntry, kind_word
from bot.discord.tree import report_error
from bot.discord.ui.buttons import ButtonActions

MENU_TIMEOUT = 600.0
OPTIONS_MAX = 25  # Discord's per select menu
PLACEHOLDER = N_("Cancel a waiting song…")


class CancelMenu(discord.ui.View):
    def __init__(
        self, entries: Sequence[QueueEntry], names: dict[int, str], locale: LocaleLike = None
    ) -> None:
        super().__init__(timeout=MENU_TIMEOUT)
        options = [
            discord.SelectOption(
                label=gettext(
                    locale,
                    "#{number} · {kind} · #{place} in line",
                    number=e.task.id,
                    kind=kind_word(e.task),
                    place=e.position,
                )[:100],
                description=gettext(
                    locale, "asked by {name}", name=names.get(e.task.user_id, e.task.user_id)
                )[:100],
                value=str(e.task.id),
            )
            for e in entries
            if e.waiting
        ][:OPTIONS_MAX]
        select: discord.ui.Select[CancelMenu] = discord.ui.Select(
            placeholder=gettext(locale, PLACEHOLDER), options=options, min_values=1, max_values=1
        )
        select.callback = self._chosen  # type: ignore[method-assign]
        self.select = select
        self.add_item(select)

    async def _chosen(self, interaction: discord.Interaction) -> None:
        actions: ButtonActions = interaction.client.button_actions  # type: ignore[attr-defined]
        await actions.cancel(interaction, int(self.select.values[0]))  # errors: on_error

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await report_error(interaction, error)


def cancel_menu(
    entries: Sequence[QueueEntry], names: dict[int, str], locale: LocaleLike = None
) -> CancelMenu | None:
    """The menu when any song is waiting, in the member's language; None otherwise."""
    return CancelMenu(entries, names, locale) if any(e.waiting for e in entries) else None
