"""👍 on results (issue 22), clicked by members of the stand-in guild through the real bot:
counts on the message within 5 s, a vote taken back, no MusicGPT call, votes kept across a
SIGKILL, and twenty clicks in a second counted with a handful of edits."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

from tests.standins.discord import StoredMessage
from tests.standins.discord.api import InteractionHandle
from tests.support.state import cast_vote, vote_counts
from tests.support.world import World, request_song, wait_results_for, wait_status_of, world

LIMITS = {"USER_MAX_ACTIVE": "10", "USER_DAILY_QUOTA": "20"}
SHOWN_WITHIN = 5.0  # seconds: the promise
SUCCESS, SECONDARY = 3, 2  # Discord's button styles


def vote_buttons(message: StoredMessage) -> list[dict[str, Any]]:
    return [
        component
        for row in message.components
        for component in row.get("components", [])
        if str(component.get("custom_id", "")).startswith("song:vote:")
    ]


def vote_labels(message: StoredMessage) -> list[str]:
    return [str(b["label"]) for b in vote_buttons(message)]


async def delivered_song(w: World) -> tuple[int, StoredMessage]:
    task_id = await request_song(w)
    [result] = (await wait_results_for(w, [task_id]))[task_id]
    await wait_status_of(w, task_id, "delivered")
    return task_id, w.dc.message(result.id)


async def answer(ix: InteractionHandle) -> str:
    callback = await ix.wait_callback()
    assert callback.type == 4, callback
    assert callback.data is not None and callback.data.get("flags", 0) & 64  # private
    return str(callback.data["content"])


async def vote(w: World, message: StoredMessage, task_id: int, take: int, user_id: int) -> str:
    return await answer(await w.dc.click(message, f"song:vote:{task_id}:{take}", user_id=user_id))


async def shown(
    w: World, message_id: int, labels: list[str], timeout: float = SHOWN_WITHIN
) -> float:
    """Seconds until the message's 👍 buttons read `labels`."""
    started = time.monotonic()
    await w.dc.wait_until(
        lambda: vote_labels(w.dc.message(message_id)) == labels or None,
        timeout,
        f"the buttons to read {labels} (they read {vote_labels(w.dc.message(message_id))})",
    )
    return time.monotonic() - started


def musicgpt_calls(w: World) -> int:
    return len(w.mg.submits) + len(w.mg.by_id_requests) + len(w.mg.file_requests)


def patches(w: World, message_id: int) -> list[Any]:
    return w.dc.find_requests("PATCH", path=rf"/channels/\d+/messages/{message_id}$")


async def test_three_members_vote_and_one_takes_it_back(tmp_path: Path) -> None:
    async with world(tmp_path, users=("alice", "bob", "carol"), **LIMITS) as w:
        carol = w.dc.user("carol")
        task_id, result = await delivered_song(w)
        assert [(b["custom_id"], b["label"]) for b in vote_buttons(result)] == [
            (f"song:vote:{task_id}:1", "Take 1 · 👍 0"),
            (f"song:vote:{task_id}:2", "Take 2 · 👍 0"),
        ]
        assert all(row_of(result, b["custom_id"]) == 1 for b in vote_buttons(result))
        calls = musicgpt_calls(w)

        assert await vote(w, result, task_id, 1, w.alice.id) == "I counted your 👍 for take 1."
        assert await vote(w, result, task_id, 1, w.bob.id) == "I counted your 👍 for take 1."
        assert await vote(w, result, task_id, 2, carol.id) == "I counted your 👍 for take 2."
        assert await vote(w, result, task_id, 1, w.bob.id) == "I took back your 👍 for take 1."
        assert await vote(w, result, task_id, 2, w.bob.id) == "I counted your 👍 for take 2."

        await shown(w, result.id, ["Take 1 · 👍 1", "Take 2 · 👍 2"])
        styles = [b["style"] for b in vote_buttons(w.dc.message(result.id))]
        assert styles == [SECONDARY, SUCCESS]  # take 2 leads
        assert vote_counts(w.database, task_id) == {1: 1, 2: 2}
        assert musicgpt_calls(w) == calls  # a vote is never a MusicGPT call
        # The takes' text and files are untouched: the edits carry the buttons only.
        after = w.dc.message(result.id)
        assert after.content == result.content
        assert [a.filename for a in after.attachments] == [a.filename for a in result.attachments]
        edited = patches(w, result.id)
        assert edited
        assert all("content" not in p.json and "attachments" not in p.json for p in edited)


