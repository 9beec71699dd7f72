"""SIGKILL the real bot with requests in every state, restart it: each is delivered exactly once.

The four states the issue names, all at the same kill:

* queued: MUSICGPT_MAX_PARALLEL=1 and another request held at MusicGPT in front of it;
* submitted: held at MusicGPT (HOLD), finished only after the restart;
* finished but undelivered: MusicGPT is done, but Discord answers every POST to that channel
  with 500, so the result can't be posted;
* mid-delivery: the delivery is claimed, Discord has stored the result message, and the bot
  dies before recording it. The test freezes the bot right there by holding SQLite's write
  lock (the bot's `mark_delivered` blocks) and kills it once the stand-in stored the message.

The requests in the second and third states get channels of their own, so the Discord faults
touch only them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.standins.musicgpt import HOLD
from tests.support import state
from tests.support.world import (
    DatabaseLock,
    marker,
    mg_id,
    poll_until,
    request_song,
    results_for,
    status_messages_for,
    stored,
    wait_results_for,
    wait_status_of,
    wait_status_text,
    world,
)

# Delivery, restarts and buttons: on SQLite and on PostgreSQL (tests/e2e/conftest.py).
pytestmark = pytest.mark.usefixtures("on_both_databases")

LIMITS = {"USER_MAX_ACTIVE": "10", "USER_DAILY_QUOTA": "20"}


async def test_sigkill_in_every_state_then_each_request_delivered_once(tmp_path: Path) -> None:
    async with world(tmp_path, channels=3, MUSICGPT_MAX_PARALLEL="1", **LIMITS) as w:
        main, mid_channel, broken_channel = w.dc.channel_ids()
        mg = w.mg

        # Finished but undelivered: every post to its channel fails with 500.
        mg.script_delays(HOLD)
        undelivered = await request_song(w, channel_id=broken_channel, prompt="undelivered")
        row = await wait_status_of(w, undelivered, "submitted")
        w.dc.faults.add("POST", rf"/channels/{broken_channel}/messages$", 500, count=None)
        mg.complete_task(mg_id(row))
        await w.dc.wait_for_request(
            "POST", rf"/channels/{broken_channel}/messages$", lambda r: r.status == 500
        )

        # Mid-delivery (held at MusicGPT for now), then one submitted and one queued behind it.
        mg.script_delays(HOLD, HOLD, 0.5)
        mid = await request_song(w, channel_id=mid_channel, prompt="mid-delivery")
        mid_row = await wait_status_of(w, mid, "submitted")
        submitted = await request_song(w, channel_id=main, prompt="submitted")
        queued = await request_song(w, channel_id=main, prompt="queued")
        assert stored(w, submitted).status == "queued"
        assert stored(w, queued).status == "queued"

        # Discord holds the result post 5 s before storing it: time for the queued request to
        # take the freed slot and for the test to take the lock (checked below, never assumed).
        w.dc.faults.add("POST", rf"/channels/{mid_channel}/messages$", None, count=1, delay=5.0)
        mg.complete_task(mg_id(mid_row))

        def result_post_arrived() -> bool:
            return any(
                marker(mid) in ((r.json or {}).get("content") or "")
                for r in w.dc.find_requests("POST", path=rf"/channels/{mid_channel}/messages$")
            )

        await poll_until(result_post_arrived, 30, "the result post of the mid-delivery request")
        await wait_status_of(w, submitted, "submitted")  # took the slot `mid` freed

        async with DatabaseLock(w.bot_database) as lock:
            await w.dc.wait_until(
                lambda: results_for(w, mid), 15, "Discord to store the mid-delivery result"
            )
            await w.bot.stop(kill=True)
            at_kill = lock.rows()  # nothing could be written since the lock was taken

        assert at_kill[queued]["status"] == "queued"
        assert at_kill[submitted]["status"] == "submitted"
        assert at_kill[undelivered]["status"] in ("completed", "delivering")
        assert at_kill[mid]["status"] == "delivering"
        assert at_kill[mid]["delivered_message_ids"] == "[]"  # posted, but never recorded
        assert results_for(w, undelivered) == []
        assert len(results_for(w, mid)) == 1

        w.dc.faults.clear()
        await w.restart_bot(kill=True)

        # The submitted one finishes after the restart; its webhook still reaches the bot
        # (the secret path is kept in the database), and the queued one goes out after it.
        mg.complete_task(at_kill[submitted]["musicgpt_task_id"])
        everyone = [queued, submitted, undelivered, mid]
        for task_id in everyone:
            await wait_status_of(w, task_id, "delivered", timeout=60)
            await wait_status_text(w, task_id, "Posted 2 takes")
        results = await wait_results_for(w, everyone)

        for task_id in everyone:
            assert len(results[task_id]) == 1, f"request #{task_id}: {results[task_id]}"
            [result] = results[task_id]
            assert len(result.files) == 2
            row = stored(w, task_id)
            assert row.delivered_message_ids == (int(result.id),)
            assert len(status_messages_for(w, task_id)) == 1  # updated, never re-posted
            assert not stored(w, task_id).quota_refunded
        # The restarted bot found its own message instead of posting the mid-delivery one again.
        mid_posts = [
            r
            for r in w.dc.find_requests("POST", path=rf"/channels/{mid_channel}/messages$")
            if marker(mid) in ((r.json or {}).get("content") or "")
        ]
        assert len(mid_posts) == 1
        assert stored(w, mid).delivery_attempts == 2
        # One MusicGPT task per request: nothing was submitted twice.
        accepted = [s for s in mg.submits if s.status == 200]
        assert len(accepted) == 4
        assert len({s.task_id for s in accepted}) == 4


async def test_sigkill_while_musicgpt_finishes_then_polled_and_delivered(tmp_path: Path) -> None:
    """Polling only: MusicGPT finishes while the bot is dead; the new process polls it."""
    async with world(tmp_path, webhooks=False, **LIMITS) as w:
        w.mg.script_delays(HOLD)
        task_id = await request_song(w)
        row = await wait_status_of(w, task_id, "submitted")
        await w.bot.stop(kill=True)
        w.mg.complete_task(mg_id(row))
        await w.mg.wait_task_final(mg_id(row))
        await w.restart_bot(kill=True)

        [result] = (await wait_results_for(w, [task_id]))[task_id]
        await wait_status_text(w, task_id, "Posted 2 takes")
        assert sorted(result.files.values()) == sorted(w.mg.output_bytes(mg_id(row)))
        assert len(results_for(w, task_id)) == 1
        assert len(status_messages_for(w, task_id)) == 1
        assert len(w.mg.submits) == 1


async def test_crash_after_posting_in_a_busy_channel_is_not_posted_again(tmp_path: Path) -> None:
    """The result went out, the bot died before recording it, and by then the channel had
    moved on by more than a page of history: the restarted bot must still find its post."""
    async with world(tmp_path, **LIMITS) as w:
        w.mg.script_delays(HOLD)
        task_id = await request_song(w)
        row = await wait_status_of(w, task_id, "submitted")
        for n in range(150):  # people keep chatting while MusicGPT works
            await w.dc.post_user_message(f"chat {n}", user_id=w.bob.id)
        w.dc.faults.add("POST", r"/channels/\d+/messages$", None, count=1, delay=2.0)
        w.mg.complete_task(mg_id(row))
        await poll_until(
            lambda: any(
                marker(task_id) in ((r.json or {}).get("content") or "")
                for r in w.dc.find_requests("POST", path=r"/channels/\d+/messages$")
            ),
            30,
            "the result post",
        )
        async with DatabaseLock(w.bot_database) as lock:
            await w.dc.wait_until(lambda: results_for(w, task_id), 15, "the result to be stored")
            await w.bot.stop(kill=True)
            assert lock.rows()[task_id]["status"] == "delivering"
        for n in range(20):  # and after it
            await w.dc.post_user_message(f"later {n}", user_id=w.bob.id)

        await w.restart_bot(kill=True)
        await wait_status_of(w, task_id, "delivered")
        await wait_status_text(w, task_id, "Posted 2 takes")
        assert len(results_for(w, task_id)) == 1
        [result] = results_for(w, task_id)
        assert stored(w, task_id).delivered_message_ids == (int(result.id),)


async def test_sigkill_during_the_submit_fails_with_a_refund_and_the_bot_still_starts(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        w.mg.faults.add("sing", "slow", seconds=60)  # the upload never gets its answer
        task_id = await request_song(w)
        await wait_status_of(w, task_id, "submitting")
        # Killed once MusicGPT has the upload (the row says "submitting" a moment earlier).
        await poll_until(lambda: w.mg.submits, 30, "MusicGPT receiving the submit")
        await w.bot.stop(kill=True)
        w.mg.faults.clear()

        await w.start_bot()  # must not hang on the stranded task
        await wait_status_of(w, task_id, "failed")
        text = await wait_status_text(w, task_id, "doesn't count against your daily quota")
        assert "I restarted while sending this to MusicGPT" in text
        assert stored(w, task_id).quota_refunded
        assert len(w.mg.submits) == 1  # never sent a second time


async def test_sigkill_between_sending_the_status_and_recording_it_posts_no_second(
    tmp_path: Path,
) -> None:
    """Discord stored the status message, the bot died before recording its id: the restarted
    bot finds that message (and its send's nonce would return it too) and edits it."""
    async with world(tmp_path, **LIMITS) as w:
        w.mg.script_delays(HOLD)
        channel = w.dc.channel_ids()[0]
        # Discord holds the status post 3 s before storing it: time to take the lock.
        w.dc.faults.add("POST", rf"/channels/{channel}/messages$", None, count=1, delay=3.0)
        ix = await w.dc.invoke_command(
            "sing", {"prompt": "killed early", "audio": w.attach("beat.mp3", "tone.mp3")}
        )
        assert (await ix.wait_callback()).type == 9
        await ix.submit_modal({"Lyrics": "la la la"})
        task_id = await poll_until(lambda: [t.id for t in w.tasks()], 30, "the task")
        task_id = task_id[0]
        async with DatabaseLock(w.bot_database) as lock:
            await w.dc.wait_until(
                lambda: status_messages_for(w, task_id), 15, "Discord to store the status"
            )
            await w.bot.stop(kill=True)
            at_kill = lock.rows()[task_id]
        assert at_kill["status_message_id"] is None  # sent, but never recorded
        [status] = status_messages_for(w, task_id)

        await w.restart_bot(kill=True)
        await poll_until(
            lambda: state.task(w.bot_database, task_id).status_message_id,
            30,
            "the status to be adopted",
        )
        # Queued at the kill: it goes out now; with MusicGPT already: it carries on; caught
        # mid-submit: it fails, refunded.
        if at_kill["status"] in ("queued", "submitted"):
            row = await wait_status_of(w, task_id, "submitted")
            w.mg.complete_task(str(row.musicgpt_task_id))
            await wait_status_text(w, task_id, "Posted 2 takes")
        else:
            await wait_status_text(w, task_id, "I restarted while sending this")
        assert [m.id for m in status_messages_for(w, task_id)] == [status.id]
        assert state.task(w.bot_database, task_id).status_message_id == status.id
