"""The buttons on result and status messages, as persistent `DynamicItem`s.

A button's custom_id says everything a click needs (`song:rewrite:12:2`, `song:extend:12:2`,
`song:vote:12:2`, `song:again:12`, `song:delete:12`, `song:cancel:12`, `song:tryagain:12`,
`song:changes:12`, `song:lyrics:12`, and `song:retry:<key>` for a refusal's Edit and retry,
whose form waits in the door under that short key); discord.py rebuilds the item from it
(`from_custom_id`), so a click works after a restart, or months later, with nothing kept in
memory. The items only read the click and hand it to the bot's `ButtonActions`
(`SingingBot.button_actions`, a `bot.discord.songs.clicks.ButtonHandlers`), which call the
Discord-free services in `bot.core.songs.actions`.

A label is in the language of whoever reads the message: a result's and a status's in the
server's (`SingingBot.public_locale`), a private answer's in the member's. English labels are
exactly as written (the acceptance suite clicks by them); the custom_ids never change with
the language, so a button drawn in Spanish routes after a restart like one drawn in English.

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

from bot.core.i18n import N_, LocaleLike, gettext
from bot.core.models import Task, TaskStatus
from bot.core.songs.votes import Tally, vote_buttons
from bot.discord.tree import RESTARTING, report_error, send_ephemeral

# Task ids are SQLite rowids; 18 digits is far more than a bot will ever make.
_TASK = r"(?P<task>[0-9]{1,18})"


class ButtonActions(Protocol):
    """What the buttons ask for (implemented by `bot.discord.songs.clicks.ButtonHandlers`)."""

    async def rewrite(self, interaction: discord.Interaction, task_id: int, take: int) -> None: ...

    async def extend(self, interaction: discord.Interaction, task_id: int, take: int) -> None: ...

    async def again(self, interaction: discord.Interaction, task_id: int) -> None: ...

    async def delete(self, interaction: discord.Interaction, task_id: int) -> None: ...

    async def cancel(self, interaction: discord.Interaction, task_id: int) -> None: ...

    async def try_again(self, interaction: discord.Interaction, task_id: int) -> None: ...

    async def again_with_changes(self, interaction: discord.Interaction, task_id: int) -> None: ...

    async def lyrics(self, interaction: discord.Interaction, task_id: int) -> None: ...

    async def edit_and_retry(self, interaction: discord.Interaction, key: str) -> None: ...

    async def vote(self, interaction: discord.Interaction, task_id: int, take: int) -> None: ...


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


# A result's rows (Discord allows five; a result keeps to three, so it stays readable):
TAKE_ROW = 0  # per take: Rewrite 1, Rewrite 2, Extend 1, Extend 2
VOTE_ROW = 1  # the 👍 buttons, one per take (`vote_row`)
SONG_ROW = 2  # the song as a whole: Again, Again with changes, Lyrics, Delete


LABEL_LIMIT = 80  # Discord's, per button label; ours are a word or two in every language


def _button(
    label: str, custom_id: str, style: discord.ButtonStyle, row: int | None = None
) -> discord.ui.Button[Any]:
    return discord.ui.Button(label=label[:LABEL_LIMIT], custom_id=custom_id, style=style, row=row)


class _SongButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"(?!)"):
    """A button on a song's messages. Subclasses give their own template (this one matches
    nothing), label, `rebuilt` (the button again from its custom_id, after a restart too)
    and `act`: what a click asks of the bot's `ButtonActions`."""

    LABEL: ClassVar[str]  # English, marked for the catalogs (N_)

    @classmethod
    def label_in(cls, locale: LocaleLike) -> str:
        """The button's label in the locale's language (English exactly as `LABEL`)."""
        return gettext(locale, cls.LABEL)

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls.rebuilt(match, getattr(item, "label", None))

    @classmethod
    def rebuilt(cls, match: re.Match[str], label: str | None) -> Self:
        """The button a custom_id names (`match`: the template's groups), with the label
        the click arrived with (in whatever language it was drawn)."""
        raise NotImplementedError

    def act(self, actions: ButtonActions, interaction: discord.Interaction) -> Awaitable[None]:
        raise NotImplementedError

    async def callback(self, interaction: discord.Interaction) -> None:
        await _run(interaction, lambda actions: self.act(actions, interaction))


class _TakeButton(_SongButton, template=r"(?!)"):
    """A button acting on one take of a task, with the custom_id `song:<ACTION>:<task>:<take>`.
    Subclasses give their own template (this one matches nothing), label, row and action; the
    label a click arrives with is kept (`Extend 2`, `👍 3`)."""

    ACTION: ClassVar[str]
    ROW: ClassVar[int] = TAKE_ROW
    NUMBERED: ClassVar[str] = ""  # the label with the take's number, when a song has two

    def __init__(
        self,
        task_id: int,
        take: int,
        *,
        label: str | None = None,
        style: discord.ButtonStyle = discord.ButtonStyle.primary,
    ) -> None:
        custom_id = f"song:{self.ACTION}:{task_id}:{take}"
        label = self.LABEL if label is None else label
        super().__init__(_button(label, custom_id, style, self.ROW))
        self.task_id, self.take = task_id, take

    @classmethod
    def rebuilt(cls, match: re.Match[str], label: str | None) -> Self:
        return cls(int(match["task"]), int(match["take"]), label=label or cls.LABEL)


