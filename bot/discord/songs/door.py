"""One door for every song, on Discord's side: /sing, /inpaint, the Rewrite and Again
buttons, and the message menus all come in here.

    command, button or menu ─► `SongDoor.precheck` / `begin` (quota, budget, known range;
                               the audio) ─► `SongDoor.open(form)`
    form submit (`SongForm.on_submit`: read, check, defer) ─► `SongDoor.send`:
        `Intake.submit` (the one entry, the one "a form is sent once" rule) ─► `confirm`

A command only says what its form asks for (a `SongRequest` of its kind). A new kind of song
is an option list, a form, and a `SongRequest` of its kind (/extend and the Extend button
are).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord

from bot.core.errors import UserFacingError
from bot.core.i18n import N_, LocaleLike, gettext
from bot.core.i18n.said import said
from bot.core.models import Request, Task, TaskKind, TaskStatus
from bot.core.servers.threads import wants_thread
from bot.core.songs.forms import (
    AttachmentRef,
    FormState,
    InpaintRange,
    Origin,
    PendingAudio,
    SongRequest,
)
from bot.core.songs.progress import failure_text, song_ref
from bot.discord.options import role_ids_of
from bot.discord.songs.threads import thread_link
from bot.discord.tree import user_message_for
from bot.discord.ui.buttons import CancelButton, retry_buttons
from bot.discord.ui.modals import OPEN_MODALS, SongForm, Values

if TYPE_CHECKING:
    from bot.discord.bot import SingingBot

log = logging.getLogger(__name__)

# The form's private answer follows its song until MusicGPT has it (or it ended), at most
# this long: the interaction's token lasts 15 minutes.
ANSWER_FOLLOW_SECONDS = 14 * 60
# How long a refused form waits for its Edit and retry (within the form's own 15 minutes).
RETRY_SECONDS = 14 * 60
RETRY_EXPIRED = N_(
    "That form has expired (or I restarted), so I no longer have what you typed. Please "
    "start again; nothing was charged."
)
CANCELLED_ANSWER = N_("🚫 {song} was cancelled before it went to MusicGPT; nothing was charged.")
RETRY_NOT_YOURS = N_("Only the member who filled in that form can edit and retry it.")


@dataclass(eq=False)
class _Answer:
    """A form's private answer, edited as its song changes."""

    interaction: discord.Interaction
    shown: str
    until: float
    editing: asyncio.Task[None] | None = None
    latest: tuple[str, bool] | None = None  # the text to show next, and whether with Cancel


@dataclass(eq=False)
class _Refused:
    """A refused form kept for its Edit and retry."""

    user_id: int
    form: SongForm
    values: Values
    expiry: asyncio.TimerHandle | None = None


THREAD_TYPES = (
    discord.ChannelType.public_thread,
    discord.ChannelType.private_thread,
    discord.ChannelType.news_thread,
)


