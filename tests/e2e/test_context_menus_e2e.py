"""The message context menus "Sing over this" and "Rewrite part of this", used by members of
the stand-in guild on a member's upload and on the bot's own results, through the real bot."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.e2e.test_buttons_e2e import delivered_song, new_task_ids, private_answer
from tests.standins.discord.api import InteractionHandle
from tests.support.world import (
    FIXTURES,
    World,
    poll_until,
    results_for,
    stored,
    wait_results_for,
    wait_status_of,
    wait_status_text,
    world,
)

LIMITS = {"USER_MAX_ACTIVE": "10", "USER_DAILY_QUOTA": "20"}
EPHEMERAL = 64
MENUS = ("Sing over this", "Rewrite part of this")


async def new_task(w: World, before: set[int]) -> int:
    found: list[int] = await poll_until(lambda: new_task_ids(w, before), 30, "a new task")
    [task_id] = found
    return task_id


async def refused_at_once(ix: InteractionHandle) -> str:
    """A context menu refused before any form: an ephemeral reply (type 4), no modal."""
    callback = await ix.wait_callback()
    assert callback.type == 4, f"expected a refusal, got {callback}"
    assert callback.data is not None and callback.data["flags"] & EPHEMERAL
    assert ix.modal is None
    return str(callback.data["content"])


async def test_both_menus_are_registered_as_message_commands(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        menus = [c for c in w.dc.commands(w.dc.guild_id) if c.get("type") == 3]
        assert sorted(c["name"] for c in menus) == sorted(MENUS)
        for menu in menus:
            assert menu["contexts"] == [0], menu  # server channels only, like /sing
            assert not menu.get("options"), menu


async def test_sing_over_a_members_wav(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        wav = (FIXTURES / "tone.wav").read_bytes()
        posted = await w.post_member_file("my beat.wav", data=wav, content="beat", user=w.bob)
        ix = await w.dc.invoke_message_command("Sing over this", posted, user_id=w.alice.id)
        assert (await ix.wait_callback()).type == 9
        fields = {f.label: f for f in ix.modal_fields()}
        assert list(fields) == ["Style", "Lyrics", "Voice"]  # one file: no File select
        assert fields["Style"].required and fields["Style"].max_length == 500
        assert fields["Lyrics"].required and fields["Lyrics"].max_length == 2000
        assert not fields["Voice"].required
        assert fields["Voice"].option_values == ["male", "female", "neutral"]
        submit = await ix.submit_modal(
            {"Style": "soulful R&B", "Lyrics": "over your beat", "Voice": "female"},
            user_id=w.alice.id,
        )
        answer = await private_answer(submit)
        [task_id] = new_task_ids(w, set())
        assert f"song #{task_id}" in answer.lower()

        found = await wait_results_for(w, [task_id])
        [sent] = w.mg.submits
        assert sent.endpoint == "sing_over_instrumental"
        assert sent.upload is not None
        assert sent.upload.sha256 == hashlib.sha256(wav).hexdigest()  # the attachment's bytes
        assert sent.upload.size == len(wav)
        assert "audio_url" not in sent.fields
        assert sent.fields["prompt"] == "soulful R&B"
        assert sent.fields["lyrics"] == "over your beat"
        assert sent.fields["gender"] == "female"
        row = stored(w, task_id)
        assert (row.user_id, row.parent_task_id) == (w.alice.id, None)
        await wait_status_of(w, task_id, "delivered")
        [result] = found[task_id]
        assert results_for(w, task_id) == [result]
        assert result.channel_id == posted.channel_id and result.attachments


async def test_rewrite_part_of_a_two_take_result_choosing_take_2(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        parent, result = await delivered_song(w, prompt="warm soul vocal", lyrics="la la la")
        [take_1, take_2] = w.mg.output_bytes(w.mg.submits[0].task_id)
        names = [a.filename for a in result.attachments]
        assert len(names) == 2 and names[1].startswith(f"song-{parent}-2.")
        before = {t.id for t in w.tasks()}

        ix = await w.dc.invoke_message_command("Rewrite part of this", result, user_id=w.bob.id)
        assert (await ix.wait_callback()).type == 9
        fields = {f.label: f for f in ix.modal_fields()}
        # Five components: the File select takes the optional whole-song lyrics' place.
        assert list(fields) == ["Start", "End", "Style", "New lyrics for the replaced part", "File"]
        assert fields["Style"].value == "warm soul vocal"  # the parent's prompt
        assert fields["File"].required
        by_name = {o["label"]: o["value"] for o in fields["File"].options or []}
        assert list(by_name) == names
        submit = await ix.submit_modal(
            {
                "Start": "0.5",
                "End": "0:01.5",
                "Style": "gospel choir",
                "New lyrics for the replaced part": "hallelujah",
                "File": by_name[names[1]],
            },
            user_id=w.bob.id,
        )
        answer = await private_answer(submit)
        child = await new_task(w, before)
        assert f"song #{child}" in answer.lower()

        found = await wait_results_for(w, [child])
        sent = w.mg.submits[1]
        assert sent.endpoint == "inpaint"
        assert sent.upload is not None and "audio_url" not in sent.fields
        assert (
            sent.upload.sha256
            == hashlib.sha256(take_2).hexdigest()
            != (hashlib.sha256(take_1).hexdigest())
        )
        assert float(sent.fields["replace_start_at"]) == 0.5
        assert float(sent.fields["replace_end_at"]) == 1.5
        assert sent.fields["prompt"] == "gospel choir"
        assert sent.fields["lyrics"] == "la la la"  # the song's, though its input gave way
        assert sent.fields["lyrics_section_to_replace"] == "hallelujah"
        row = stored(w, child)
        assert (row.parent_task_id, row.parent_output, row.user_id) == (
            parent,
            2,
            w.bob.id,
        )
        await wait_status_of(w, child, "delivered")
        [posted] = found[child]
        assert results_for(w, child) == [posted]
        assert f"Rewrite of #{parent} take 2, 0:00.5–0:01.5" in posted.content
        status = await wait_status_text(w, child, "Posted")
        assert f"Rewrite of #{parent} take 2, 0:00.5–0:01.5" in status


async def test_rewrite_part_of_a_members_only_file(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        song = (FIXTURES / "tone.mp3").read_bytes()  # 2.56 s long
        posted = await w.dc.post_user_message(
            "my song", user_id=w.bob.id, files={"song.mp3": song, "cover.png": b"\x89PNG"}
        )
        ix = await w.dc.invoke_message_command("Rewrite part of this", posted, user_id=w.bob.id)
        assert (await ix.wait_callback()).type == 9
        # The picture is not audio: one file, so no File select and all five of Rewrite's.
        assert [f.label for f in ix.modal_fields()] == [
            "Start",
            "End",
            "Style",
            "Lyrics of the whole song",
            "New lyrics for the replaced part",
        ]
        past = await ix.submit_modal({"Start": "1", "End": "5", "Style": "opera"})
        assert "past the end" in (await private_answer(past)).lower()
        assert w.tasks() == [] and w.mg.submits == []

        again = await w.dc.invoke_message_command("Rewrite part of this", posted, user_id=w.bob.id)
        submit = await again.submit_modal({"Start": "1", "End": "2", "Style": "opera"})
        await private_answer(submit)
        [child] = new_task_ids(w, set())
        await wait_results_for(w, [child])
        [sent] = w.mg.submits
        assert sent.upload is not None
        assert sent.upload.sha256 == hashlib.sha256(song).hexdigest()
        assert stored(w, child).parent_task_id is None  # a member's file has no parent


async def test_a_message_without_audio_is_refused_without_a_form(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        note = await w.dc.post_user_message("just words", user_id=w.bob.id)
        for menu in MENUS:
            reply = await refused_at_once(
                await w.dc.invoke_message_command(menu, note, user_id=w.alice.id)
            )
            assert reply == "That message has no audio file for me to use.", reply
        assert w.tasks() == [] and w.mg.submits == []


async def test_a_non_audio_attachment_is_refused_as_sing_refuses_it(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        pdf = await w.post_member_file("lyrics.pdf", "document.pdf", user=w.bob)
        by_sing = await w.dc.invoke_command(
            "sing", {"prompt": "x", "audio": w.attach("lyrics.pdf", "document.pdf")}
        )
        expected = await refused_at_once(by_sing)
        assert expected.startswith("That file is a PDF document, not audio.")
        for menu in MENUS:
            reply = await refused_at_once(
                await w.dc.invoke_message_command(menu, pdf, user_id=w.alice.id)
            )
            assert reply == expected
        # Named like audio but not audio: judged by its content after the download, as
        # /sing does, and refused in the same words.
        fake = await w.post_member_file("beat.mp3", "image.png", user=w.bob)
        ix = await w.dc.invoke_message_command("Sing over this", fake, user_id=w.alice.id)
        assert (await ix.wait_callback()).type == 9
        submit = await ix.submit_modal({"Style": "soul", "Lyrics": "la"}, user_id=w.alice.id)
        assert "PNG image, not audio" in await private_answer(submit)
        assert w.tasks() == [] and w.mg.submits == []


async def test_sing_over_one_take_of_a_result_names_it(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        parent, result = await delivered_song(w)
        [take_1, _] = w.mg.output_bytes(w.mg.submits[0].task_id)
        before = {t.id for t in w.tasks()}
        ix = await w.dc.invoke_message_command("Sing over this", result, user_id=w.bob.id)
        assert (await ix.wait_callback()).type == 9
        fields = {f.label: f for f in ix.modal_fields()}
        assert list(fields) == ["Style", "Lyrics", "Voice", "File"]
        by_name = {o["label"]: o["value"] for o in fields["File"].options or []}
        [first] = [name for name in by_name if name.startswith(f"song-{parent}-1.")]
        submit = await ix.submit_modal(
            {"Style": "choir", "Lyrics": "new words", "File": by_name[first]}, user_id=w.bob.id
        )
        await private_answer(submit)
        child = await new_task(w, before)
        found = await wait_results_for(w, [child])
        sent = w.mg.submits[1]
        assert sent.endpoint == "sing_over_instrumental" and sent.upload is not None
        assert sent.upload.sha256 == hashlib.sha256(take_1).hexdigest()
        assert "gender" not in sent.fields  # no voice picked
        row = stored(w, child)
        assert (row.parent_task_id, row.parent_output) == (parent, 1)
        [posted] = found[child]
        assert f"Sung over #{parent} take 1" in posted.content
