"""The forms that follow /sing, /inpaint and /extend, the Rewrite and Extend buttons and the
message menus ("Sing over this", "Rewrite part of this"), as small modal classes.

They share one base, `SongForm`, whose submit is the same for every song: read, check,
defer, send (`bot.discord.songs.door`). A new kind of song is a subclass with its inputs.

A form knows whether it is still open in this process: a submit for a form opened before a
restart (or timed out) would be dropped silently by discord.py, so the bot answers it. A form
stays registered until its timeout, also once submitted, so that a repeat submit reaches the
intake, which answers it ("You already sent this form: song #12.").
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import discord

from bot.core.errors import UserFacingError
from bot.core.i18n import N_, LocaleLike, gettext
from bot.core.songs.forms import FormState, PendingAudio
from bot.core.songs.intake import LYRICS_MAX, PROMPT_MAX
from bot.discord.tree import report_error
from bot.discord.ui import form_words

MODAL_TIMEOUT = 15 * 60  # as long as the interaction token lives
TITLE_MAX = form_words.TITLE_MAX
MODAL_PREFIX = "lyrics-form:"
REWRITE_PREFIX = "rewrite-form:"
EXTEND_PREFIX = "extend-form:"
MENU_PREFIX = "menu-form:"  # the forms of the message context menus
# Forms open in this process, by custom_id.
OPEN_MODALS: set[str] = set()
LYRICS_EXPIRED = N_(
    "That lyrics form has expired (I may have restarted). Please run the command again; "
    "nothing was charged."
)
REWRITE_EXPIRED = N_(
    "That Rewrite form has expired (I may have restarted). Click Rewrite again; nothing was "
    "charged."
)
EXTEND_EXPIRED = N_(
    "That Extend form has expired (I may have restarted). Click Extend again; nothing was charged."
)
MENU_EXPIRED = N_(
    "That form has expired (I may have restarted). Open the message's Apps menu again; "
    "nothing was charged."
)
VOICES = ("male", "female", "neutral")
VOICE_NAMES = {"male": N_("Male"), "female": N_("Female"), "neutral": N_("Neutral")}


def stale_modal_message(interaction: discord.Interaction) -> str | None:
    """What to say to the submit of a form this process doesn't have open, or None."""
    if interaction.type is not discord.InteractionType.modal_submit or not interaction.data:
        return None
    custom_id = str(interaction.data.get("custom_id", ""))
    if custom_id in OPEN_MODALS:
        return None
    for prefix, expired in (
        (MODAL_PREFIX, LYRICS_EXPIRED),
        (REWRITE_PREFIX, REWRITE_EXPIRED),
        (EXTEND_PREFIX, EXTEND_EXPIRED),
        (MENU_PREFIX, MENU_EXPIRED),
    ):
        if custom_id.startswith(prefix):
            return gettext(interaction.locale, expired)  # in the member's language
    return None


def _lyrics_input(custom_id: str, *, required: bool, placeholder: str) -> discord.ui.TextInput:
    return discord.ui.TextInput(
        custom_id=custom_id,
        style=discord.TextStyle.paragraph,
        required=required,
        max_length=LYRICS_MAX,
        placeholder=placeholder,
    )


Values = dict[str, str]
# What a form's submit does with what was typed (the song's door), and the check before it.
Send = Callable[[discord.Interaction, Values], Awaitable[None]]
Check = Callable[[Values], object]
# What a form does with a refusal of what was typed (`SongDoor.refused`: the refusal, with
# Edit and retry); None: the one error boundary answers it.
OnRefused = Callable[[discord.Interaction, "SongForm", Values, UserFacingError], Awaitable[None]]


