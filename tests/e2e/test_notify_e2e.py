"""/notify through the real bot: a DM copy of each song, once, after the channel post; closed
DMs leave the channel post alone and are noted on the status; a SIGKILL between sending the
copy and recording it sends no second one."""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Any

from bot.core.models import Task
from tests.standins.discord import InteractionHandle, StoredMessage, UserSpec
from tests.support.world import (
    DatabaseLock,
    World,
    marker,
    mg_id,
    poll_until,
    request_song,
    results_for,
    stored,
    wait_status_of,
    wait_status_text,
    wait_task,
    world,
)

LIMITS = {"USER_MAX_ACTIVE": "10", "USER_DAILY_QUOTA": "20"}
CLOSED_NOTE = "I couldn't DM you a copy (your DMs are closed)."


async def notify(w: World, user: UserSpec, dm: bool) -> str:
    """/notify dm:<dm> as `user`; the private answer."""
    ix: InteractionHandle = await w.dc.invoke_command("notify", {"dm": dm}, user_id=user.id)
    callback = await ix.wait_callback()
    assert callback.type == 4 and callback.data is not None, callback
    assert callback.data.get("flags", 0) & 64, "the answer must be private"
    return str(callback.data["content"])


def dm_messages(w: World, user: UserSpec) -> list[StoredMessage]:
    """What the bot sent `user` in their DM with it."""
    channel = w.dc.dm_channel(user.id)
    return [m for m in w.dc.messages(channel_id=channel.id) if m.author_id == w.dc.bot_user.id]


def copies_of(w: World, user: UserSpec, task_id: int) -> list[StoredMessage]:
    return [m for m in dm_messages(w, user) if marker(task_id) in m.content]


def dm_posts(w: World, user: UserSpec, task_id: int) -> list:
    """Every message the bot asked Discord to send `user` by DM for this song, answered or not."""
    path = rf"/channels/{w.dc.dm_channel(user.id).id}/messages$"
    return [
        r
        for r in w.dc.find_requests("POST", path=path)
        if marker(task_id) in ((r.json or {}).get("content") or "")
    ]


async def wait_copy_state(w: World, task_id: int, state: str) -> Task:
    return await wait_task(w, task_id, lambda r: r.dm_state == state, f"DM copy {state}")


