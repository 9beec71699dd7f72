"""Issue 20's answers and ways forward, through the real bot between the stand-ins: the form's
private answer at once (in line with Cancel, then edited: with MusicGPT, or cancelled), Try
again on a failed song, Edit and retry on a refused form, Again with changes, Lyrics, and
Delete's private answer and status."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_budget_e2e import write_settings
from tests.e2e.test_buttons_e2e import (
    LIMITS,
    button_ids,
    button_labels,
    delivered_song,
    new_task_ids,
    outputs_of,
    private_answer,
    rewrite,
)
from tests.standins.discord import StoredMessage
from tests.standins.discord.api import InteractionHandle
from tests.standins.musicgpt import HOLD
from tests.support import state
from tests.support.world import (
    World,
    embed_text,
    request_song,
    status_message_of,
    wait_results_for,
    wait_status_of,
    wait_status_text,
    world,
)


async def sing(w: World, user_id: int, lyrics: str = "la la la") -> InteractionHandle:
    """/sing with an upload, the lyrics typed: the form's submit."""
    ix = await w.dc.invoke_command(
        "sing", {"prompt": "warm soul", "audio": w.attach("beat.mp3", "tone.mp3")}, user_id=user_id
    )
    assert (await ix.wait_callback()).type == 9
    return await ix.submit_modal({"Lyrics": lyrics}, user_id=user_id)


async def answer_of(submit: InteractionHandle, text: str, timeout: float = 20) -> StoredMessage:
    """The submit's private answer once it says `text`."""
    found: StoredMessage = await submit.wait_original(lambda m: text in m.content, timeout)
    assert found.ephemeral
    return found


async def test_the_private_answer_comes_at_once_and_follows_the_song(tmp_path: Path) -> None:
    async with world(tmp_path, MUSICGPT_MAX_PARALLEL="1", **LIMITS) as w:
        w.mg.script_delays(HOLD)
        holding = await request_song(w, prompt="holding the slot")
        held = await wait_status_of(w, holding, "submitted")

        # In line: said at once (no 10 s wait), with its position and a Cancel.
        queued_submit = await sing(w, w.bob.id)
        answer = await answer_of(queued_submit, "in line", timeout=5)
        [queued] = [t.id for t in w.tasks() if t.id != holding]
        assert answer.content.startswith(f"Got it! Song #{queued} is #1 in line for MusicGPT.")
        assert button_ids(answer) == [f"song:cancel:{queued}"]

        # Cancelled from the status: the answer says so, and its Cancel goes.
        status = status_message_of(w, queued)
        assert "Cancelled" in await private_answer(
            await w.dc.click(status, f"song:cancel:{queued}", user_id=w.bob.id)
        )
        cancelled = await answer_of(queued_submit, "was cancelled")
        assert cancelled.content == (
            f"🚫 Song #{queued} was cancelled before it went to MusicGPT; nothing was charged."
        )
        assert button_ids(cancelled) == []
        assert "with MusicGPT" not in cancelled.content

        # In line, then sent: edited to "with MusicGPT" once the slot frees.
        before = {t.id for t in w.tasks()}
        waiting_submit = await sing(w, w.bob.id)
        await answer_of(waiting_submit, "#1 in line", timeout=5)
        [waiting] = new_task_ids(w, before)
        w.mg.complete_task(str(held.musicgpt_task_id))
        sent = await answer_of(waiting_submit, "is with MusicGPT")
        assert sent.content.startswith(f"Got it! Song #{waiting} is with MusicGPT.")
        assert button_ids(sent) == []