def row_of(message: StoredMessage, custom_id: str) -> int:
    for n, row in enumerate(message.components):
        if any(c.get("custom_id") == custom_id for c in row.get("components", [])):
            return n
    raise LookupError(custom_id)


async def test_votes_survive_a_sigkill(tmp_path: Path) -> None:
    async with world(tmp_path, users=("alice", "bob", "carol"), **LIMITS) as w:
        carol = w.dc.user("carol")
        task_id, result = await delivered_song(w)
        await vote(w, result, task_id, 1, w.alice.id)
        await vote(w, result, task_id, 2, w.bob.id)
        await vote(w, result, task_id, 2, carol.id)
        await shown(w, result.id, ["Take 1 · 👍 1", "Take 2 · 👍 2"])

        await w.bot.stop(kill=True)
        assert vote_counts(w.database, task_id) == {1: 1, 2: 2}
        # A click whose rows were written, but the bot killed before its edit: the restarted
        # bot shows it with nobody clicking again.
        assert cast_vote(w.database, result.channel_id, result.id, task_id, 1, w.bob.id)
        await w.start_bot()
        await shown(w, result.id, ["Take 1 · 👍 2", "Take 2 · 👍 2"])
        # After the restart the same button still works, and the counts go on from the rows.
        assert await vote(w, result, task_id, 2, carol.id) == "I took back your 👍 for take 2."
        assert await vote(w, result, task_id, 1, carol.id) == "I counted your 👍 for take 1."
        await shown(w, result.id, ["Take 1 · 👍 3", "Take 2 · 👍 1"])
        styles = [b["style"] for b in vote_buttons(w.dc.message(result.id))]
        assert styles == [SUCCESS, SECONDARY]
        assert vote_counts(w.database, task_id) == {1: 3, 2: 1}


async def test_twenty_clicks_in_a_second_are_all_counted_with_a_few_edits(
    tmp_path: Path,
) -> None:
    members = tuple(f"member{n}" for n in range(20))
    async with world(tmp_path, users=("alice", *members), **LIMITS) as w:
        task_id, result = await delivered_song(w)
        before = len(patches(w, result.id))
        clickers = [w.dc.user(name).id for name in members]

        async def click(n: int, user_id: int) -> str:
            await asyncio.sleep(n * 0.045)  # twenty clicks over 0.9 s
            return await vote(w, result, task_id, 1 + n % 2, user_id)

        answers = await asyncio.gather(*(click(n, u) for n, u in enumerate(clickers)))
        last_click = time.monotonic()
        assert all(a.startswith("I counted your 👍") for a in answers)
        await shown(w, result.id, ["Take 1 · 👍 10", "Take 2 · 👍 10"])
        assert time.monotonic() - last_click < SHOWN_WITHIN
        assert vote_counts(w.database, task_id) == {1: 10, 2: 10}
        await asyncio.sleep(1.5)  # any edit still to come
        edits = patches(w, result.id)[before:]
        assert 1 <= len(edits) <= 5, [e.timestamp for e in edits]
        assert all(e.status == 200 for e in edits), [e.status for e in edits]
        gaps = [b.timestamp - a.timestamp for a, b in itertools.pairwise(edits)]
        assert all(gap >= 0.9 for gap in gaps), gaps
