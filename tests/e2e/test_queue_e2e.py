"""/queue and cancelling someone else's song, through the real bot and the stand-ins.

alice owns the guild; bob and dave are plain members; carol holds "Moderators" (Manage
Messages). MUSICGPT_MAX_PARALLEL=1 and a song held at MusicGPT keep the others in line.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from tests.e2e.test_buttons_e2e import private_answer, with_cancel
from tests.standins.discord import StoredMessage, UserSpec
from tests.standins.musicgpt import HOLD
from tests.support import state
from tests.support.world import (
    World,
    mg_id,
    request_song,
    status_message_of,
    wait_results_for,
    wait_status_of,
    wait_status_text,
    world,
)

LIMITS = {"USER_MAX_ACTIVE": "10", "USER_DAILY_QUOTA": "2", "MUSICGPT_MAX_PARALLEL": "1"}
PEOPLE: dict[str, Any] = {"users": ["alice", "bob", "dave"], "moderators": ["carol"]}


async def queue_answer(w: World, user: UserSpec) -> tuple[dict[str, Any], StoredMessage]:
    """/queue as `user`: the private answer's data and its stored message."""
    ix = await w.dc.invoke_command("queue", {}, user_id=user.id)
    callback = await ix.wait_callback()
    assert callback.type == 4 and callback.ephemeral, callback
    assert callback.data is not None and callback.message_id is not None
    return callback.data, w.dc.message(callback.message_id)


def cancelled_by(w: World, task_id: int) -> str | None:
    """The status's "Cancelled by" field: who, as a mention (embeds ping no one)."""
    fields = status_message_of(w, task_id).embeds[0].get("fields", [])
    return next((f["value"] for f in fields if f["name"] == "Cancelled by"), None)


async def test_queue_lists_the_servers_songs_in_order_privately(tmp_path: Path) -> None:
    async with world(tmp_path, **PEOPLE, **LIMITS) as w:
        dave = w.dc.user("dave")
        w.mg.script_delays(HOLD)
        holding = await request_song(w, user=w.alice, prompt="holding the slot")
        held = await wait_status_of(w, holding, "submitted")
        first = await request_song(w, user=w.bob, prompt="first in line")
        second = await request_song(w, user=dave, prompt="second in line")

        data, message = await queue_answer(w, w.bob)
        lines = data["content"].splitlines()
        assert lines[0] == "**Songs here, in order**: 1 song under way, 2 waiting."
        assert lines[1].startswith(f"**#{holding}** · sing · <@{w.alice.id}> · 🎙️ with MusicGPT")
        assert lines[2].startswith(f"**#{first}** · sing · <@{w.bob.id}> · ⏳ waiting, #1 in line")
        assert lines[3].startswith(f"**#{second}** · sing · <@{dave.id}> · ⏳ waiting, #2 in line")
        assert "asked <t:" in lines[3]
        assert (data.get("allowed_mentions") or {}).get("parse") == []
        assert message.notified_mentions.users == []  # listed, nobody pinged
        assert not message.components  # a plain member gets no menu

        w.mg.complete_task(mg_id(held))
        await wait_results_for(w, [holding, first, second], timeout=60)
        data, _ = await queue_answer(w, w.bob)
        assert data["content"].startswith("Nothing is waiting or being made here")


