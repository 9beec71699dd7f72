"""The buttons on result and status messages, as persistent `DynamicItem`s.

A button's custom_id says everything a click needs (`song:rewrite:12:2`, `song:again:12`,
`song:delete:12`, `song:cancel:12`); discord.py rebuilds the item from it
(`from_custom_id`), so a click works after a restart, or months later, with nothing kept in
memory. The items only read the click and hand it to the bot's `ButtonActions`
(`SingingBot.button_actions`, a `bot.discord.songs.clicks.ButtonHandlers`), which call the
Discord-free services in `bot.core.songs.actions`.

discord.py only logs what a DynamicItem's callback raises (the member would see "This
interaction failed"), so every callback goes through `_run`, which hands errors to the one
error boundary, `bot.discord.tree.report_error`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Protocol, Self

import discord

from bot.core.i18n import gettext
from bot.core.models import Task, TaskStatus
from bot.discord.tree import RESTARTING, report_error, send_ephemeral

# Task ids are SQLite rowids; 18 digits is far more than a bot will ever make.
_TASK = r"(?P<task>[0-9]{1,18})"


class ButtonActions(Protocol):
    """What the buttons ask for (implemented by `bot.discord.songs.clicks.ButtonHandlers`)."""

    async def rewrite(self, interaction: discord.Interaction, task_id: int, take: int) -> None: ...

    async def again(self, interaction: discord.Interaction, task_id: int) -> None: ...

    async def delete(self, interaction: discord.Interaction, task_id: int) -> None: ...

    async def cancel(self, interaction: discord.Interaction, task_id: int) -> None: ...


async def _run(
    interaction: discord.Interaction, act: Callable[[ButtonActions], Awaitable[None]]
) -> None:
    try:
        stopping = getattr(interaction.client, "stopping", None)
        if isinstance(stopping, asyncio.Event) and stopping.is_set():
            await send_ephemeral(interaction, gettext(interaction.locale, RESTARTING))
            return
        actions: ButtonActions | None = getattr(interaction.client, "button_actions", None)
        if actions is None:
            raise RuntimeError("no ButtonActions attached to the bot")
        await act(actions)
    except Exception as error:
        await report_error(interaction, error)


def _button(label: str, custom_id: str, style: discord.ButtonStyle) -> discord.ui.Button[Any]:
    return discord.ui.Button(label=label, custom_id=custom_id, style=style)


class RewriteButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"song:rewrite:{_TASK}:(?P<take>[1-9])",
):
    def __init__(self, task_id: int, take: int, *, label: str = "Rewrite") -> None:
        super().__init__(
            _button(label, f"song:rewrite:{task_id}:{take}", discord.ButtonStyle.primary)
        )
        self.task_id, self.take = task_id, take

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> RewriteButton:
        label = getattr(item, "label", None) or "Rewrite"
        return cls(int(match["task"]), int(match["take"]), label=label)

    async def callback(self, interaction: discord.Interaction) -> None:
        await _run(interaction, lambda a: a.rewrite(interaction, self.task_id, self.take))


class _TaskButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"(?!)"):
    """A button acting on one task, with the custom_id `song:<ACTION>:<task>`. Subclasses
    give their own template (this one matches nothing), label, style and action."""

    ACTION: ClassVar[str]
    LABEL: ClassVar[str]
    STYLE: ClassVar[discord.ButtonStyle] = discord.ButtonStyle.secondary

    def __init__(self, task_id: int) -> None:
        super().__init__(_button(self.LABEL, f"song:{self.ACTION}:{task_id}", self.STYLE))
        self.task_id = task_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls(int(match["task"]))

    def act(self, actions: ButtonActions, interaction: discord.Interaction) -> Awaitable[None]:
        raise NotImplementedError

    async def callback(self, interaction: discord.Interaction) -> None:
        await _run(interaction, lambda actions: self.act(actions, interaction))


class AgainButton(_TaskButton, template=rf"song:again:{_TASK}"):
    ACTION, LABEL = "again", "Again"

    def act(self, actions: ButtonActions, interaction: discord.Interaction) -> Awaitable[None]:
        return actions.again(interaction, self.task_id)


class DeleteButton(_TaskButton, template=rf"song:delete:{_TASK}"):
    ACTION, LABEL, STYLE = "delete", "Delete", discord.ButtonStyle.danger

    def act(self, actions: ButtonActions, interaction: discord.Interaction) -> Awaitable[None]:
        return actions.delete(interaction, self.task_id)


class CancelButton(_TaskButton, template=rf"song:cancel:{_TASK}"):
    ACTION, LABEL = "cancel", "Cancel"

    def act(self, actions: ButtonActions, interaction: discord.Interaction) -> Awaitable[None]:
        return actions.cancel(interaction, self.task_id)


DYNAMIC_ITEMS = (RewriteButton, AgainButton, DeleteButton, CancelButton)


def result_buttons(task: Task) -> discord.ui.View:
    """Rewrite (one per take, numbered when there are two or more), Again, Delete."""
    view = discord.ui.View(timeout=None)
    takes = len(task.outputs)
    for take in range(1, min(takes, 9) + 1):
        view.add_item(
            RewriteButton(task.id, take, label="Rewrite" if takes == 1 else f"Rewrite {take}")
        )
    view.add_item(AgainButton(task.id))
    view.add_item(DeleteButton(task.id))
    return view


def status_buttons(task: Task) -> discord.ui.View | None:
    """Cancel while the task waits in the bot's own queue; nothing once MusicGPT has it."""
    if task.status is not TaskStatus.QUEUED:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(task.id))
    return view
