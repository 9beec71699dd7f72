"""bot.core.songs.queue: /queue's order and words, without Discord."""

from __future__ import annotations

import dataclasses

from bot.core.models import Task, TaskKind, TaskStatus
from bot.core.songs.queue import EMPTY, kind_word, queue_text, server_queue
from tests.unit.core.songs.test_progress import BASE

HERE, ELSEWHERE = 2, 5


def task(task_id: int, status: TaskStatus, guild_id: int = HERE) -> Task:
    return dataclasses.replace(
        BASE, id=task_id, status=status, guild_id=guild_id, user_id=100 + task_id
    )


def test_under_way_first_then_waiting_by_their_place_in_the_bots_whole_line() -> None:
    unfinished = [
        task(1, TaskStatus.SUBMITTED, ELSEWHERE),
        task(2, TaskStatus.QUEUED, ELSEWHERE),  # another server's, first in line
        task(3, TaskStatus.QUEUED),
        task(4, TaskStatus.SUBMITTED),
        task(5, TaskStatus.DELIVERING),
        task(6, TaskStatus.QUEUED),
        task(7, TaskStatus.DELIVERED),  # finished: not listed
    ]
    entries = server_queue(unfinished, HERE)
    assert [(e.task.id, e.position) for e in entries] == [(4, 0), (5, 0), (3, 2), (6, 3)]
    text = queue_text(entries)
    lines = text.splitlines()
    assert lines[0] == "**Songs here, in order**: 2 songs under way, 2 waiting."
    assert lines[1].startswith("**#4** · inpaint · <@104> · 🎙️ with MusicGPT · asked <t:")
    assert "📬 done, being posted" in lines[2]
    assert "<@103> · ⏳ waiting, #2 in line" in lines[3]
    assert "⏳ waiting, #3 in line" in lines[4]
    assert lines[-1].startswith("Cancel a waiting song of yours")
    assert "of anyone's here" in queue_text(entries, may_cancel_any=True)


def test_nothing_under_way() -> None:
    assert queue_text(server_queue([task(1, TaskStatus.QUEUED, ELSEWHERE)], HERE)) == EMPTY


def test_a_long_line_fits_a_message_and_counts_the_rest() -> None:
    entries = server_queue([task(n, TaskStatus.QUEUED) for n in range(1, 301)], HERE)
    text = queue_text(entries, may_cancel_any=True)
    assert len(text) <= 2000
    shown = text.count("⏳ waiting")
    assert 10 < shown < 300
    assert f"…and {300 - shown} more." in text
    assert text.endswith("is told.")


def test_kinds() -> None:
    sing = dataclasses.replace(BASE, kind=TaskKind.SING)
    assert kind_word(sing) == "sing" and kind_word(BASE) == "inpaint"
    assert kind_word(dataclasses.replace(BASE, parent_task_id=3, parent_output=1)) == "rewrite"
    assert kind_word(dataclasses.replace(sing, parent_task_id=3, parent_output=None)) == "again"
    extend = dataclasses.replace(BASE, kind=TaskKind.EXTEND)
    assert kind_word(extend) == "extend"  # /extend, not "inpaint"
    assert kind_word(dataclasses.replace(extend, parent_task_id=3, parent_output=2)) == "extension"
    assert kind_word(dataclasses.replace(sing, parent_task_id=3, parent_output=1)) == "sing over"
    assert kind_word(dataclasses.replace(extend, parent_task_id=3, parent_output=None)) == "again"
