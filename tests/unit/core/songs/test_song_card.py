"""/song number:N: the card, its family tree, and "not found" for another server's song."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from bot.core.models import Output, Task, TaskKind, TaskStatus
from bot.core.songs.song_card import (
    MESSAGE_LIMIT,
    Branch,
    Family,
    SongReader,
    card_text,
    length_text,
    load_family,
    song_card,
    song_line,
    take_line,
)
from bot.core.songs.votes import Tally
from tests.unit.core.songs.test_progress import BASE
from tests.unit.core.songs.test_votes import OTHER_VOICE, FakeVotes

GUILD = 555
OTHER = 666
CHANNEL = 777
LINK = re.compile(r"\[(?:result|status)\]\(https://discord\.com/channels/(\d+)/(\d+)/(\d+)\)")


def song(
    number: int,
    *,
    parent: int | None = None,
    take: int | None = None,
    kind: TaskKind = TaskKind.SING,
    guild: int = GUILD,
    **changes: object,
) -> Task:
    made = dataclasses.replace(
        BASE,
        id=number,
        kind=kind,
        status=TaskStatus.DELIVERED,
        user_id=42,
        guild_id=guild,
        channel_id=CHANNEL,
        prompt=f"prompt of {number}",
        replace_start=None,
        replace_end=None,
        outputs=(
            Output("https://cdn.musicgpt.example/a.mp3", duration=151.4, title="Morning"),
            Output("https://cdn.musicgpt.example/b.mp3", duration=65.0),
        ),
        delivered_message_ids=(9000 + number,),
        status_message_id=8000 + number,
        parent_task_id=parent,
        parent_output=take,
    )
    return dataclasses.replace(made, **changes)  # type: ignore[arg-type]


class FakeSongs:
    """The tasks table in memory."""

    def __init__(self, *tasks: Task) -> None:
        self.tasks = {t.id: t for t in tasks}
        self.asked: list[int] = []

    async def task_in_guild(self, guild_id: int, number: int) -> Task | None:
        task = self.tasks.get(number)
        return task if task is not None and task.guild_id == guild_id else None

    async def children_of(self, task_id: int) -> Sequence[Task]:
        self.asked.append(task_id)
        return sorted(
            (t for t in self.tasks.values() if t.parent_task_id == task_id), key=lambda t: t.id
        )


def test_the_fake_is_a_reader() -> None:
    reader: SongReader = FakeSongs()
    assert reader


def family_of_12() -> FakeSongs:
    return FakeSongs(
        song(10, prompt="the instrumental"),
        song(12, parent=10, take=2, kind=TaskKind.INPAINT, replace_start=30.0, replace_end=45.0),
        song(13, parent=12, take=1, kind=TaskKind.EXTEND, replace_start=90.0),
        song(
            14,
            parent=12,
            kind=TaskKind.INPAINT,
            status=TaskStatus.FAILED,
            outputs=(),
            delivered_message_ids=(),
            error="MusicGPT failed: boom",
        ),
        song(15, parent=13, take=2, kind=TaskKind.SING),
        song(16, parent=15),
    )


async def test_a_song_with_a_parent_and_children() -> None:
    votes = FakeVotes()
    votes.rows |= {(12, 1, 1), (12, 1, 2), (12, 2, 3), (10, 2, 1)}
    text = await song_card(family_of_12(), votes, GUILD, 12)
    lines = text.splitlines()
    assert lines[0] == (
        f"**Song #12** · posted · [result](https://discord.com/channels/{GUILD}/{CHANNEL}/9012)"
    )
    assert lines[1] == "Rewrite of #10 take 2, 0:30–0:45"
    assert lines[2] == "Asked for by <@42> <t:1000:R>"
    assert lines[3] == "Prompt: “prompt of 12”"
    assert lines[4] == (
        "Take 1 “Morning” · 2:31 · [listen](https://cdn.musicgpt.example/a.mp3) · 👍 2 · ⭐ leading"
    )
    assert lines[5] == "Take 2 · 1:05 · [listen](https://cdn.musicgpt.example/b.mp3) · 👍 1"
    assert lines[6] == (
        "**Made from** #10 · Sung over an instrumental · "
        f"[result](https://discord.com/channels/{GUILD}/{CHANNEL}/9010)"
    )
    assert lines[7] == "**Made from it**"
    assert lines[8].startswith("- #13 · Extension of #12 take 1 from 1:30 · [result](")
    assert lines[9].startswith("  - #15 · Sung over #13 take 2 · [result](")
    assert lines[10].startswith("    - #16 · Again of #15 · [result](")
    assert lines[11] == (
        f"- #14 · Again of #12 · failed · [status](https://discord.com/channels/{GUILD}/{CHANNEL}/8014)"
    )
    assert len(lines) == 12
    assert not OTHER_VOICE.search(text)


async def test_a_fresh_song_without_votes_or_children() -> None:
    text = await song_card(FakeSongs(song(10)), FakeVotes(), GUILD, 10)
    assert "Sung over an instrumental" in text.splitlines()[1]
    assert "👍 0" in text and "leading" not in text
    assert "Made from" not in text
    assert text.endswith("Nothing made from it yet.")


async def test_a_tie_marks_no_take() -> None:
    votes = FakeVotes()
    votes.rows |= {(10, 1, 1), (10, 2, 2)}
    text = await song_card(FakeSongs(song(10)), votes, GUILD, 10)
    assert "leading" not in text and text.count("👍 1") == 2


async def test_another_servers_song_is_not_found_and_says_nothing_of_it() -> None:
    theirs = song(20, guild=OTHER, prompt="secret plans")
    songs = FakeSongs(theirs, song(21, parent=20, guild=OTHER))
    text = await song_card(songs, FakeVotes(), GUILD, 20)
    assert text == "I have no song #20 in this server."
    # The same as for no song at all.
    assert await song_card(songs, FakeVotes(), GUILD, 404) == "I have no song #404 in this server."
    assert songs.asked == []
    for refusal in (text, await song_card(songs, FakeVotes(), GUILD, -1)):
        assert refusal.endswith(".") and not OTHER_VOICE.search(refusal)


async def test_relatives_in_another_server_are_left_out() -> None:
    songs = FakeSongs(
        song(10, guild=OTHER),
        song(11, parent=10, take=1),
        song(12, parent=11, guild=OTHER, prompt="secret"),
        song(13, parent=11),
    )
    text = await song_card(songs, FakeVotes(), GUILD, 11)
    assert "Sung over #10 take 1" in text  # this song's own lineage
    assert "**Made from**" not in text and "#12" not in text and "secret" not in text
    assert "- #13 · Again of #11" in text


async def test_the_prompt_and_titles_are_made_safe() -> None:
    nasty = song(
        10,
        prompt="@everyone <@1> [click](http://evil.example) **bold**\n# heading",
        outputs=(Output("https://x.example/a(1).mp3", duration=5, title="<@&9> `x`"),),
    )
    text = await song_card(FakeSongs(nasty), FakeVotes(), GUILD, 10)
    assert "@everyone" not in text and "<@1>" not in text and "<@&9>" not in text
    assert "](http://evil" not in text and "\n# heading" not in text
    assert "[listen](https://x.example/a%281%29.mp3)" in text
    # One mention: the requester's, which the cog sends without pinging.
    assert len(re.findall(r"(?<!\\)<@", text)) == 1


async def test_a_failed_song_says_why_and_shows_no_takes() -> None:
    failed = song(
        10,
        status=TaskStatus.FAILED,
        outputs=(),
        delivered_message_ids=(),
        error="MusicGPT failed: <@1> boom.",
        quota_refunded=True,
    )
    text = await song_card(FakeSongs(failed), FakeVotes(), GUILD, 10)
    assert "**Song #10** · failed · [status](" in text
    assert "MusicGPT failed: \\<@1\\> boom. It doesn't count against your daily quota." in text
    assert "Take" not in text


async def test_a_song_in_a_thread_links_its_result_in_the_thread() -> None:
    threaded = song(10, thread_id=4444)
    text = await song_card(FakeSongs(threaded), FakeVotes(), GUILD, 10)
    assert f"https://discord.com/channels/{GUILD}/4444/9010" in text


def test_lengths_are_minutes_and_seconds() -> None:
    assert length_text(0) == "0:00"
    assert length_text(65.4) == "1:05"
    assert length_text(59.6) == "1:00"
    assert length_text(3725) == "1:02:05"
    assert length_text(None) == "unknown length"


def test_take_line_without_a_link() -> None:
    line = take_line(1, Output("file:///etc/passwd", duration=3), Tally.of({}, 1))
    assert line == "Take 1 · 0:03 · 👍 0"


def test_song_line_of_one_still_at_musicgpt() -> None:
    waiting = song(30, parent=12, status=TaskStatus.SUBMITTED, delivered_message_ids=())
    assert song_line(waiting) == (
        f"#30 · Again of #12 · at MusicGPT · [status](https://discord.com/channels/{GUILD}/"
        f"{CHANNEL}/8030)"
    )


def crowd() -> FakeSongs:
    """#1 with 8 children, each with 8 children, each with 8, each with 8."""
    tasks = [song(1)]
    level = [1]
    next_id = 2
    for _ in range(4):
        below = []
        for parent in level:
            for _ in range(8):
                tasks.append(song(next_id, parent=parent))
                below.append(next_id)
                next_id += 1
        level = below[:8]  # the rest have no children: enough to be crowded
    return FakeSongs(*tasks)