async def test_notify_sends_one_dm_copy_after_the_post_and_off_stops_it(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        answer = await notify(w, w.alice, True)
        assert "DM" in answer and "Done" in answer

        task_id = await request_song(w)
        row = await wait_copy_state(w, task_id, "sent")
        [post] = results_for(w, task_id)  # the channel post, as without /notify
        assert len(post.files) == 2
        [copy] = copies_of(w, w.alice, task_id)
        assert row.dm_message_id == copy.id
        # The takes as files, the same bytes MusicGPT made, and a link to the channel post.
        assert sorted(copy.files.values()) == sorted(w.mg.output_bytes(mg_id(row)))
        link = f"https://discord.com/channels/{w.dc.guild_id}/{post.channel_id}/{post.id}"
        assert link in copy.content
        assert copy.id > post.id  # sent after the channel post
        assert not copy.notified.users  # a DM pings nobody
        assert dm_messages(w, w.bob) == []  # bob never asked for copies
        assert "couldn't DM" not in await wait_status_text(w, task_id, "Posted 2 takes")

        # Off: the next song is posted in the channel only. The copy is decided in the same
        # write that records the delivery, so once delivered, none will ever come.
        assert "only in the channel" in await notify(w, w.alice, False)
        second = await request_song(w, prompt="second")
        done = await wait_status_of(w, second, "delivered")
        assert done.dm_state is None
        assert len(results_for(w, second)) == 1
        assert copies_of(w, w.alice, second) == [] and dm_posts(w, w.alice, second) == []
        assert len(dm_messages(w, w.alice)) == 1


async def test_closed_dms_leave_the_channel_post_and_the_status_notes_it(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        await notify(w, w.alice, True)
        w.dc.user("alice").dms_closed = True
        task_id = await request_song(w)
        row = await wait_copy_state(w, task_id, "refused")
        assert row.status == "delivered"
        [post] = results_for(w, task_id)
        assert sorted(post.files.values()) == sorted(w.mg.output_bytes(mg_id(row)))
        text = await wait_status_text(w, task_id, CLOSED_NOTE)
        assert "Posted 2 takes" in text and text.count(CLOSED_NOTE) == 1
        # Discord said 50007 once; the bot didn't ask again.
        [refused] = dm_posts(w, w.alice, task_id)
        assert refused.status == 403
        assert row.dm_attempts == 1 and dm_messages(w, w.alice) == []


def big_wav(size: int, salt: int) -> bytes:
    """A valid WAV of about `size` bytes; `salt` makes each one's bytes differ."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(44100)
        wav.writeframes(bytes([salt, 16]) * (size // 2))
    return buffer.getvalue()


async def test_what_is_too_big_for_a_dm_is_a_link_there(tmp_path: Path) -> None:
    """Two 6 MB takes fit the server's 50 MB (tier 2) but not Discord's 10 MB in a DM: the
    copy attaches the first and links the second."""

    def outputs(task: Any) -> list[bytes]:
        return [big_wav(6 * 1024 * 1024, n) for n, _ in enumerate(task.conversion_ids)]

    async with world(tmp_path, premium_tier=2, mg_options={"outputs": outputs}, **LIMITS) as w:
        await notify(w, w.alice, True)
        task_id = await request_song(w)
        row = await wait_copy_state(w, task_id, "sent")
        first, second = w.mg.output_bytes(mg_id(row))
        [post] = results_for(w, task_id)
        assert sorted(post.files.values()) == sorted([first, second])
        [copy] = copies_of(w, w.alice, task_id)
        assert list(copy.files.values()) == [first]
        assert copy.content.count("too big to attach here, download: <http") == 1


async def test_a_button_copies_to_the_member_who_clicked(tmp_path: Path) -> None:
    """Again is the clicker's song: the copy goes to them, not to the first song's member."""
    async with world(tmp_path, **LIMITS) as w:
        await notify(w, w.bob, True)
        parent = await request_song(w)  # alice's, who wants no copies
        await wait_status_of(w, parent, "delivered")
        [result] = results_for(w, parent)
        before = {t.id for t in w.tasks()}
        await w.dc.click(result, f"song:again:{parent}", user_id=w.bob.id)
        [child] = await poll_until(
            lambda: [t.id for t in w.tasks() if t.id not in before], 30, "the Again song"
        )
        await wait_copy_state(w, child, "sent")
        assert len(copies_of(w, w.bob, child)) == 1
        assert dm_messages(w, w.alice) == []
        assert stored(w, parent).dm_state is None


async def test_sigkill_between_the_dm_and_recording_it_sends_no_second_copy(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, **LIMITS) as w:
        await notify(w, w.alice, True)
        dm_channel = w.dc.dm_channel(w.alice.id).id
        # Discord holds the DM 3 s before storing it: time to freeze the bot's database.
        w.dc.faults.add("POST", rf"/channels/{dm_channel}/messages$", None, count=1, delay=3.0)
        task_id = await request_song(w)
        await poll_until(lambda: dm_posts(w, w.alice, task_id), 30, "the DM copy to be sent")
        async with DatabaseLock(w.bot_database) as lock:
            await w.dc.wait_until(
                lambda: copies_of(w, w.alice, task_id), 15, "Discord to store the DM copy"
            )
            await w.bot.stop(kill=True)
            at_kill = lock.rows()[task_id]
        assert at_kill["status"] == "delivered"
        assert (at_kill["dm_state"], at_kill["dm_message_id"]) == ("sending", None)

        w.dc.faults.clear()
        await w.restart_bot(kill=True)
        row = await wait_copy_state(w, task_id, "sent")
        [copy] = copies_of(w, w.alice, task_id)
        assert row.dm_message_id == copy.id and row.dm_attempts == 2
        assert len(dm_posts(w, w.alice, task_id)) == 1  # found, not sent again
        assert len(results_for(w, task_id)) == 1

        # And once recorded, another SIGKILL and start sends nothing more.
        await w.restart_bot(kill=True)
        await wait_status_text(w, task_id, "Posted 2 takes")
        assert stored(w, task_id).dm_attempts == 2
        assert len(dm_posts(w, w.alice, task_id)) == 1
