"""The forms that follow /sing and /inpaint, the Rewrite button and the message menus
("Sing over this", "Rewrite part of this"), as small modal classes.

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

from bot.core.songs.intake import LYRICS_MAX, PROMPT_MAX
from bot.discord.tree import report_error

MODAL_TIMEOUT = 15 * 60  # as long as the interaction token lives
MODAL_PREFIX = "lyrics-form:"
REWRITE_PREFIX = "rewrite-form:"
MENU_PREFIX = "menu-form:"  # the forms of the message context menus
# Forms open in this process, by custom_id.
OPEN_MODALS: set[str] = set()
LYRICS_EXPIRED = (
    "That lyrics form has expired (I may have restarted). Please run the command again; "
    "nothing was charged."
)
REWRITE_EXPIRED = (
    "That Rewrite form has expired (I may have restarted). Click Rewrite again; nothing was "
    "charged."
)
MENU_EXPIRED = (
    "That form has expired (I may have restarted). Open the message's Apps menu again; "
    "nothing was charged."
)
VOICES = ("male", "female", "neutral")


def stale_modal_message(interaction: discord.Interaction) -> str | None:
    """What to say to the submit of a form this process doesn't have open, or None."""
    if interaction.type is not discord.InteractionType.modal_submit or not interaction.data:
        return None
    custom_id = str(interaction.data.get("custom_id", ""))
    if custom_id in OPEN_MODALS:
        return None
    if custom_id.startswith(MODAL_PREFIX):
        return LYRICS_EXPIRED
    if custom_id.startswith(REWRITE_PREFIX):
        return REWRITE_EXPIRED
    if custom_id.startswith(MENU_PREFIX):
        return MENU_EXPIRED
    return None


def _lyrics_input(custom_id: str, *, required: bool, placeholder: str) -> discord.ui.TextInput:
    return discord.ui.TextInput(
        custom_id=custom_id,
        style=discord.TextStyle.paragraph,
        required=required,
        max_length=LYRICS_MAX,
        placeholder=placeholder,
    )


def _text(label: discord.ui.Label[Any]) -> str:
    return cast(discord.ui.TextInput[Any], label.component).value or ""


class LyricsForm(discord.ui.Modal):
    """What both forms share: a unique id, the stale-form check, abandon and error paths."""

    prefix = MODAL_PREFIX

    def __init__(
        self,
        on_submit: Callable[[discord.Interaction, LyricsForm], Awaitable[None]],
        on_abandon: Callable[[], None],
        **modal: Any,
    ) -> None:
        custom_id = f"{self.prefix}{uuid.uuid4().hex}"
        super().__init__(timeout=MODAL_TIMEOUT, custom_id=custom_id, **modal)
        OPEN_MODALS.add(custom_id)
        self._handler = on_submit
        self._on_abandon = on_abandon

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self._handler(interaction, self)

    def stop(self) -> None:
        # discord.py stops a modal after its first successful submit, and then drops any
        # further submit of the same custom_id unanswered. A client may well send one (a
        # double click, a retry, a hostile client): the intake answers it, so the form
        # stays registered until its timeout. Nothing else in the bot calls stop().
        return

    async def on_timeout(self) -> None:
        OPEN_MODALS.discard(self.custom_id)
        self._on_abandon()

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:  # type: ignore[override]
        await report_error(interaction, error)


class SingLyrics(LyricsForm, title="Lyrics for your song"):
    lyrics: discord.ui.Label[LyricsForm] = discord.ui.Label(
        text="Lyrics",
        component=_lyrics_input(
            "lyrics", required=True, placeholder="The words to sing over your instrumental"
        ),
    )

    @property
    def lyrics_text(self) -> str:
        return _text(self.lyrics)


def _whole_song_lyrics_label() -> discord.ui.Label[LyricsForm]:
    """/inpaint's and Rewrite's optional lyrics of the whole song (MusicGPT's `lyrics`)."""
    return discord.ui.Label(
        text="Lyrics of the whole song",
        component=_lyrics_input(
            "lyrics", required=False, placeholder="Optional: helps MusicGPT blend in"
        ),
    )


def _new_lyrics_label() -> discord.ui.Label[LyricsForm]:
    """The optional words for the replaced part (MusicGPT's `lyrics_section_to_replace`)."""
    return discord.ui.Label(
        text="New lyrics for the replaced part",
        component=_lyrics_input("new_lyrics", required=False, placeholder="Optional"),
    )


class InpaintLyrics(LyricsForm, title="Lyrics for the new part"):
    lyrics: discord.ui.Label[LyricsForm] = _whole_song_lyrics_label()
    new_lyrics: discord.ui.Label[LyricsForm] = _new_lyrics_label()

    @property
    def lyrics_text(self) -> str:
        return _text(self.lyrics)

    @property
    def new_lyrics_text(self) -> str:
        return _text(self.new_lyrics)


def _short_input(custom_id: str, placeholder: str) -> discord.ui.TextInput:
    return discord.ui.TextInput(
        custom_id=custom_id, style=discord.TextStyle.short, max_length=20, placeholder=placeholder
    )