async def test_try_again_on_a_failed_song(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        w.mg.script_delays(HOLD)
        failed = await request_song(w, prompt="doomed", lyrics="la di da")
        row = await wait_status_of(w, failed, "submitted")
        w.mg.fail_task(str(row.musicgpt_task_id), "the model fell over")
        await wait_status_of(w, failed, "failed")

        def with_try_again() -> StoredMessage | None:
            message = status_message_of(w, failed)
            return message if message.components else None

        status: StoredMessage = await w.dc.wait_until(with_try_again, 10, "Try again")
        assert button_labels(status) == ["Try again"]
        assert button_ids(status) == [f"song:tryagain:{failed}"]

        before = {t.id for t in w.tasks()}
        w.mg.script_delays(0.2)
        answer = await private_answer(
            await w.dc.click(status, f"song:tryagain:{failed}", user_id=w.bob.id)
        )
        [child] = new_task_ids(w, before)
        assert f"Song #{child}" in answer
        await wait_results_for(w, [child])
        first, second = w.mg.submits
        assert first.upload is not None and second.upload is not None
        assert second.upload.sha256 == first.upload.sha256  # the kept upload's bytes
        assert second.fields["prompt"] == "doomed" and second.fields["lyrics"] == "la di da"
        assert state.task(w.database, child).parent_task_id == failed
        assert state.task(w.database, child).user_id == w.bob.id  # charged to who clicked
        assert f"Again of #{failed}" in await wait_status_text(w, child, "Posted")


async def test_edit_and_retry_after_a_range_past_the_song(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        # /inpaint's end past the end of tone.mp3 (2.5 s): refused after the form.
        ix = await w.dc.invoke_command(
            "inpaint",
            {
                "prompt": "opera",
                "start": "1",
                "end": "1:10",
                "audio": w.attach("song.mp3", "tone.mp3"),
            },
            user_id=w.alice.id,
        )
        assert (await ix.wait_callback()).type == 9
        submit = await ix.submit_modal({"Lyrics of the whole song": "all the words"})
        [refusal] = await submit.wait_followups(1, timeout=20)
        assert "past the end of the song" in refusal.content
        assert button_labels(refusal) == ["Edit and retry"]
        [retry_id] = button_ids(refusal)
        assert retry_id.startswith("song:retry:")
        assert w.tasks() == []

        # Someone else can't; the member gets the form back with what was typed.
        other = await w.dc.click(refusal, retry_id, user_id=w.bob.id)
        assert "Only the member who filled in" in await private_answer(other)
        again = await w.dc.click(refusal, retry_id, user_id=w.alice.id)
        assert (await again.wait_callback()).type == 9
        shown = {f.label: f.value for f in again.modal_fields()}
        assert shown["Start"] == "0:01" and shown["End"] == "1:10"
        assert shown["Style"] == "opera"
        assert shown["Lyrics of the whole song"] == "all the words"
        retried = await again.submit_modal({"End": "0:02"}, user_id=w.alice.id)
        answer = await private_answer(retried)
        [task] = [t.id for t in w.tasks()]
        assert f"Song #{task}" in answer
        await wait_results_for(w, [task])
        [sent] = w.mg.submits
        assert sent.upload is not None  # the upload, held while the refusal could be retried
        assert float(sent.fields["replace_end_at"]) == 2.0
        assert sent.fields["lyrics"] == "all the words"


async def test_edit_and_retry_after_a_rewrite_past_its_take(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        parent, result = await delivered_song(w)
        past = await rewrite(
            w,
            result,
            f"song:rewrite:{parent}:1",
            w.bob.id,
            {"Start": "1", "End": "0:10", "Style": "opera"},
        )
        callback = await past.wait_callback()
        assert callback.type == 4 and callback.data is not None
        assert "End (0:10) is past the end of take 1" in str(callback.data["content"])
        refusal = past.original_message
        assert refusal is not None and button_labels(refusal) == ["Edit and retry"]
        again = await w.dc.click(refusal, button_ids(refusal)[0], user_id=w.bob.id)
        assert (await again.wait_callback()).type == 9
        shown = {f.label: f.value for f in again.modal_fields()}
        assert (shown["Start"], shown["End"], shown["Style"]) == ("1", "0:10", "opera")
        before = {t.id for t in w.tasks()}
        retried = await again.submit_modal({"End": "2"}, user_id=w.bob.id)
        answer = await private_answer(retried)
        [child] = new_task_ids(w, before)
        assert f"Song #{child}" in answer
        assert (
            state.task(w.database, child).replace_start,
            state.task(w.database, child).replace_end,
        ) == (
            1.0,
            2.0,
        )


async def test_edit_and_retry_after_a_blocked_word(tmp_path: Path) -> None:
    async with world(tmp_path, start=False, **LIMITS) as w:
        await write_settings(w, blocked_words=["Darn"])
        await w.start_bot()
        submit = await sing(w, w.alice.id, lyrics="oh darn it")
        [refusal] = await submit.wait_followups(1, timeout=20)
        assert "doesn't allow “Darn”" in refusal.content
        again = await w.dc.click(refusal, button_ids(refusal)[0], user_id=w.alice.id)
        assert (await again.wait_callback()).type == 9
        [lyrics] = again.modal_fields()
        assert lyrics.value == "oh darn it"
        answer = await private_answer(await again.submit_modal({"Lyrics": "oh dear"}))
        [task] = [t.id for t in w.tasks()]
        assert f"Song #{task}" in answer
        await wait_results_for(w, [task])
        [sent] = w.mg.submits
        assert sent.upload is not None and sent.fields["lyrics"] == "oh dear"


async def test_again_with_changes(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        parent, result = await delivered_song(w, prompt="soft soul", lyrics="ooh yeah")
        assert "Again with changes" in button_labels(result)
        ix = await w.dc.click(result, f"song:changes:{parent}", user_id=w.bob.id)
        assert (await ix.wait_callback()).type == 9
        fields = {f.label: f for f in ix.modal_fields()}
        assert fields["Style"].value == "soft soul" and fields["Lyrics"].value == "ooh yeah"
        assert "Voice" in fields
        before = {t.id for t in w.tasks()}
        submit = await ix.submit_modal(
            {"Style": "dark synthwave", "Lyrics": "new words", "Voice": "female"},
            user_id=w.bob.id,
        )
        answer = await private_answer(submit)
        [child] = new_task_ids(w, before)
        assert f"Song #{child}" in answer
        await wait_results_for(w, [child])
        first, second = w.mg.submits
        assert first.upload is not None and second.upload is not None
        assert second.upload.sha256 == first.upload.sha256
        assert second.fields["prompt"] == "dark synthwave"
        assert second.fields["lyrics"] == "new words"
        assert second.fields["gender"] == "female"
        assert state.task(w.database, child).user_id == w.bob.id
        assert f"Again of #{parent}" in await wait_status_text(w, child, "Posted")


async def test_lyrics_for_anyone_privately(tmp_path: Path) -> None:
    async with world(tmp_path, users=("alice", "bob", "dave"), **LIMITS) as w:
        parent, result = await delivered_song(w, lyrics="la *la* <@1> @everyone")
        ix = await w.dc.click(result, f"song:lyrics:{parent}", user_id=w.dc.user("dave").id)
        answer = await private_answer(ix)
        assert answer.startswith(f"What was sung in song #{parent}:\n```\n")
        assert "la *la* <@1> @everyone" in answer  # in a code block: shown literally

        long_one, long_result = await delivered_song(w, lyrics="la " * 666)
        ix = await w.dc.click(long_result, f"song:lyrics:{long_one}", user_id=w.bob.id)
        callback = await ix.wait_callback()
        assert callback.type == 4 and callback.data is not None
        assert callback.data["flags"] & 64
        assert "as a file" in str(callback.data["content"])
        message = ix.original_message
        assert message is not None
        [attachment] = message.attachments
        assert attachment.filename == f"song-{long_one}-lyrics.txt"
        assert outputs_of(w, long_one)  # the song itself is untouched


async def test_delete_answers_and_the_status_says_by_whom(tmp_path: Path) -> None:
    async with world(tmp_path, moderators=["carol"], **LIMITS) as w:
        parent, result = await delivered_song(w, user=w.bob)
        carol = w.dc.user("carol")
        ix = await w.dc.click(result, f"song:delete:{parent}", user_id=carol.id)
        assert await private_answer(ix) == f"Deleted song #{parent}'s takes."
        await w.dc.wait_until(lambda: w.dc.message(result.id).deleted, 10, "the delete")
        await wait_status_text(w, parent, "The takes were deleted")
        status = status_message_of(w, parent)
        fields = {f["name"]: f["value"] for f in status.embeds[0]["fields"]}
        assert fields["Takes deleted by"] == f"<@{carol.id}>"  # named; an embed pings no one
        assert "Posted" not in embed_text(status)
        assert status.notified.users == [] or carol.id not in status.notified.users


async def test_after_a_restart_edit_and_retry_says_so_and_lyrics_still_answer(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, **LIMITS) as w:
        parent, result = await delivered_song(w, lyrics="still here")
        past = await rewrite(
            w, result, f"song:rewrite:{parent}:1", w.bob.id, {"Start": "1", "End": "9"}
        )
        await past.wait_callback()
        refusal = past.original_message
        assert refusal is not None

        await w.restart_bot(kill=True)

        stale = await w.dc.click(refusal, button_ids(refusal)[0], user_id=w.bob.id)
        assert "That form has expired" in await private_answer(stale)
        lyrics = await w.dc.click(result, f"song:lyrics:{parent}", user_id=w.alice.id)
        assert "still here" in await private_answer(lyrics)
