"""Votes on takes: the toggle, the tally's leader, and the texts (labels, the result line)."""

from __future__ import annotations

import re

import pytest

from bot.core.errors import UserFacingError
from bot.core.songs.votes import (
    LABEL_LIMIT,
    NoSuchTake,
    Tally,
    VoteRecorder,
    click,
    result_line,
    vote_answer,
    vote_buttons,
    vote_label,
)

# The words members no longer read (tests/unit/test_voice.py): "song" and "take" only.
OTHER_VOICE = re.compile(r"\bthe bot\b|\bgenerations?\b|\bversions?\b|\brequests?\b", re.I)


class FakeVotes:
    """The votes table in memory: one row per (task, take, member)."""

    def __init__(self) -> None:
        self.rows: set[tuple[int, int, int]] = set()
        self.calls = 0

    async def toggle_vote(self, task_id: int, take: int, user_id: int) -> bool:
        self.calls += 1
        row = (task_id, take, user_id)
        if row in self.rows:
            self.rows.remove(row)
            return False
        self.rows.add(row)
        return True

    async def vote_counts(self, task_id: int) -> dict[int, int]:
        counts: dict[int, int] = {}
        for task, take, _ in self.rows:
            if task == task_id:
                counts[take] = counts.get(take, 0) + 1
        return counts


def test_the_fake_is_a_recorder() -> None:
    recorder: VoteRecorder = FakeVotes()
    assert recorder


async def test_a_click_toggles_the_clickers_vote_once_per_take() -> None:
    votes = FakeVotes()
    first = await click(votes, 12, 2, 2, user_id=100)
    assert first.voted and first.tally.counts == (0, 1)
    assert first.answer == "I counted your 👍 for take 2."
    again = await click(votes, 12, 2, 2, user_id=100)
    assert not again.voted and again.tally.counts == (0, 0)
    assert again.answer == "I took back your 👍 for take 2."


async def test_three_members_and_a_vote_taken_back() -> None:
    votes = FakeVotes()
    for member in (1, 2, 3):
        await click(votes, 12, 2, 1, member)
    await click(votes, 12, 2, 2, 1)  # a member may like both takes
    last = await click(votes, 12, 2, 1, 3)  # ...and take one back
    assert last.tally.counts == (2, 1)
    assert last.tally.leader == 1
    assert await votes.vote_counts(99) == {}  # another song's votes are its own


async def test_a_take_the_song_doesnt_have_is_refused_without_a_vote() -> None:
    votes = FakeVotes()
    for take in (0, 3, -1):
        with pytest.raises(NoSuchTake) as refused:
            await click(votes, 12, 2, take, 100)
        assert isinstance(refused.value, UserFacingError)
        assert refused.value.user_message.endswith(".")
        assert not OTHER_VOICE.search(refused.value.user_message)
    assert votes.calls == 0


def test_the_leader_has_strictly_the_most_votes() -> None:
    assert Tally.of({1: 1, 2: 3}, 2).leader == 2
    assert Tally.of({1: 3}, 2).leader == 1
    assert Tally.of({1: 2, 2: 2}, 2).leader is None  # a tie: no leader
    assert Tally.of({1: 2, 2: 2}, 2).tied == (1, 2)
    assert Tally.of({}, 2).leader is None and Tally.of({}, 2).tied == ()
    assert Tally.of({1: 5}, 1).leader is None  # one take: nothing to lead
    assert Tally.of({1: 1, 2: 4, 3: 4}, 3).tied == (2, 3)
    assert Tally.of({1: 1, 2: 4, 3: 4}, 3).leader is None


def test_votes_for_takes_the_song_doesnt_have_are_ignored() -> None:
    tally = Tally.of({1: 2, 3: 9, 0: 4}, 2)
    assert tally.counts == (2, 0) and tally.total == 2
    assert tally.count(3) == 0 and tally.count(0) == 0


def test_result_lines() -> None:
    assert result_line(Tally.of({1: 1, 2: 3}, 2)) == "Take 2 leads with 3 👍."
    assert result_line(Tally.of({1: 2, 2: 2}, 2)) == "Takes 1 and 2 are tied at 2 👍 each."
    assert result_line(Tally.of({1: 2, 2: 2, 3: 2}, 3)) == (
        "Takes 1, 2 and 3 are tied at 2 👍 each."
    )
    assert result_line(Tally.of({}, 2)) == "No votes yet: click 👍 on the take you'd keep."
    assert result_line(Tally.of({1: 4}, 1)) == "4 👍 for this take."
    assert result_line(Tally.of({}, 1)) == "No votes yet."


def test_button_labels() -> None:
    assert vote_label(1, 1, 3) == "👍 3"
    assert vote_label(2, 2, 0) == "Take 2 · 👍 0"
    buttons = vote_buttons(Tally.of({1: 1, 2: 3}, 2))
    assert [(b.take, b.label, b.leading) for b in buttons] == [
        (1, "Take 1 · 👍 1", False),
        (2, "Take 2 · 👍 3", True),
    ]
    assert not any(b.leading for b in vote_buttons(Tally.of({1: 2, 2: 2}, 2)))
    assert [b.label for b in vote_buttons(Tally.of({}, 1))] == ["👍 0"]


def test_texts_fit_and_never_ping_or_render() -> None:
    huge = 10**30
    texts = [
        vote_label(9, 9, huge),
        result_line(Tally.of({1: huge}, 2)),
        result_line(Tally.of({1: huge, 2: huge}, 2)),
        vote_answer(1, 1, True),
        vote_answer(2, 2, False),
    ]
    assert len(vote_label(9, 9, huge)) <= LABEL_LIMIT
    for text in texts:
        assert not set(text) & set("<>@*_~|`[]#"), text
        assert not OTHER_VOICE.search(text), text
    for line in texts[1:]:
        assert line.endswith("."), line
