"""Votes on takes: a 👍 button per take on every result, and the line that says which one leads.

A click toggles the clicker's 👍 for that take: the first click counts it, the next takes it
back. Anyone who can see the result may vote, once per take (a member may like both takes);
a vote is a row in the store, never a MusicGPT call, and costs nothing.

The leading take is the one with strictly the most votes. A tie has no leader: a group that
hasn't made up its mind reads "tied", not a winner picked by take number, and marking both
would say "leads" of two takes at once. A song with one take has nothing to lead: its
button and line just count.

Everything here is the bot's own text (digits, the take number, 👍): nothing a member typed,
so nothing can ping or render as markdown. `bot.core.songs.vote_edits` keeps the result
message up to date however fast people click.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from bot.core.errors import UserFacingError
from bot.core.i18n import N_, LocaleLike, gettext
from bot.core.i18n.said import said

THUMB: Final = "👍"
LABEL_LIMIT: Final = 80  # Discord's, per button label
LEADER_MARK: Final = N_("⭐ leading")  # how /song marks the leading take


class VoteCounter(Protocol):
    """What showing votes needs from the store (the votes table, migration 0010)."""

    async def vote_counts(self, task_id: int) -> dict[int, int]:
        """Votes per take (1-based) of a song; takes nobody voted for may be missing."""
        ...


class VoteRecorder(VoteCounter, Protocol):
    """What voting needs from the store."""

    async def toggle_vote(self, task_id: int, take: int, user_id: int) -> bool:
        """Add the member's vote for the take, or remove it if it was there, in one
        transaction. True: the member now votes for it."""
        ...


class NoSuchTake(UserFacingError):
    """A 👍 for a take the song doesn't have (a stale or forged button)."""


@dataclass(frozen=True, slots=True)
class Tally:
    """The votes of one song's takes, `counts[0]` being take 1's."""

    counts: tuple[int, ...]

    @classmethod
    def of(cls, counts: Mapping[int, int], takes: int) -> Tally:
        """The tally of a song with `takes` takes; votes for takes it doesn't have are ignored."""
        return cls(tuple(max(0, counts.get(take, 0)) for take in range(1, takes + 1)))

    @property
    def takes(self) -> int:
        return len(self.counts)

    def count(self, take: int) -> int:
        return self.counts[take - 1] if 1 <= take <= self.takes else 0

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def leader(self) -> int | None:
        """The take (1-based) with strictly the most votes; None for a tie, no votes, or a
        song with a single take."""
        if self.takes < 2:
            return None
        top = max(self.counts)
        if top == 0 or self.counts.count(top) > 1:
            return None
        return self.counts.index(top) + 1

    @property
    def tied(self) -> tuple[int, ...]:
        """The takes sharing the most votes when two or more do (and someone voted)."""
        if self.takes < 2 or (top := max(self.counts)) == 0:
            return ()
        takes = tuple(n for n, count in enumerate(self.counts, start=1) if count == top)
        return takes if len(takes) > 1 else ()


@dataclass(frozen=True, slots=True)
class VoteButton:
    """What one 👍 button shows; the Discord side gives the leader's a stronger style."""

    take: int
    label: str
    leading: bool


VOTE_LABEL: Final = N_("Take {take} · {thumb} {count}")  # a song with two takes


def vote_label(take: int, takes: int, count: int, locale: LocaleLike = None) -> str:
    """`👍 3` on a song with one take; `Take 1 · 👍 3` with two or more (the take first, as the
    other buttons have it, so the count can't be read as a take number), in the locale's
    language (the server's: a result is public). The count stays in digits, as Discord's
    own reaction counts are."""
    if takes < 2:
        label = f"{THUMB} {count}"
    else:
        label = gettext(locale, VOTE_LABEL, take=take, thumb=THUMB, count=count)
    return label[:LABEL_LIMIT]


def vote_buttons(tally: Tally, locale: LocaleLike = None) -> tuple[VoteButton, ...]:
    """One button per take, in take order, labelled in the locale's language."""
    leader = tally.leader
    return tuple(
        VoteButton(take, vote_label(take, tally.takes, tally.count(take), locale), take == leader)
        for take in range(1, tally.takes + 1)
    )


def result_line(tally: Tally) -> str:
    """The result message's line about the votes: who leads, a tie, or none yet."""
    if tally.takes < 2:
        count = tally.count(1)
        return f"{count} {THUMB} for this take." if count else "No votes yet."
    if tally.total == 0:
        return f"No votes yet: click {THUMB} on the take you'd keep."
    if (leader := tally.leader) is not None:
        return f"Take {leader} leads with {tally.count(leader)} {THUMB}."
    tied = tally.tied
    return f"Takes {_and(tied)} are tied at {tally.count(tied[0])} {THUMB} each."


def _and(numbers: tuple[int, ...]) -> str:
    """`1 and 2`, `1, 2 and 3`."""
    words = [str(n) for n in numbers]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def vote_answer(take: int, takes: int, voted: bool, locale: LocaleLike = None) -> str:
    """The clicker's private acknowledgement, in their language (`locale`)."""
    if takes < 2:
        if voted:
            return gettext(locale, "I counted your {thumb} for this take.", thumb=THUMB)
        return gettext(locale, "I took back your {thumb} for this take.", thumb=THUMB)
    if voted:
        return gettext(locale, "I counted your {thumb} for take {take}.", thumb=THUMB, take=take)
    return gettext(locale, "I took back your {thumb} for take {take}.", thumb=THUMB, take=take)


@dataclass(frozen=True, slots=True)
class VoteClick:
    """What a click did: whether the member now votes for the take, and the new tally."""

    take: int
    voted: bool
    tally: Tally

    @property
    def answer(self) -> str:
        return self.answer_in(None)

    def answer_in(self, locale: LocaleLike) -> str:
        return vote_answer(self.take, self.tally.takes, self.voted, locale)


async def click(
    recorder: VoteRecorder, task_id: int, takes: int, take: int, user_id: int
) -> VoteClick:
    """Toggle `user_id`'s vote for `take` of song `task_id`, which has `takes` takes.

    The caller says who may click (anyone in the channel) and then tells the edit coalescer
    that the result message changed; this never waits on Discord or MusicGPT.
    """
    if not 1 <= take <= takes:
        raise NoSuchTake(
            said(
                "Song #{number} has no take {take}, so I can't count that vote.",
                number=task_id,
                take=take,
            )
        )
    voted = await recorder.toggle_vote(task_id, take, user_id)
    counts = await recorder.vote_counts(task_id)
    return VoteClick(take, voted, Tally.of(counts, takes))