class SongDoor:
    """`SingingBot.door`."""

    def __init__(self, bot: SingingBot) -> None:
        self.bot = bot
        self._answers: dict[int, _Answer] = {}  # by task id
        self._refused: dict[str, _Refused] = {}  # by the Edit and retry button's key

    async def precheck(
        self, interaction: discord.Interaction, *, span: InpaintRange | None = None
    ) -> None:
        """Before a form opens (or a button's song starts): the clicker's quota with their
        roles here, the server's budget, and the range when it is already known."""
        await self.bot.intake.precheck(
            interaction.user.id,
            guild_id=interaction.guild_id,
            role_ids=role_ids_of(interaction),
            span=span,
        )

    async def begin(
        self,
        interaction: discord.Interaction,
        kind: TaskKind,
        *,
        attachment: AttachmentRef | None,
        audio_url: str | None,
        span: InpaintRange | None = None,
        after: float | None = None,
    ) -> PendingAudio:
        """The pre-check and the audio of a form whose file is known now (its download
        starts at once); the member's older form for this command goes. `after`: an
        extend's point as typed."""
        return await self.bot.intake.begin(
            interaction.user.id,
            kind=kind,
            attachment=attachment,
            audio_url=audio_url,
            guild_id=interaction.guild_id,
            role_ids=role_ids_of(interaction),
            span=span,
            after=after,
        )

    async def open(self, interaction: discord.Interaction, form: SongForm) -> None:
        """Show the form; its audio goes if it never reaches the member. A refusal of what
        was typed in it comes with Edit and retry (`refused`)."""
        form.on_refused = self.refused
        form.pending.retryable = True
        form.localize(interaction.locale)  # its words in the member's language
        try:
            await interaction.response.send_modal(form)
        except BaseException:
            form.abandon()
            raise

    # --- Edit and retry ----------------------------------------------------------------

    async def refused(
        self, interaction: discord.Interaction, form: SongForm, values: Values, error: Exception
    ) -> None:
        """Answer a refused form privately, with Edit and retry: the form kept (with its
        audio) under a short key until the retry is sent, or for RETRY_SECONDS."""
        for older, kept in list(self._refused.items()):  # refused again: the newest key
            if kept.form is form:  # alone holds the form (an older expiry can't end it)
                del self._refused[older]
                if kept.expiry is not None:
                    kept.expiry.cancel()
        key = secrets.token_hex(4)
        held = _Refused(interaction.user.id, form, values)
        held.expiry = asyncio.get_running_loop().call_later(RETRY_SECONDS, self._expire, key)
        self._refused[key] = held
        text = user_message_for(error, interaction.locale) or str(error)
        nobody = discord.AllowedMentions.none()
        view = retry_buttons(key, interaction.locale)
        if interaction.response.is_done():
            await interaction.followup.send(
                text, view=view, ephemeral=True, allowed_mentions=nobody
            )
        else:
            await interaction.response.send_message(
                text, view=view, ephemeral=True, allowed_mentions=nobody
            )

    def _expire(self, key: str) -> None:
        held = self._refused.pop(key, None)
        if held is not None and held.form.pending.state is not FormState.OPEN:
            held.form.pending.release()  # a reopened form's own timeout ends its audio

    async def retry(self, interaction: discord.Interaction, key: str) -> None:
        """Edit and retry: the same form again, with what was typed."""
        held = self._refused.get(key)
        if held is None:
            raise UserFacingError(said(RETRY_EXPIRED))
        if held.user_id != interaction.user.id:
            raise UserFacingError(said(RETRY_NOT_YOURS))
        form, pending = held.form, held.form.pending
        if pending.state is not FormState.OPEN and not pending.held:
            raise UserFacingError(said(RETRY_EXPIRED))  # sent meanwhile, or its audio is gone
        pending.reopen()
        form.for_retry(held.values)
        OPEN_MODALS.add(form.custom_id)
        await interaction.response.send_modal(form)

    async def send(
        self,
        interaction: discord.Interaction,
        song: SongRequest | Request,
        pending: PendingAudio,
        *,
        thread: bool | None = None,
        fetch: AttachmentRef | None = None,
    ) -> None:
        """Queue the song (`Intake.submit`) and answer privately. A `SongRequest` is asked
        from where the interaction is (`thread`: the command's option); a `Request` (Rewrite,
        Again) says where itself. `fetch`: a file to download into the form now."""
        if isinstance(song, SongRequest):
            song = song.request(await self.origin(interaction, thread=thread), pending)
        task = await self.bot.intake.submit(
            song, pending, role_ids=role_ids_of(interaction), fetch=fetch
        )
        await self.confirm(interaction, task)

    async def origin(self, interaction: discord.Interaction, *, thread: bool | None) -> Origin:
        """Who asked and where: the interaction's own channel (a thread, for a command or
        button used inside one), the member's roles, and whether the song gets a thread of
        its own (the server's threads mode with `thread`, the option)."""
        in_thread = getattr(interaction.channel, "type", None) in THREAD_TYPES
        settings = await self.bot.guild_settings.get(interaction.guild_id)
        return Origin(
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or 0,
            upload_limit=interaction.filesize_limit,
            thread_wanted=wants_thread(thread, in_thread=in_thread, settings=settings),
            role_ids=role_ids_of(interaction),
        )

    async def confirm(self, interaction: discord.Interaction, task: Task) -> None:
        """Post the status message, then answer privately at once: in line (with Cancel),
        sent, refused or cancelled; the answer is then edited as the song changes
        (`changed`), until MusicGPT has it or ANSWER_FOLLOW_SECONDS."""
        await self.bot.status_renderer.render_now(task.id)
        try:  # started from the status message just posted, so the answer can link it
            await self.bot.thread_opener.settle(task)
        except Exception:
            # Best effort here: the sweep and the poster try again; the answer still goes.
            log.exception("couldn't open the thread of task %s", task.id)
        now = await self.bot.store.get_task(task.id) or task
        queued = now.status is TaskStatus.QUEUED
        position = await self.bot.store.queue_position(task.id) if queued else 0
        text, cancel = answer_text(now, position, interaction.locale)
        await interaction.followup.send(
            text,
            view=_answer_view(now.id, cancel, interaction.locale),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        if not answer_settled(now):
            until = time.monotonic() + ANSWER_FOLLOW_SECONDS
            self._answers[task.id] = _Answer(interaction, text, until)
            self.bot.tracker.events.publish(task.id)  # anything missed meanwhile: once more

    def changed(self, task: Task, position: int) -> None:
        """A task's status was drawn (`StatusRenderer`): its private answer follows."""
        answer = self._answers.get(task.id)
        if answer is None:
            return
        if answer_settled(task) or time.monotonic() > answer.until:
            self._answers.pop(task.id, None)
        text, cancel = answer_text(task, position, answer.interaction.locale)
        if text == answer.shown and answer.latest is None:
            return
        answer.latest = (text, cancel)
        if answer.editing is None or answer.editing.done():
            answer.editing = asyncio.create_task(self._edit(task.id, answer))

    async def _edit(self, task_id: int, answer: _Answer) -> None:
        while answer.latest is not None:
            (text, cancel), answer.latest = answer.latest, None
            if text == answer.shown:
                continue
            try:
                await answer.interaction.edit_original_response(
                    content=text,
                    view=_answer_view(task_id, cancel, answer.interaction.locale),
                    allowed_mentions=discord.AllowedMentions.none(),
                )
                answer.shown = text
            except discord.HTTPException:
                log.info("couldn't edit the private answer of task %s", task_id)
                self._answers.pop(task_id, None)
                return


def _answer_view(task_id: int, cancel: bool, locale: LocaleLike = None) -> discord.ui.View:
    """The private answer's Cancel, in the member's language (the answer is theirs)."""
    view = discord.ui.View(timeout=None)
    if cancel:
        view.add_item(CancelButton.in_(task_id, locale))
    return view


def answer_settled(task: Task) -> bool:
    """The private answer says all it will: MusicGPT accepted the song, or it ended (a
    song being sent may still be refused at once, which the answer then says)."""
    return task.status not in (TaskStatus.QUEUED, TaskStatus.SUBMITTING)


def answer_text(task: Task, position: int, locale: LocaleLike = None) -> tuple[str, bool]:
    """The form's private answer for the task as it is now, in the member's language, and
    whether it offers Cancel."""
    song = song_ref(task.id, locale).capitalize()
    where = follow(task, locale)
    match task.status:
        case TaskStatus.QUEUED if position:
            text = gettext(
                locale,
                "Got it! {song} is #{position} in line for MusicGPT. {follow}",
                song=song,
                position=position,
                follow=where,
            )
            return text, True
        case TaskStatus.QUEUED:
            text = gettext(
                locale, "Got it! {song} is in line for MusicGPT. {follow}", song=song, follow=where
            )
            return text, True
        case TaskStatus.SUBMITTING | TaskStatus.SUBMITTED:
            text = gettext(
                locale, "Got it! {song} is with MusicGPT. {follow}", song=song, follow=where
            )
            return text, False
        case TaskStatus.FAILED:
            return f"❌ {failure_text(task, locale)}", False
        case TaskStatus.CANCELLED:
            return gettext(locale, CANCELLED_ANSWER, song=song), False
    return gettext(locale, "✅ {song} is done. {follow}", song=song, follow=where), False


def status_link(task: Task, locale: LocaleLike = None) -> str:
    if task.status_message_id is None:
        return gettext(locale, "in this channel")
    guild = task.guild_id or "@me"
    return f"https://discord.com/channels/{guild}/{task.channel_id}/{task.status_message_id}"


def follow(task: Task, locale: LocaleLike = None) -> str:
    """Where the member follows the song: its thread when it has one, else its status."""
    if link := thread_link(task):
        return gettext(locale, "Follow it in its thread: {link}", link=link)
    return gettext(locale, "Follow it here: {link}", link=status_link(task, locale))
