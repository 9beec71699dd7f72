"""A copy of a member's songs by DM (/notify): the states a copy goes through, what Discord's
answers mean for it, and the words members read. No Discord here: the `Poster` sends the
copy, the delivery worker (`bot.core.tracker.delivery`) decides when, and the store records it.
"""

from __future__ import annotations

from enum import StrEnum

from bot.core.i18n import N_

# What Discord accepts per message in a DM, whatever servers the member shares with the bot.
DM_UPLOAD_LIMIT = 10 * 1024 * 1024
# Discord's "Cannot send messages to this user": the member closed their DMs to the bot (or
# blocked it). Asking again changes nothing, so it is recorded at once, never retried.
CANNOT_DM = 50007

NOTIFY_ON = N_(
    "Done! From now on I'll also send you each of your songs by DM, once it's posted. "
    "If your DMs are closed to me, the channel post is all you get."
)
NOTIFY_OFF = N_("Done! From now on I'll post your songs only in the channel, with no DM copy.")
DMS_CLOSED = N_("I couldn't DM you a copy (your DMs are closed).")


class CopyState(StrEnum):
    """A task's DM copy (`tasks.dm_state`; NULL when none was wanted). Every change is a
    guarded UPDATE in the store: only the claim of `pending` may send, once."""

    PENDING = "pending"  # wanted, not sent yet (or an attempt failed and was given back)
    SENDING = "sending"  # claimed; a send is (or may be) under way
    SENT = "sent"
    REFUSED = "refused"  # Discord said 50007: the member's DMs are closed
    FAILED = "failed"  # anything else, after a few tries: given up quietly


class CopyRefused(Exception):
    """The member's DMs are closed (50007): the status says so, nothing is retried."""


class CopyImpossible(Exception):
    """The copy can never be sent (an unknown user, say): given up without retrying."""


def copy_failure(status: int, code: int) -> type[Exception] | None:
    """What a Discord error answer to the DM means: refused, impossible, or (None) worth
    another try later (5xx, 429s discord.py gave up on)."""
    if status == 403 and code == CANNOT_DM:
        return CopyRefused
    if 400 <= status < 500 and status not in (408, 429):
        return CopyImpossible
    return None


def dm_note(state: str | None) -> str | None:
    """The one quiet line the status message gets about the copy, if any."""
    return DMS_CLOSED if state == CopyState.REFUSED else None


def post_link(guild_id: int | None, channel_id: int, message_id: int) -> str:
    """A link to a message, as Discord's "Copy Message Link" writes it."""
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"