class SongForm(discord.ui.Modal):
    """Every song's form: a unique id, the stale-form check, and the one submit path: read
    what was typed (before any await: a repeat submit refreshes the values), `check` it
    (refusals that close the form: its audio goes), defer, then `send` (the song's door,
    `bot.discord.songs.door.SongDoor.send`, which queues it once and confirms it).

    `values`: each input's and select's custom_id with what was typed or chosen ("" for
    nothing), over the form's `defaults` (what an input left out of the form stands for)."""

    prefix = MODAL_PREFIX

    def __init__(
        self,
        send: Send,
        pending: PendingAudio,
        *,
        check: Check | None = None,
        defaults: Values | None = None,
        shown: Values | None = None,
        locale: LocaleLike = None,
        **modal: Any,
    ) -> None:
        custom_id = f"{self.prefix}{uuid.uuid4().hex}"
        if "title" in modal:
            modal["title"] = modal["title"][:TITLE_MAX]
        super().__init__(timeout=MODAL_TIMEOUT, custom_id=custom_id, **modal)
        OPEN_MODALS.add(custom_id)
        self._send = send
        self._pending = pending
        self._check = check
        self._defaults = defaults or {}
        self.on_refused: OnRefused | None = None  # set by the door that opens it
        self.locale: LocaleLike = None
        if shown:
            self.prefill(shown)
        self.localize(locale)

    def localize(self, locale: LocaleLike) -> None:
        """The form's own words in the member's language (`form_words`)."""
        self.locale = locale
        form_words.localize(self, locale)

    @property
    def values(self) -> Values:
        found = dict(self._defaults)
        for item in self.children:
            if not isinstance(item, discord.ui.Label):
                continue
            component = item.component
            if isinstance(component, discord.ui.TextInput):
                found[component.custom_id] = component.value or ""
            elif isinstance(component, discord.ui.Select):
                found[component.custom_id] = component.values[0] if component.values else ""
        return found

    async def on_submit(self, interaction: discord.Interaction) -> None:
        values = self.values
        if self._check is not None:
            try:  # checked before anything is charged or sent: the answer is the form's own
                self._check(values)
            except UserFacingError as error:
                if self.on_refused is None:
                    self.abandon()  # the form is gone from the member's screen: its file too
                    raise
                # Its audio stays for Edit and retry (this form's timeout still ends it).
                await self.on_refused(interaction, self, values, error)
                return
            except BaseException:
                self.abandon()
                raise
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            await self._send(interaction, values)
        except UserFacingError as error:
            pending = self._pending
            if self.on_refused is None or not (pending.held or pending.state is FormState.OPEN):
                raise
            await self.on_refused(interaction, self, values, error)

    @property
    def pending(self) -> PendingAudio:
        return self._pending

    def prefill(self, values: Values) -> None:
        """Edit and retry: show what was typed (and chosen) last time."""
        for item in self.children:
            component = item.component if isinstance(item, discord.ui.Label) else None
            if isinstance(component, discord.ui.TextInput):
                component.default = values.get(component.custom_id) or None
            elif isinstance(component, discord.ui.Select):
                chosen = values.get(component.custom_id, "")
                for option in component.options:
                    option.default = option.value == chosen

    def for_retry(self, values: Values) -> None:
        """The form as Edit and retry reopens it (prefilled). A form whose command options
        were refused adds inputs for them (`InpaintLyrics`)."""
        self.prefill(values)

    def abandon(self) -> None:
        """The form timed out or never reached the member: its audio goes, unless sent."""
        self._pending.abandon()

    def stop(self) -> None:
        # discord.py stops a modal after its first successful submit, and then drops any
        # further submit of the same custom_id unanswered. A client may well send one (a
        # double click, a retry, a hostile client): the intake answers it, so the form
        # stays registered until its timeout. Nothing else in the bot calls stop().
        return

    async def on_timeout(self) -> None:
        OPEN_MODALS.discard(self.custom_id)
        self.abandon()

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:  # type: ignore[override]
        await report_error(interaction, error)


class SingLyrics(SongForm, title=N_("Lyrics for your song")):
    lyrics: discord.ui.Label[SongForm] = discord.ui.Label(
        text=N_("Lyrics"),
        component=_lyrics_input(
            "lyrics", required=True, placeholder=N_("The words to sing over your instrumental")
        ),
    )


def _whole_song_lyrics_label() -> discord.ui.Label[SongForm]:
    """/inpaint's and Rewrite's optional lyrics of the whole song (MusicGPT's `lyrics`)."""
    return discord.ui.Label(
        text=N_("Lyrics of the whole song"),
        component=_lyrics_input(
            "lyrics", required=False, placeholder=N_("Optional: helps MusicGPT blend in")
        ),
    )


def _new_lyrics_label() -> discord.ui.Label[SongForm]:
    """The optional words for the replaced part (MusicGPT's `lyrics_section_to_replace`)."""
    return discord.ui.Label(
        text=N_("New lyrics for the replaced part"),
        component=_lyrics_input("new_lyrics", required=False, placeholder=N_("Optional")),
    )