async def test_a_moderator_cancels_another_members_song_refunded_and_told(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, **PEOPLE, **LIMITS) as w:
        carol, dave = w.dc.user("carol"), w.dc.user("dave")
        w.mg.script_delays(HOLD)
        holding = await request_song(w, user=w.alice, prompt="holding the slot")
        held = await wait_status_of(w, holding, "submitted")
        queued = await request_song(w, user=w.bob, prompt="waiting")
        status = await with_cancel(w, queued)

        # A plain member can't cancel someone else's song.
        refused = await w.dc.click(status, f"song:cancel:{queued}", user_id=dave.id)
        assert "or someone who may manage messages here" in await private_answer(refused)
        assert state.task(w.database, queued).status == "queued"

        # A moderator can, with the song's own Cancel button.
        by_mod = await w.dc.click(status, f"song:cancel:{queued}", user_id=carol.id)
        answer = await private_answer(by_mod)
        assert answer.startswith(f"Cancelled song #{queued}, asked by <@{w.bob.id}>")
        assert state.task(w.database, queued).status == "cancelled"
        assert state.task(w.database, queued).quota_refunded
        await wait_status_text(w, queued, "Cancelled by a moderator")
        assert cancelled_by(w, queued) == f"<@{carol.id}>"
        await w.dc.wait_until(
            lambda: not status_message_of(w, queued).components, 10, "the button to go"
        )

        # bob is told, under the status, pinged alone.
        def told() -> StoredMessage | None:
            return next(
                (
                    m
                    for m in w.channel_messages(lambda m: m.author_id == w.dc.bot_user.id)
                    if m.content.startswith(f"<@{w.bob.id}>, <@{carol.id}> cancelled your")
                ),
                None,
            )

        notice: StoredMessage = await w.dc.wait_until(told, 10, "the requester to be told")
        assert notice.notified_mentions.users == [w.bob.id]
        assert (notice.message_reference or {}).get("message_id") == str(status.id)

        # The refund counts: with 2 a day, bob can still make two songs.
        again = await request_song(w, user=w.bob, prompt="next one")
        last = await request_song(w, user=w.bob, prompt="and one more")

        # From /queue: a moderator's menu cancels any waiting song the same way.
        data, menu_message = await queue_answer(w, carol)
        assert "of anyone's here" in data["content"]
        [row] = menu_message.components
        [menu] = row["components"]
        assert [o["value"] for o in menu["options"]] == [str(again), str(last)]
        picked = await w.dc.select(menu_message, menu["custom_id"], [str(last)], user_id=carol.id)
        assert f"Cancelled song #{last}, asked by <@{w.bob.id}>" in await private_answer(picked)
        assert state.task(w.database, last).status == "cancelled"
        assert state.task(w.database, last).quota_refunded
        await wait_status_text(w, last, "Cancelled by a moderator")
        assert cancelled_by(w, last) == f"<@{carol.id}>"

        w.mg.complete_task(mg_id(held))
        await wait_results_for(w, [holding, again], timeout=60)
        assert [s.fields["prompt"] for s in w.mg.submits] == ["holding the slot", "next one"]


async def test_a_moderators_cancel_is_still_named_after_a_restart(tmp_path: Path) -> None:
    """Killed before the status caught up with a moderator's cancel: after the restart, a
    click on the Cancel button left behind redraws it, still naming the moderator."""
    async with world(tmp_path, **PEOPLE, **LIMITS) as w:
        carol = w.dc.user("carol")
        w.mg.script_delays(HOLD)
        holding = await request_song(w, user=w.alice, prompt="holding the slot")
        await wait_status_of(w, holding, "submitted")
        queued = await request_song(w, user=w.bob, prompt="waiting")
        status = await with_cancel(w, queued)
        before = copy.deepcopy((status.embeds, status.components))

        by_mod = await w.dc.click(status, f"song:cancel:{queued}", user_id=carol.id)
        await private_answer(by_mod)
        await wait_status_text(w, queued, "Cancelled by a moderator")
        await w.bot.stop(kill=True)
        # As if the kill had come before the redraw: the message still shows the queued song.
        status.embeds, status.components = before
        await w.start_bot()

        stale = await w.dc.click(status, f"song:cancel:{queued}", user_id=w.bob.id)
        assert "already cancelled" in await private_answer(stale)
        await wait_status_text(w, queued, "Cancelled by a moderator")
        assert cancelled_by(w, queued) == f"<@{carol.id}>"
        await w.dc.wait_until(lambda: not status.components, 10, "the button to go")
