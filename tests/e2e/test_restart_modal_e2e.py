"""A lyrics form opened before a restart gets a clear answer, not silence."""

from __future__ import annotations

from pathlib import Path

from tests.support.world import world


async def test_form_opened_before_a_restart_is_answered(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        ix = await w.dc.invoke_command(
            "sing", {"prompt": "x", "audio_url": "https://e.com/a.mp3"}, user_id=w.alice.id
        )
        assert (await ix.wait_callback()).type == 9
        await w.bot.stop()
        await w.start_bot()
        submit = await ix.submit_modal({"Lyrics": "la"}, user_id=w.alice.id)
        reply = await submit.wait_callback()
        assert reply.type == 4 and reply.data["flags"] & 64
        assert "form has expired" in reply.data["content"]
        assert w.tasks() == [] and w.mg.submits == []