class InpaintLyrics(SongForm, title=N_("Lyrics for the new part")):
    """/inpaint's form: the lyrics. Its range and style are the command's options
    (`defaults`); reopened by Edit and retry, it asks for them too, prefilled."""

    lyrics: discord.ui.Label[SongForm] = _whole_song_lyrics_label()
    new_lyrics: discord.ui.Label[SongForm] = _new_lyrics_label()

    def __init__(
        self,
        send: Send,
        pending: PendingAudio,
        *,
        start: str = "",
        end: str = "",
        style: str = "",
        locale: LocaleLike = None,
    ) -> None:
        defaults = {"start": start, "end": end, "style": style}
        super().__init__(send, pending, defaults=defaults, locale=locale)
        self._asks_options = False

    def for_retry(self, values: Values) -> None:
        if not self._asks_options:  # at most five inputs: these three, then both lyrics
            self._asks_options = True
            for label in (self.lyrics, self.new_lyrics):
                self.remove_item(label)
            for label in (*_range_labels(), _style_label(N_("How the new part should sound"))):
                self.add_item(label)
            self.add_item(self.lyrics)
            self.add_item(self.new_lyrics)
            self.localize(self.locale)
        self.prefill(values)


def _short_input(custom_id: str, placeholder: str) -> discord.ui.TextInput:
    return discord.ui.TextInput(
        custom_id=custom_id, style=discord.TextStyle.short, max_length=20, placeholder=placeholder
    )


def _style_label(placeholder: str) -> discord.ui.Label[SongForm]:
    """The required Style input: the prompt MusicGPT gets, within its limit."""
    return discord.ui.Label(
        text=N_("Style"),
        component=discord.ui.TextInput(
            custom_id="style",
            style=discord.TextStyle.paragraph,
            max_length=PROMPT_MAX,
            placeholder=placeholder,
        ),
    )


def _range_labels() -> tuple[discord.ui.Label[SongForm], discord.ui.Label[SongForm]]:
    return (
        discord.ui.Label(
            text=N_("Start"),
            component=_short_input("start", N_("Where the new part starts: 75 or 1:15.5")),
        ),
        discord.ui.Label(
            text=N_("End"), component=_short_input("end", N_("Where it ends, same formats"))
        ),
    )


class RewriteForm(SongForm, title=N_("Rewrite a part")):
    """The Rewrite button's form: the range, the style, and both lyrics fields (prefilled
    with what the parent was asked with, where known)."""

    prefix = REWRITE_PREFIX
    start: discord.ui.Label[SongForm]
    end: discord.ui.Label[SongForm]
    start, end = _range_labels()
    style: discord.ui.Label[SongForm] = _style_label(N_("How the new part should sound"))
    lyrics: discord.ui.Label[SongForm] = _whole_song_lyrics_label()
    new_lyrics: discord.ui.Label[SongForm] = _new_lyrics_label()

    def __init__(
        self,
        send: Send,
        pending: PendingAudio,
        *,
        check: Check | None = None,
        title: str,
        style: str | None,
        lyrics: str | None,
        files: Sequence[FileOption] = (),
        locale: LocaleLike = None,
    ) -> None:
        # "lyrics" is the song's known lyrics when the input is dropped (below); "file" the
        # chosen file's index ("" without a File select).
        defaults = {"lyrics": lyrics or "", "file": ""}
        shown = {"style": style or "", "lyrics": lyrics or ""}
        super().__init__(send, pending, check=check, defaults=defaults, shown=shown, title=title)
        if files:
            # "Rewrite part of this" on a message with several audio files: Discord allows
            # five components, so the choice takes the optional whole-song lyrics' place
            # (the song's lyrics, where known, are still sent: `values["lyrics"]`).
            self.remove_item(self.lyrics)
            self.add_item(file_choice(files))
        self.localize(locale)


def _new_part_lyrics_label(text: str) -> discord.ui.Label[SongForm]:
    """An extend's optional words for the new part (MusicGPT's `lyrics`)."""
    return discord.ui.Label(
        text=text,
        description=N_("Optional: the words of the new part") if text == "Lyrics" else None,
        component=_lyrics_input("lyrics", required=False, placeholder=N_("Optional")),
    )


class ExtendLyrics(SongForm, title=N_("Lyrics for the new part")):
    """/extend's form: the one box, the new part's lyrics."""

    lyrics: discord.ui.Label[SongForm] = _new_part_lyrics_label(N_("Lyrics of the new part"))