def _style_label(placeholder: str) -> discord.ui.Label[LyricsForm]:
    """The required Style input: the prompt MusicGPT gets, within its limit."""
    return discord.ui.Label(
        text="Style",
        component=discord.ui.TextInput(
            custom_id="style",
            style=discord.TextStyle.paragraph,
            max_length=PROMPT_MAX,
            placeholder=placeholder,
        ),
    )


class RewriteForm(LyricsForm, title="Rewrite a part"):
    """The Rewrite button's form: the range, the style, and both lyrics fields (prefilled
    with what the parent was asked with, where known)."""

    prefix = REWRITE_PREFIX
    start: discord.ui.Label[LyricsForm] = discord.ui.Label(
        text="Start", component=_short_input("start", "Where the new part starts: 75 or 1:15.5")
    )
    end: discord.ui.Label[LyricsForm] = discord.ui.Label(
        text="End", component=_short_input("end", "Where it ends, same formats")
    )
    style: discord.ui.Label[LyricsForm] = _style_label("How the new part should sound")
    lyrics: discord.ui.Label[LyricsForm] = _whole_song_lyrics_label()
    new_lyrics: discord.ui.Label[LyricsForm] = _new_lyrics_label()

    def __init__(
        self,
        on_submit: Callable[[discord.Interaction, LyricsForm], Awaitable[None]],
        *,
        title: str,
        style: str | None,
        lyrics: str | None,
        files: Sequence[FileOption] = (),
        on_abandon: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(on_submit, on_abandon, title=title[:45])
        cast(discord.ui.TextInput[Any], self.style.component).default = style
        cast(discord.ui.TextInput[Any], self.lyrics.component).default = lyrics
        self._known_lyrics = lyrics
        self.file: discord.ui.Label[LyricsForm] | None = None
        if files:
            # "Rewrite part of this" on a message with several audio files: Discord allows
            # five components, so the choice takes the optional whole-song lyrics' place
            # (the song's lyrics, where known, are still sent: `values["lyrics"]`).
            self.remove_item(self.lyrics)
            self.file = file_choice(files)
            self.add_item(self.file)

    @property
    def values(self) -> dict[str, str]:
        """What was typed; "lyrics" is the song's known lyrics when the input was dropped,
        "file" the chosen file's index ("" without a File select)."""
        shown = self.lyrics in self.children
        return {
            "start": _text(self.start),
            "end": _text(self.end),
            "style": _text(self.style),
            "lyrics": _text(self.lyrics) if shown else (self._known_lyrics or ""),
            "new_lyrics": _text(self.new_lyrics),
            "file": _choice(self.file) or "",
        }


class RewritePartForm(RewriteForm):
    """The Rewrite form, opened from a message's Apps menu ("Rewrite part of this")."""

    prefix = MENU_PREFIX


@dataclass(frozen=True, slots=True)
class FileOption:
    """One audio file of a message, as the File select lists it."""

    filename: str
    description: str | None = None  # its size, say


def file_choice(files: Sequence[FileOption]) -> discord.ui.Label[LyricsForm]:
    """A required select labelled File, one option per file; its value is the file's index."""
    return discord.ui.Label(
        text="File",
        description="Which of the message's audio files to use",
        component=discord.ui.Select(
            custom_id="file",
            placeholder="Pick a file",
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


def _choice(label: discord.ui.Label[Any] | None) -> str | None:
    if label is None:
        return None
    values = cast(discord.ui.Select[Any], label.component).values
    return values[0] if values else None


class SingOverForm(LyricsForm, title="Sing over this"):
    """ "Sing over this": the style (/sing's prompt), the lyrics, the voice, and which file
    when the message has several."""

    prefix = MENU_PREFIX
    style: discord.ui.Label[LyricsForm] = _style_label(
        "Style, tone or genre of the vocals, e.g. soulful R&B"
    )
    lyrics: discord.ui.Label[LyricsForm] = discord.ui.Label(
        text="Lyrics",
        component=_lyrics_input("lyrics", required=True, placeholder="The words for me to sing"),
    )
    voice: discord.ui.Label[LyricsForm] = discord.ui.Label(
        text="Voice",
        description="Optional: the voice I sing with",
        component=discord.ui.Select(
            custom_id="voice",
            placeholder="Any voice",
            required=False,
            options=[discord.SelectOption(label=v.capitalize(), value=v) for v in VOICES],
        ),
    )

    def __init__(
        self,
        on_submit: Callable[[discord.Interaction, LyricsForm], Awaitable[None]],
        on_abandon: Callable[[], None],
        *,
        files: Sequence[FileOption] = (),
    ) -> None:
        super().__init__(on_submit, on_abandon)
        self.file: discord.ui.Label[LyricsForm] | None = None
        if files:
            self.file = file_choice(files)
            self.add_item(self.file)

    @property
    def values(self) -> dict[str, str]:
        """What was typed and chosen: style, lyrics, voice ("" for any), file ("" for none)."""
        return {
            "style": _text(self.style),
            "lyrics": _text(self.lyrics),
            "voice": _choice(self.voice) or "",
            "file": _choice(self.file) or "",
        }