class RewriteButton(_TakeButton, template=rf"song:rewrite:{_TASK}:(?P<take>[1-9])"):
    ACTION, LABEL, NUMBERED = "rewrite", N_("Rewrite"), N_("Rewrite {take}")

    def act(self, actions: ButtonActions, interaction: discord.Interaction) -> Awaitable[None]:
        return actions.rewrite(interaction, self.task_id, self.take)


class ExtendButton(_TakeButton, template=rf"song:extend:{_TASK}:(?P<take>[1-9])"):
    """Extend one take: the song goes on from a point in it (a form asks where)."""

    ACTION, LABEL, NUMBERED = "extend", N_("Extend"), N_("Extend {take}")

    def act(self, actions: ButtonActions, interaction: discord.Interaction) -> Awaitable[None]:
        return actions.extend(interaction, self.task_id, self.take)


class _TaskButton(_SongButton, template=r"(?!)"):
    """A button acting on one task, with the custom_id `song:<ACTION>:<task>`. Subclasses
    give their own template (this one matches nothing), label, style and action."""

    ACTION: ClassVar[str]
    STYLE: ClassVar[discord.ButtonStyle] = discord.ButtonStyle.secondary
    ROW: ClassVar[int | None] = None

    def __init__(self, task_id: int, *, label: str | None = None) -> None:
        custom_id = f"song:{self.ACTION}:{task_id}"
        label = self.LABEL if label is None else label
        super().__init__(_button(label, custom_id, self.STYLE, self.ROW))
        self.task_id = task_id

    @classmethod
    def in_(cls, task_id: int, locale: LocaleLike) -> Self:
        """The button for `task_id`, labelled in the locale's language."""
        return cls(task_id, label=cls.label_in(locale))

    @classmethod
    def rebuilt(cls, match: re.Match[str], label: str | None) -> Self:
        return cls(int(match["task"]), label=label or cls.LABEL)


class AgainButton(_TaskButton, template=rf"song:again:{_TASK}"):
    ACTION, LABEL, ROW = "again", N_("Again"), SONG_ROW

    def act(self, actions: ButtonActions, interaction: discord.Interaction) -> Awaitable[None]:
        return actions.again(interaction, self.task_id)


class DeleteButton(_TaskButton, template=rf"song:delete:{_TASK}"):
    ACTION, LABEL, STYLE, ROW = "delete", N_("Delete"), discord.ButtonStyle.danger, SONG_ROW

    def act(self, actions: ButtonActions, interaction: discord.Interaction) -> Awaitable[None]:
        return actions.delete(interaction, self.task_id)


class CancelButton(_TaskButton, template=rf"song:cancel:{_TASK}"):
    ACTION, LABEL = "cancel", N_("Cancel")

    def act(self, actions: ButtonActions, interaction: discord.Interaction) -> Awaitable[None]:
        return actions.cancel(interaction, self.task_id)


MAX_VOTE_BUTTONS = 5  # one row's worth


class VoteButton(_TakeButton, template=rf"song:vote:{_TASK}:(?P<take>[1-9])"):
    """👍 for one take (`bot.core.songs.votes`): a click toggles the clicker's vote. The
    label carries the count, and the leading take's button is green."""

    ACTION, LABEL, ROW = "vote", "👍", VOTE_ROW

    def __init__(
        self, task_id: int, take: int, *, label: str = "👍", leading: bool = False
    ) -> None:
        style = discord.ButtonStyle.success if leading else discord.ButtonStyle.secondary
        super().__init__(task_id, take, label=label, style=style)

    def act(self, actions: ButtonActions, interaction: discord.Interaction) -> Awaitable[None]:
        return actions.vote(interaction, self.task_id, self.take)


class TryAgainButton(_TaskButton, template=rf"song:tryagain:{_TASK}"):
    """On a failed song's status: the same inputs once more, charged to the clicker."""

    ACTION, LABEL, STYLE = "tryagain", N_("Try again"), discord.ButtonStyle.primary

    def act(self, actions: ButtonActions, interaction: discord.Interaction) -> Awaitable[None]:
        return actions.try_again(interaction, self.task_id)


class AgainWithChangesButton(_TaskButton, template=rf"song:changes:{_TASK}"):
    """A form prefilled with the song's style, lyrics and voice; its submit is an Again."""

    ACTION, LABEL, ROW = "changes", N_("Again with changes"), SONG_ROW

    def act(self, actions: ButtonActions, interaction: discord.Interaction) -> Awaitable[None]:
        return actions.again_with_changes(interaction, self.task_id)


class LyricsButton(_TaskButton, template=rf"song:lyrics:{_TASK}"):
    """What was sung, privately, to anyone who asks."""

    ACTION, LABEL, ROW = "lyrics", N_("Lyrics"), SONG_ROW

    def act(self, actions: ButtonActions, interaction: discord.Interaction) -> Awaitable[None]:
        return actions.lyrics(interaction, self.task_id)