class ExtendForm(SongForm, title=N_("Extend a take")):
    """The Extend button's form: where the new part starts (prefilled with the take's
    length; blank is the song's end too), the style (prefilled with the parent's), and the
    new part's lyrics."""

    prefix = EXTEND_PREFIX
    after: discord.ui.Label[SongForm] = discord.ui.Label(
        text=N_("After"),
        description=N_("Optional: where the new part starts, like 75 or 1:15.5; blank: the end"),
        component=discord.ui.TextInput(
            custom_id="after",
            style=discord.TextStyle.short,
            required=False,
            max_length=20,
            placeholder=N_("The end of the take"),
        ),
    )
    style: discord.ui.Label[SongForm] = _style_label(N_("How the new part should sound"))
    lyrics: discord.ui.Label[SongForm] = _new_part_lyrics_label(N_("Lyrics"))

    def __init__(
        self,
        send: Send,
        pending: PendingAudio,
        *,
        check: Check | None = None,
        title: str,
        after: str | None,
        style: str | None,
        locale: LocaleLike = None,
    ) -> None:
        shown = {"after": after or "", "style": style or ""}
        super().__init__(send, pending, check=check, shown=shown, title=title, locale=locale)


class RewritePartForm(RewriteForm):
    """The Rewrite form, opened from a message's Apps menu ("Rewrite part of this")."""

    prefix = MENU_PREFIX


@dataclass(frozen=True, slots=True)
class FileOption:
    """One audio file of a message, as the File select lists it."""

    filename: str
    description: str | None = None  # its size, say


def file_choice(files: Sequence[FileOption]) -> discord.ui.Label[SongForm]:
    """A required select labelled File, one option per file; its value is the file's index."""
    return discord.ui.Label(
        text=N_("File"),
        description=N_("Which of the message's audio files to use"),
        component=discord.ui.Select(
            custom_id="file",
            placeholder=N_("Pick a file"),
            required=True,
            options=[
                discord.SelectOption(
                    label=option.filename[:100] or f"file {n + 1}",
                    value=str(n),
                    description=(option.description or None) and option.description[:100],
                )
                for n, option in enumerate(files[:25])  # a select lists at most 25
            ],
        ),
    )


def _voice_label() -> discord.ui.Label[SongForm]:
    return discord.ui.Label(
        text=N_("Voice"),
        description=N_("Optional: the voice I sing with"),
        component=discord.ui.Select(
            custom_id="voice",
            placeholder=N_("Any voice"),
            required=False,
            options=[discord.SelectOption(label=VOICE_NAMES[v], value=v) for v in VOICES],
        ),
    )


class SingOverForm(SongForm, title=N_("Sing over this")):
    """ "Sing over this": the style (/sing's prompt), the lyrics, the voice, and which file
    when the message has several."""

    prefix = MENU_PREFIX
    style: discord.ui.Label[SongForm] = _style_label(
        N_("Style, tone or genre of the vocals, e.g. soulful R&B")
    )
    lyrics: discord.ui.Label[SongForm] = discord.ui.Label(
        text=N_("Lyrics"),
        component=_lyrics_input(
            "lyrics", required=True, placeholder=N_("The words for me to sing")
        ),
    )
    voice: discord.ui.Label[SongForm] = _voice_label()

    def __init__(
        self,
        send: Send,
        pending: PendingAudio,
        *,
        check: Check | None = None,
        files: Sequence[FileOption] = (),
        locale: LocaleLike = None,
    ) -> None:
        # style, lyrics, voice ("" for any), file ("" for none: the message's only file)
        super().__init__(send, pending, check=check, defaults={"file": ""})
        if files:
            self.add_item(file_choice(files))
        self.localize(locale)


class AgainForm(SongForm, title=N_("Again with changes")):
    """Again with changes: the song's style, lyrics and voice, prefilled, to edit."""

    style: discord.ui.Label[SongForm] = _style_label(N_("Style, tone or genre of the vocals"))
    lyrics: discord.ui.Label[SongForm] = discord.ui.Label(
        text=N_("Lyrics"),
        component=_lyrics_input("lyrics", required=False, placeholder=N_("The words to sing")),
    )
    voice: discord.ui.Label[SongForm] = _voice_label()

    def __init__(
        self,
        send: Send,
        pending: PendingAudio,
        *,
        title: str,
        style: str,
        lyrics: str | None,
        voice: str | None,
        lyrics_required: bool,
        locale: LocaleLike = None,
    ) -> None:
        shown = {"style": style, "lyrics": lyrics or "", "voice": voice or ""}
        super().__init__(send, pending, shown=shown, title=title, locale=locale)
        cast(discord.ui.TextInput[Any], self.lyrics.component).required = lyrics_required
