"""/sing from the command to the posted audio, through both stand-ins and the real bot."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.support.env import FIXTURES
from tests.support.world import world


async def sing(w, *, options: dict, lyrics: str = "la la la", user=None):
    user = user or w.alice
    ix = await w.dc.invoke_command("sing", options, user_id=user.id)
    callback = await ix.wait_callback()
    assert callback.type == 9, f"expected a modal, got {callback}"
    submit = await ix.submit_modal({"Lyrics": lyrics}, user_id=user.id)
    return ix, submit


# Delivery, restarts and buttons: on SQLite and on PostgreSQL (tests/e2e/conftest.py).
pytestmark = pytest.mark.usefixtures("on_both_databases")


async def test_sing_with_attachment_posts_the_outputs(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        attachment = w.attach("beat.mp3", "tone.mp3")
        ix, submit = await sing(
            w,
            options={"prompt": "soft piano ballad", "audio": attachment, "gender": "female"},
            lyrics="Never mind, I'll find someone like you",
        )
        fields = ix.modal_fields()
        assert [f.label for f in fields] == ["Lyrics"]
        assert fields[0].required and fields[0].max_length == 2000

        [result] = await w.wait_result()
        [sent] = w.mg.submits
        assert sent.endpoint == "sing_over_instrumental"
        assert sent.fields["prompt"] == "soft piano ballad"
        assert sent.fields["lyrics"] == "Never mind, I'll find someone like you"
        assert sent.fields["gender"] == "female"
        assert sent.upload is not None
        assert (
            sent.upload.sha256 == hashlib.sha256((FIXTURES / "tone.mp3").read_bytes()).hexdigest()
        )
        assert "audio_url" not in sent.fields

        expected = w.mg.output_bytes(sent.task_id)
        assert sorted(result.files.values()) == sorted(expected)
        assert result.notified.users == [w.alice.id]
        assert not result.notified.roles and not result.notified.mention_everyone

        # The private answer to the modal points at the status message the result replies to.
        [confirmation] = await submit.wait_followups(1)
        # One answer to the modal submit (the defer), never a stray "form expired" too.
        assert [c.type for c in submit.callbacks] == [5]
        assert not any("expired" in m.content for m in w.dc.messages())
        assert confirmation.ephemeral and "Song #1" in confirmation.content
        status = await w.wait_status("Posted 2 takes")
        assert result.message_reference["message_id"] == str(status.id)
        assert len(w.status_messages()) == 1


async def test_sing_with_url_passes_it_to_musicgpt(tmp_path: Path) -> None:
    async with world(tmp_path, webhooks=False) as w:
        url = "https://example.com/instrumental.mp3"
        await sing(w, options={"prompt": "gritty blues", "audio_url": url})
        [result] = await w.wait_result()
        [sent] = w.mg.submits
        assert sent.fields["audio_url"] == url and sent.upload is None
        assert "webhook_url" not in sent.fields
        assert sorted(result.files.values()) == sorted(w.mg.output_bytes(sent.task_id))
