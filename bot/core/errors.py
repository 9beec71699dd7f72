"""Exceptions the services raise. None of them know about Discord.

A `UserFacingError` carries a short message fit to show the user as is; anything else is a
bug or an outage and is logged with its traceback.
"""

from __future__ import annotations

from bot.core.i18n import N_, LocaleLike
from bot.core.i18n.said import Said

SENTENCE_ENDS = (".", "!", "?", "…", ".)")


def sentence(text: str) -> str:
    """`text` as a sentence: stripped, ending with a full stop unless it has an end already.

    For someone else's words (MusicGPT's) put into ours, so every message reads as sentences.
    """
    text = text.strip()
    return text if not text or text.endswith(SENTENCE_ENDS) else f"{text}."


class UserFacingError(Exception):
    """An error whose message is meant for the user who caused it.

    The message is a plain string (already in its words: MusicGPT's own text) or `Said`
    (`said("…", name=value)`), which the error boundary says in the member's language."""

    def __init__(self, message: str | Said) -> None:
        super().__init__(str(message))
        self.user_message = str(message)  # the English
        self.said = message if isinstance(message, Said) else None

    def message_in(self, locale: LocaleLike) -> str:
        """The message in the member's language (`interaction.locale`)."""
        return self.said.in_(locale) if self.said is not None else self.user_message


class ConfigError(Exception):
    """A setting is missing or malformed. The message names the setting, never its value."""


class QuotaExceeded(UserFacingError):
    """The user has no songs left today, or too many in progress."""


class AudioRejected(UserFacingError):
    """The input audio is not something we can send: wrong type, too big, unreadable."""


class MusicGPTError(Exception):
    """Base for everything that went wrong talking to MusicGPT."""


class MusicGPTValidationError(MusicGPTError, UserFacingError):
    """MusicGPT refused the request (422); its own text is the message."""

    def __init__(self, message: str) -> None:
        UserFacingError.__init__(self, message)


class MusicGPTConfigurationError(MusicGPTError):
    """MusicGPT rejected our API key (401/403): the bot owner must fix the configuration."""


class MusicGPTOutOfCredits(MusicGPTError):
    """The MusicGPT account has no credits left (402 or a 4xx about credits)."""


class MusicGPTUnavailable(MusicGPTError):
    """MusicGPT kept failing (5xx/network) after bounded retries."""


class MusicGPTSubmitUncertain(MusicGPTError):
    """A submit failed after MusicGPT may have accepted it; retrying could charge twice."""


class PermanentDeliveryError(UserFacingError):
    """The result can never be posted (channel gone, no permission); retrying is pointless."""


class FormClosed(UserFacingError):
    """A lyrics form that was already sent, or replaced by a newer one; nothing is charged."""


class SpoolFull(UserFacingError):
    """The bot holds as much audio as `AUDIO_SPOOL_MB` allows; new uploads wait their turn."""


class DiskFull(UserFacingError):
    """The disk has no room for audio or for the database; nothing was charged."""

    MESSAGE = N_("My disk is full, so I can't take audio right now; nothing was charged.")

    def __init__(self, message: str | Said = MESSAGE) -> None:
        super().__init__(Said(message) if message == self.MESSAGE else message)


class MusicGPTRateLimited(MusicGPTError):
    """MusicGPT answered 429: too many tasks at once, or too many status checks. Nothing was
    accepted; the caller (which has a scheduler) comes back later instead of retrying now."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MusicGPTSubmitConflict(MusicGPTSubmitUncertain):
    """A submit answered 409 ("attempt to create a duplicate"): the task may already exist,
    so it is never sent again."""


class StorageError(Exception):
    """The database failed a read or a write. Raised by the store's adapter in place of its
    driver's own exceptions, so nothing outside `bot.core.store` names a driver.

    `reason` says what kind of failure it was, for the callers that act on it: "full" (no
    room on the disk), "not_a_database" (the file is something else), "read_only" (can't be
    opened or written), "busy" (another writer held the lock too long), or "other".
    """

    def __init__(self, message: str, *, reason: str = "other") -> None:
        super().__init__(message)
        self.reason = reason
