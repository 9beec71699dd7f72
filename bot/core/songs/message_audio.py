"""What the message context menus ("Sing over this", "Rewrite part of this") decide without
Discord: which of a message's attachments are audio, what the form holds, and which song and
take a result message of the bot's carries.

A message's files are judged the way `/sing` judges its attachment: anything not plainly
something else (`bot.core.media.names.plainly_not_audio`) is a candidate, and FFmpeg has the last
word once it is downloaded (`Intake.begin`, or `Intake.submit` for a file picked in the form).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.errors import AudioRejected
from bot.core.i18n import N_
from bot.core.i18n.said import said
from bot.core.media.names import plainly_not_audio
from bot.core.songs.forms import AttachmentRef

NO_AUDIO = N_("That message has no audio file for me to use.")
NONE_IS_AUDIO = N_("None of the {count} files on that message is audio, so I have nothing to use.")
MODAL_COMPONENTS = 5  # Discord's most components in one modal
# "(song #12)" is what every result message carries
# (bot.discord.songs.poster.delivery_marker); posts made before the unit word was "song" say
# "(request #12)".
_MARKER = re.compile(r"\((?:song|request) #([0-9]{1,18})\)")


def audio_files(attachments: Sequence[AttachmentRef]) -> list[AttachmentRef]:
    """The message's files that may be audio, in the message's order; AudioRejected (with
    the words /sing would use for a lone file) when there are none."""
    found = [a for a in attachments if plainly_not_audio(a.filename, a.content_type) is None]
    if found:
        return found
    if not attachments:
        raise AudioRejected(said(NO_AUDIO))
    if len(attachments) == 1:
        only = attachments[0]
        raise AudioRejected(plainly_not_audio(only.filename, only.content_type) or said(NO_AUDIO))
    # Two or more files (one is refused by its kind, above): the plural in every language.
    raise AudioRejected(said(NONE_IS_AUDIO, count=len(attachments)))


@dataclass(frozen=True, slots=True)
class FormLayout:
    """What a context menu's form holds, by how many audio files the message has."""

    file_choice: bool  # a File select listing the message's audio files
    whole_song_lyrics: bool  # Rewrite's optional "Lyrics of the whole song" input
    components: int


def sing_layout(files: int) -> FormLayout:
    """Style, Lyrics, Voice, and File when there is more than one to choose from."""
    choice = files > 1
    return FormLayout(file_choice=choice, whole_song_lyrics=False, components=3 + choice)


def rewrite_layout(files: int) -> FormLayout:
    """The Rewrite button's five inputs; with several files the File select takes the place
    of the optional whole-song lyrics (Discord allows five components in a modal)."""
    choice = files > 1
    return FormLayout(file_choice=choice, whole_song_lyrics=not choice, components=5)


def song_of(content: str) -> int | None:
    """The song a result message of the bot's is, from its "(song #N)" marker; None for
    any other text. Only the bot's own messages should be asked (a member can type it)."""
    match = _MARKER.search(content)
    return int(match.group(1)) if match else None


def take_of(filename: str, task_id: int) -> int | None:
    """Which take of song `task_id` a posted file is: the delivery names them
    `song-<task>-<take>.<ext>`. None for any other file."""
    stem = filename.rsplit(".", 1)[0]
    match = re.fullmatch(rf"song-{task_id}-([1-9])", stem)
    return int(match.group(1)) if match else None