class EditAndRetryButton(_SongButton, template=r"song:retry:(?P<key>[0-9a-f]{8,32})"):
    """On a private refusal after a form: the form again, with what was typed. The key names
    the refused form in the door (`SongDoor.retry`); it lives in memory, so after a restart
    or its expiry the click says so."""

    LABEL = N_("Edit and retry")

    def __init__(self, key: str, *, label: str | None = None) -> None:
        label = self.LABEL if label is None else label
        super().__init__(_button(label, f"song:retry:{key}", discord.ButtonStyle.primary))
        self.key = key

    @classmethod
    def rebuilt(cls, match: re.Match[str], label: str | None) -> Self:
        return cls(match["key"], label=label or cls.LABEL)

    def act(self, actions: ButtonActions, interaction: discord.Interaction) -> Awaitable[None]:
        return actions.edit_and_retry(interaction, self.key)


DYNAMIC_ITEMS = (
    RewriteButton,
    ExtendButton,
    AgainButton,
    DeleteButton,
    CancelButton,
    TryAgainButton,
    AgainWithChangesButton,
    LyricsButton,
    EditAndRetryButton,
    VoteButton,
)

Row = list[discord.ui.Item[Any]]


# MusicGPT makes one or two takes; two per-take actions for each fill four of the row's five.
MAX_TAKE_BUTTONS = 2


def take_label(button: type[_TakeButton], take: int, takes: int, locale: LocaleLike = None) -> str:
    """A per-take button's label: `Extend` with one take, `Extend 2` with two or more (one
    whole label per language, so the number goes where the language puts it)."""
    if takes == 1:
        return button.label_in(locale)
    return gettext(locale, button.NUMBERED, take=take)


def take_buttons(task: Task, locale: LocaleLike = None) -> Row:
    """Row 1, per take: Rewrite, then Extend (numbered when there are two takes)."""
    takes = len(task.outputs)
    numbers = range(1, min(takes, MAX_TAKE_BUTTONS) + 1)
    row: Row = [
        RewriteButton(task.id, take, label=take_label(RewriteButton, take, takes, locale))
        for take in numbers
    ]
    row += [
        ExtendButton(task.id, take, label=take_label(ExtendButton, take, takes, locale))
        for take in numbers
    ]
    return row


def vote_row(task: Task, tally: Tally | None = None, locale: LocaleLike = None) -> Row:
    """Row 2, the 👍 buttons, one per take: labelled with the count (and the take's number
    when there are two), the leader's green; no votes yet when `tally` is left out."""
    tally = tally or Tally.of({}, len(task.outputs))
    return [
        VoteButton(task.id, b.take, label=b.label, leading=b.leading)
        for b in vote_buttons(tally, locale)[:MAX_VOTE_BUTTONS]
    ]


def song_buttons(task: Task, locale: LocaleLike = None) -> Row:
    """Row 3, the song as a whole."""
    return [
        AgainButton.in_(task.id, locale),
        AgainWithChangesButton.in_(task.id, locale),
        LyricsButton.in_(task.id, locale),
        DeleteButton.in_(task.id, locale),
    ]


def result_rows(
    task: Task, tally: Tally | None = None, locale: LocaleLike = None
) -> tuple[tuple[int, Row], ...]:
    """A result's rows, top to bottom: a new button joins one of these builders (at most five
    buttons a row), and a new row is a builder here (at most three, to stay readable)."""
    return (
        (TAKE_ROW, take_buttons(task, locale)),
        (VOTE_ROW, vote_row(task, tally, locale)),
        (SONG_ROW, song_buttons(task, locale)),
    )


def result_buttons(
    task: Task, tally: Tally | None = None, locale: LocaleLike = None
) -> discord.ui.View:
    """A result's buttons in rows: per take, votes (with `tally`'s counts), the song; labelled
    in `locale`'s language (the server's: a result is public)."""
    view = discord.ui.View(timeout=None)
    for row, items in result_rows(task, tally, locale):
        for item in items:
            item.row = row
            view.add_item(item)
    return view


def status_buttons(task: Task, locale: LocaleLike = None) -> discord.ui.View | None:
    """Cancel while the task waits in the bot's own queue, Try again once it failed;
    nothing while MusicGPT has it or after. `locale`: the server's (a status is public)."""
    if task.status is TaskStatus.QUEUED:
        item: discord.ui.Item[Any] = CancelButton.in_(task.id, locale)
    elif task.status is TaskStatus.FAILED:
        item = TryAgainButton.in_(task.id, locale)
    else:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(item)
    return view


def retry_buttons(key: str, locale: LocaleLike = None) -> discord.ui.View:
    """A refusal's Edit and retry, in the member's language (`locale`: the refusal is theirs)."""
    view = discord.ui.View(timeout=None)
    view.add_item(EditAndRetryButton(key, label=EditAndRetryButton.label_in(locale)))
    return view