async def test_the_tree_is_three_deep_five_wide_and_counts_the_rest() -> None:
    songs = crowd()
    family = await load_family(songs, FakeVotes(), GUILD, 1, max_shown=100)
    assert family is not None
    assert len(family.children) == 5 and family.hidden == 3
    first = family.children[0]
    assert len(first.children) == 5 and first.hidden == 3
    deepest = first.children[0].children
    assert len(deepest) == 5 and all(not b.children for b in deepest)
    assert deepest[0].hidden == 8  # counted, not shown: below the third level
    assert len(songs.asked) == len(set(songs.asked))  # each song read once


async def test_the_tree_reads_a_level_at_a_time_within_a_budget() -> None:
    songs = crowd()
    family = await load_family(songs, FakeVotes(), GUILD, 1, max_shown=12)
    assert family is not None
    assert len(family.children) == 5  # the first level whole, then the second until the budget
    assert [len(b.children) for b in family.children] == [5, 2, 0, 0, 0]
    assert [b.hidden for b in family.children] == [3, 6, 8, 8, 8]
    assert len(songs.asked) <= 1 + 12


async def test_a_crowded_tree_is_cut_to_fit_one_message_and_says_how_many_are_left_out() -> None:
    text = await song_card(crowd(), FakeVotes(), GUILD, 1)
    assert len(text) <= MESSAGE_LIMIT
    last = text.splitlines()[-1]
    assert re.fullmatch(r"…and \d+ more songs made from it\.", last), last
    for match in LINK.finditer(text):
        assert match.group(1) == str(GUILD)


def test_the_cut_counts_every_song_it_leaves_out() -> None:
    top = song(1)
    children = tuple(Branch(song(n, parent=1), hidden=10) for n in range(2, 40))
    family = Family(top, Tally.of({}, 2), None, children, hidden=7)
    text = card_text(family)
    assert len(text) <= MESSAGE_LIMIT
    shown_songs = len(re.findall(r"^- #\d+", text, re.MULTILINE))
    shown_more = sum(int(n) for n in re.findall(r"^  - and (\d+) more$", text, re.MULTILINE))
    left_out = int(re.search(r"…and (\d+) more songs", text).group(1))  # type: ignore[union-attr]
    assert shown_songs + shown_more + left_out == 38 + 38 * 10 + 7


def test_a_huge_head_still_fits() -> None:
    outputs = tuple(
        Output(f"https://x.example/{'a' * 370}{n}.mp3", duration=1, title="t" * 200)
        for n in range(9)
    )
    family = Family(song(1, outputs=outputs, prompt="p" * 2000), Tally.of({}, 9))
    text = card_text(family)
    assert len(text) <= MESSAGE_LIMIT and text.endswith("…")
