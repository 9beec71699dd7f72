"""The buttons on results (Rewrite, Again, Delete) and on a queued status (Cancel), clicked
by members of the stand-in guild through the real bot process, before and after a SIGKILL."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.standins.discord import GuildSpec, StoredMessage
from tests.standins.discord.api import InteractionHandle
from tests.standins.musicgpt import HOLD
from tests.support.state import with_store
from tests.support.world import (
    World,
    embed_text,
    mg_id,
    poll_until,
    request_song,
    results_for,
    status_message_of,
    stored,
    wait_results_for,
    wait_status_of,
    wait_status_text,
    world,
)

ROOT = Path(__file__).resolve().parents[2]
# Delivery, restarts and buttons: on SQLite and on PostgreSQL (tests/e2e/conftest.py).
pytestmark = pytest.mark.usefixtures("on_both_databases")

LIMITS = {"USER_MAX_ACTIVE": "10", "USER_DAILY_QUOTA": "20"}
REWRITE_LABELS = [
    "Start",
    "End",
    "Style",
    "Lyrics of the whole song",
    "New lyrics for the replaced part",
]


async def private_answer(ix: InteractionHandle) -> str:
    """What the bot answered an interaction privately: at once (4) or after thinking (5)."""
    callback = await ix.wait_callback()
    if callback.type == 4:
        assert callback.data is not None and callback.data.get("flags", 0) & 64, callback
        return str(callback.data["content"])
    assert callback.type == 5, callback
    [answer] = await ix.wait_followups(1, timeout=30)
    assert answer.ephemeral
    return answer.content


def button_ids(message: StoredMessage) -> list[str]:
    return [
        str(component["custom_id"])
        for row in message.components
        for component in row.get("components", [])
    ]


def button_labels(message: StoredMessage) -> list[str]:
    return [
        str(component.get("label"))
        for row in message.components
        for component in row.get("components", [])
    ]


async def delivered_song(w: World, **options: Any) -> tuple[int, StoredMessage]:
    task_id = await request_song(w, **options)
    found = await wait_results_for(w, [task_id])
    await wait_status_of(w, task_id, "delivered")
    [result] = found[task_id]
    return task_id, w.dc.message(result.id)


async def with_cancel(w: World, task_id: int) -> StoredMessage:
    """The task's status message once it carries its Cancel button."""

    def check() -> StoredMessage | None:
        message = status_message_of(w, task_id)
        return message if message.components else None

    found: StoredMessage = await w.dc.wait_until(check, 10, "a Cancel button")
    return found


def outputs_of(w: World, task_id: int) -> list[dict[str, Any]]:
    return [dataclasses.asdict(o) for o in stored(w, task_id).outputs]


def new_task_ids(w: World, before: set[int]) -> list[int]:
    return [t.id for t in w.tasks() if t.id not in before]


async def rewrite(
    w: World, result: StoredMessage, custom_id: str, user_id: int, values: dict[str, str]
) -> InteractionHandle:
    ix = await w.dc.click(result, custom_id, user_id=user_id)
    callback = await ix.wait_callback()
    assert callback.type == 9, f"expected the Rewrite form, got {callback}"
    return await ix.submit_modal(values, user_id=user_id)


async def test_rewrite_by_another_member(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        parent, result = await delivered_song(w, prompt="warm soul vocal", lyrics="la la la")
        assert button_ids(result) == [
            f"song:rewrite:{parent}:1",
            f"song:rewrite:{parent}:2",
            f"song:extend:{parent}:1",
            f"song:extend:{parent}:2",
            f"song:vote:{parent}:1",
            f"song:vote:{parent}:2",
            f"song:again:{parent}",
            f"song:changes:{parent}",
            f"song:lyrics:{parent}",
            f"song:delete:{parent}",
        ]
        # In rows: per take, the votes, then the song.
        rows = [[c["label"] for c in row["components"]] for row in result.components]
        assert rows == [
            ["Rewrite 1", "Rewrite 2", "Extend 1", "Extend 2"],
            ["Take 1 · 👍 0", "Take 2 · 👍 0"],
            ["Again", "Again with changes", "Lyrics", "Delete"],
        ]
        before = {t.id for t in w.tasks()}

        ix = await w.dc.click(result, f"song:rewrite:{parent}:2", user_id=w.bob.id)
        assert (await ix.wait_callback()).type == 9
        fields = ix.modal_fields()
        assert [f.label for f in fields] == REWRITE_LABELS
        by_label = {f.label: f for f in fields}
        assert by_label["Style"].required and by_label["Start"].required
        assert not by_label["Lyrics of the whole song"].required
        assert not by_label["New lyrics for the replaced part"].required
        assert by_label["Lyrics of the whole song"].value == "la la la"  # the parent's
        submit = await ix.submit_modal(
            {
                "Start": "0.5",
                "End": "0:01.5",
                "Style": "gospel choir",
                "New lyrics for the replaced part": "hallelujah",
            },
            user_id=w.bob.id,
        )
        answer = await private_answer(submit)
        [child] = new_task_ids(w, before)
        assert f"song #{child}" in answer.lower()

        found = await wait_results_for(w, [child])
        [sent_parent, sent] = w.mg.submits
        assert sent.endpoint == "inpaint"
        assert sent.fields["audio_url"] == outputs_of(w, parent)[1]["audio_url"]
        assert sent.upload is None
        assert float(sent.fields["replace_start_at"]) == 0.5
        assert float(sent.fields["replace_end_at"]) == 1.5
        assert sent.fields["prompt"] == "gospel choir"
        assert sent.fields["lyrics"] == "la la la"
        assert sent.fields["lyrics_section_to_replace"] == "hallelujah"
        assert int(sent.fields["num_outputs"]) == 2
        assert sent.fields.get("gender") == sent_parent.fields.get("gender")

        row = stored(w, child)
        assert (row.parent_task_id, row.parent_output, row.user_id) == (
            parent,
            2,
            w.bob.id,
        )
        assert stored(w, child).user_id == w.bob.id
        # Delivered once, in the parent's channel, replying to its own status message.
        await wait_status_of(w, child, "delivered")
        [posted] = found[child]
        assert results_for(w, child) == [posted]
        assert posted.channel_id == result.channel_id
        assert posted.message_reference is not None
        assert int(posted.message_reference["message_id"]) == row.status_message_id
        assert f"Rewrite of #{parent} take 2, 0:00.5–0:01.5" in posted.content
        assert posted.notified.users == [w.bob.id]
        status = await wait_status_text(w, child, "Posted")
        assert f"Rewrite of #{parent} take 2, 0:00.5–0:01.5" in status


async def test_a_rewrite_well_into_a_long_song_is_taken(tmp_path: Path) -> None:
    """A take is as long as the instrumental it was sung over (30 s here), so the first
    Rewrite anyone would try, 0:10 to 0:20, goes to MusicGPT."""
    async with world(tmp_path, **LIMITS) as w:
        before = {t.id for t in w.tasks()}
        song = w.attach("long.mp3", "long30.mp3")
        ix = await w.dc.invoke_command("sing", {"prompt": "warm soul", "audio": song})
        assert (await ix.wait_callback()).type == 9
        await ix.submit_modal({"Lyrics": "la la la"})
        [parent] = await poll_until(lambda: new_task_ids(w, before), 30, "the song")
        [result] = (await wait_results_for(w, [parent]))[parent]
        assert [o["duration"] for o in outputs_of(w, parent)] == [30.0, 30.0]
        before = {t.id for t in w.tasks()}
        values = {"Start": "0:10", "End": "0:20", "Style": "opera"}
        answer = await private_answer(
            await rewrite(w, result, f"song:rewrite:{parent}:1", w.alice.id, values)
        )
        assert "past the end" not in answer
        [child] = await poll_until(lambda: new_task_ids(w, before), 30, "the Rewrite")
        await wait_results_for(w, [child])
        sent = w.mg.submits[-1]
        assert (sent.fields["replace_start_at"], sent.fields["replace_end_at"]) == ("10", "20")


async def test_rewrite_out_of_range_is_refused_and_charges_nothing(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        parent, result = await delivered_song(w)
        length = outputs_of(w, parent)[0]["duration"]
        assert length == 2.5  # as long as the instrumental, tone.mp3
        before = {t.id for t in w.tasks()}
        past = await rewrite(
            w,
            result,
            f"song:rewrite:{parent}:1",
            w.bob.id,
            {"Start": "1", "End": "5", "Style": "opera"},
        )
        answer = await private_answer(past)
        assert "past the end of take 1" in answer and "0:02" in answer
        reversed_range = await rewrite(
            w,
            result,
            f"song:rewrite:{parent}:1",
            w.bob.id,
            {"Start": "1.5", "End": "0:00.5", "Style": "opera"},
        )
        assert "must come before" in await private_answer(reversed_range)
        assert new_task_ids(w, before) == []
        assert len(w.mg.submits) == 1


async def test_rewrite_sends_the_posted_bytes_when_the_link_is_gone(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        parent, result = await delivered_song(w)
        [expected_take_1, _] = w.mg.output_bytes(w.mg.submits[0].task_id)
        before = {t.id for t in w.tasks()}
        files_before = len(w.mg.file_requests)
        w.mg.faults.add("files", "status", status=404, count=1)  # the link check meets it
        submit = await rewrite(
            w,
            result,
            f"song:rewrite:{parent}:1",
            w.alice.id,
            {"Start": "0", "End": "1", "Style": "brass"},
        )
        await private_answer(submit)
        [child] = new_task_ids(w, before)
        await wait_results_for(w, [child])
        assert len(w.mg.file_requests) > files_before  # it did ask MusicGPT first
        sent = w.mg.submits[1]
        assert "audio_url" not in sent.fields
        assert sent.upload is not None
        assert sent.upload.sha256 == hashlib.sha256(expected_take_1).hexdigest()
        assert stored(w, child).parent_output == 1


async def test_again_of_a_link_sends_the_same_fields(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        url = "https://example.com/song.mp3"
        ix = await w.dc.invoke_command(
            "inpaint",
            {"prompt": "opera", "start": "1", "end": "1:01.5", "audio_url": url, "gender": "male"},
            user_id=w.alice.id,
        )
        await ix.wait_callback()
        await ix.submit_modal(
            {"Lyrics of the whole song": "all words", "New lyrics for the replaced part": "new"},
            user_id=w.alice.id,
        )
        [parent] = await poll_until(lambda: [t.id for t in w.tasks()], 10, "the task")
        found = await wait_results_for(w, [parent])
        await wait_status_of(w, parent, "delivered")
        result = w.dc.message(found[parent][0].id)
        again = await w.dc.click(result, f"song:again:{parent}", user_id=w.bob.id)
        answer = await private_answer(again)
        [child] = new_task_ids(w, {parent})
        assert f"song #{child}" in answer.lower()
        await wait_results_for(w, [child])
        first, second = w.mg.submits
        assert second.endpoint == first.endpoint == "inpaint"

        def same(fields: dict[str, str]) -> dict[str, str]:
            return {k: v for k, v in fields.items() if k != "webhook_url"}  # names the task

        assert same(second.fields) == same(first.fields)
        assert second.fields["audio_url"] == url
        row = stored(w, child)
        assert (row.parent_task_id, row.parent_output, row.user_id) == (
            parent,
            None,
            w.bob.id,
        )
        assert f"Again of #{parent}" in results_for(w, child)[0].content
        assert f"Again of #{parent}" in await wait_status_text(w, child, "Posted")


@pytest.mark.skipif(
    not (ROOT / "bot" / "core" / "media" / "inputs.py").exists(),
    reason="the input store (bot/core/media/inputs.py) is absent",
)
async def test_again_of_an_upload_sends_identical_bytes(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        parent, result = await delivered_song(w, prompt="soft soul", lyrics="ooh")
        assert stored(w, parent).input_sha256
        again = await w.dc.click(result, f"song:again:{parent}", user_id=w.bob.id)
        await private_answer(again)
        [child] = new_task_ids(w, {parent})
        await wait_results_for(w, [child])
        first, second = w.mg.submits
        assert first.upload is not None and second.upload is not None
        assert second.upload.sha256 == first.upload.sha256
        assert second.fields["lyrics"] == "ooh" and second.fields["prompt"] == "soft soul"
        assert stored(w, child).parent_task_id == parent


async def test_again_of_an_upload_no_longer_kept_charges_nothing(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        parent, result = await delivered_song(w)
        if stored(w, parent).input_sha256:
            # The input store kept it: point the row at a file it never had, as if evicted.
            with_store(w.bot_database, lambda s: s.set_task_input(parent, "0" * 64))
        again = await w.dc.click(result, f"song:again:{parent}", user_id=w.bob.id)
        answer = await private_answer(again)
        assert "no longer keep" in answer and "INPUT_RETENTION_DAYS" in answer
        assert new_task_ids(w, {parent}) == []
        assert len(w.mg.submits) == 1


async def test_delete_by_requester_moderator_and_refused_for_others(tmp_path: Path) -> None:
    async with world(tmp_path, users=("alice", "bob", "dave"), moderators=["carol"], **LIMITS) as w:
        bob, carol, dave = w.bob, w.dc.user("carol"), w.dc.user("dave")
        first, first_result = await delivered_song(w, user=bob)
        refused = await w.dc.click(first_result, f"song:delete:{first}", user_id=dave.id)
        assert "can delete it" in await private_answer(refused)
        assert not w.dc.message(first_result.id).deleted

        by_requester = await w.dc.click(first_result, f"song:delete:{first}", user_id=bob.id)
        await by_requester.wait_callback()
        await w.dc.wait_until(
            lambda: w.dc.message(first_result.id).deleted, 10, "the requester's delete"
        )

        second, second_result = await delivered_song(w, user=bob)
        by_moderator = await w.dc.click(second_result, f"song:delete:{second}", user_id=carol.id)
        await by_moderator.wait_callback()
        await w.dc.wait_until(
            lambda: w.dc.message(second_result.id).deleted, 10, "the moderator's delete"
        )
        assert not w.dc.message(status_message_of(w, second).id).deleted


async def test_a_forged_button_for_another_servers_song_finds_no_song(tmp_path: Path) -> None:
    # alice owns a second server (every permission there) and forges, on a message of hers
    # in it, buttons naming bob's song in the first: each is answered as a missing song, and
    # nothing is read, charged, counted or deleted.
    async with world(tmp_path, users=("alice", "bob"), **LIMITS) as w:
        theirs, result = await delivered_song(w, user=w.bob, lyrics="words of the first")
        there = await w.dc.add_guild(GuildSpec("Second", owner_id=w.alice.id))
        channel = there.channels[0]
        assert not isinstance(channel, int)
        forged = await w.dc.post_user_message("hi", channel_id=channel.id, user_id=w.alice.id)
        actions = ["lyrics", "again", "changes", "delete", "cancel", "vote", "rewrite", "extend"]
        ids = [
            f"song:{a}:{theirs}" + (":1" if a in ("vote", "rewrite", "extend") else "")
            for a in actions
        ]
        buttons = [
            {"type": 2, "style": 2, "label": a, "custom_id": i}
            for a, i in zip(actions, ids, strict=True)
        ]
        forged.components = [
            {"type": 1, "components": buttons[:4]},
            {"type": 1, "components": buttons[4:]},
        ]
        before = {t.id for t in w.tasks()}
        answers = []
        for custom_id in ids:
            ix = await w.dc.click(forged, custom_id, user_id=w.alice.id)
            answers.append(said := await private_answer(ix))
            gone = f"I can't find song #{theirs} any more."
            expected = (
                f"Song #{theirs} has no takes to vote for any more."
                if "vote" in custom_id
                else gone
            )
            assert said == expected, custom_id
        assert new_task_ids(w, before) == [] and len(w.mg.submits) == 1
        assert not w.dc.message(result.id).deleted and not forged.deleted
        assert not any("words of the first" in said for said in answers)
        assert with_store(w.bot_database, lambda store: store.vote_counts(theirs)) == {}
        deleted = with_store(
            w.bot_database, lambda store: store.get_value(f"takes_deleted:{theirs}")
        )
        assert not deleted


async def test_cancel_while_queued_refunds_and_is_refused_for_others(tmp_path: Path) -> None:
    # dave is a plain member (alice owns the guild, so she could cancel anyone's song).
    people = {"users": ["alice", "bob", "dave"]}
    async with world(tmp_path, MUSICGPT_MAX_PARALLEL="1", USER_DAILY_QUOTA="1", **people) as w:
        w.mg.script_delays(HOLD)
        holding = await request_song(w, user=w.alice, prompt="holding the slot")
        held = await wait_status_of(w, holding, "submitted")
        queued = await request_song(w, user=w.bob, prompt="waiting")
        assert stored(w, queued).status == "queued"
        status = await with_cancel(w, queued)
        assert button_ids(status) == [f"song:cancel:{queued}"]
        assert button_ids(status_message_of(w, holding)) == []  # at MusicGPT: no Cancel

        other = await w.dc.click(status, f"song:cancel:{queued}", user_id=w.dc.user("dave").id)
        assert "Only the member who asked" in await private_answer(other)
        assert stored(w, queued).status == "queued"

        waiting = stored(w, queued)
        spool = w.database.parent / "audio"
        if isinstance(w.bot_database, str):  # PostgreSQL: the upload waits in the database
            assert waiting.audio_path is None and waiting.input_sha256
        else:
            assert Path(waiting.audio_path or "").parent == spool
        assert [p.name for p in spool.iterdir()] == (
            [Path(waiting.audio_path).name] if waiting.audio_path else []
        )
        mine = await w.dc.click(status, f"song:cancel:{queued}", user_id=w.bob.id)
        assert "Cancelled" in await private_answer(mine)
        assert not any(spool.iterdir())  # its upload left the spool with it
        row = stored(w, queued)
        assert row.status == "cancelled"
        assert stored(w, queued).quota_refunded
        await wait_status_text(w, queued, "Cancelled")
        await w.dc.wait_until(
            lambda: not status_message_of(w, queued).components, 10, "the button to go"
        )

        # Refunded: with a daily quota of 1 the next one goes through.
        again = await request_song(w, user=w.bob, prompt="next one")
        w.mg.complete_task(mg_id(held))
        await wait_results_for(w, [holding, again])
        assert [s.fields["prompt"] for s in w.mg.submits] == ["holding the slot", "next one"]
        assert stored(w, queued).musicgpt_task_id is None


async def test_every_button_works_after_a_sigkill(tmp_path: Path) -> None:
    async with world(tmp_path, MUSICGPT_MAX_PARALLEL="1", **LIMITS) as w:
        parent, result = await delivered_song(w, lyrics="before the crash")
        w.mg.script_delays(HOLD)
        holding = await request_song(w, prompt="holding the slot")
        held = await wait_status_of(w, holding, "submitted")
        queued = await request_song(w, user=w.bob, prompt="waiting")
        status = await with_cancel(w, queued)

        await w.restart_bot(kill=True)

        mine = await w.dc.click(status, f"song:cancel:{queued}", user_id=w.bob.id)
        assert "Cancelled" in await private_answer(mine)
        await wait_status_of(w, queued, "cancelled")

        before = {t.id for t in w.tasks()}
        again = await w.dc.click(result, f"song:again:{parent}", user_id=w.bob.id)
        answer = await private_answer(again)
        assert "Got it" in answer  # its upload is kept (bot.inputs)
        submit = await rewrite(
            w,
            result,
            f"song:rewrite:{parent}:1",
            w.bob.id,
            {"Start": "0.5", "End": "1", "Style": "choir"},
        )
        assert "Got it" in await private_answer(submit)
        fresh = new_task_ids(w, before)
        rewrite_id = next(t for t in fresh if stored(w, t).parent_output == 1)
        w.mg.complete_task(mg_id(held))
        found = await wait_results_for(w, [holding, *fresh])
        assert len(found[rewrite_id]) == 1
        assert f"Rewrite of #{parent} take 1" in found[rewrite_id][0].content
        [rewrite_sent] = [s for s in w.mg.submits if s.fields["prompt"] == "choir"]
        assert rewrite_sent.fields["lyrics"] == "before the crash"  # prefilled from the row
        assert rewrite_sent.fields["audio_url"] == outputs_of(w, parent)[0]["audio_url"]
        first, *_, again_sent = [s for s in w.mg.submits if s.fields["prompt"] == "warm soul vocal"]
        assert again_sent is not first and first.upload and again_sent.upload
        assert again_sent.upload.sha256 == first.upload.sha256

        refused = await w.dc.click(result, f"song:delete:{parent}", user_id=w.bob.id)
        assert "can delete it" in await private_answer(refused)
        deleted = await w.dc.click(result, f"song:delete:{parent}", user_id=w.alice.id)
        await deleted.wait_callback()
        await w.dc.wait_until(lambda: w.dc.message(result.id).deleted, 10, "the delete")
        assert embed_text(status_message_of(w, queued)).count("Cancelled") == 1


async def test_a_late_cancel_click_is_told_musicgpt_has_it(tmp_path: Path) -> None:
    async with world(tmp_path, MUSICGPT_MAX_PARALLEL="1", **LIMITS) as w:
        w.mg.script_delays(HOLD, HOLD)
        holding = await request_song(w, prompt="holding the slot")
        held = await wait_status_of(w, holding, "submitted")
        queued = await request_song(w, user=w.bob, prompt="waiting")
        status = await with_cancel(w, queued)
        # Discord refuses every edit of that status, so its Cancel button outlives the queue,
        # as it does for a member whose client showed it a moment before the edit.
        w.dc.faults.add("PATCH", rf"/messages/{status.id}$", 403, count=None)
        w.mg.complete_task(mg_id(held))
        await wait_status_of(w, queued, "submitted")
        late = await w.dc.click(status, f"song:cancel:{queued}", user_id=w.bob.id)
        assert "already with MusicGPT, so it can't be cancelled" in await private_answer(late)
        assert stored(w, queued).status == "submitted"
        assert not stored(w, queued).quota_refunded


async def test_a_rewrite_form_opened_before_a_restart_is_answered(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        parent, result = await delivered_song(w)
        ix = await w.dc.click(result, f"song:rewrite:{parent}:1", user_id=w.bob.id)
        assert (await ix.wait_callback()).type == 9
        await w.restart_bot(kill=True)
        submit = await ix.submit_modal(
            {"Start": "0", "End": "1", "Style": "choir"}, user_id=w.bob.id
        )
        assert "Click Rewrite again" in await private_answer(submit)
        assert [t.id for t in w.tasks()] == [parent] and len(w.mg.submits) == 1
