"""/inpaint end to end, with both ways of writing times."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.world import world


@pytest.mark.parametrize(
    ("start", "end", "sent_start", "sent_end", "outputs"),
    [("1", "2.5", "1", "2.5", 2), ("0:01", "0:02.5", "1", "2.5", 1)],
)
async def test_inpaint_posts_every_version(
    tmp_path: Path, start: str, end: str, sent_start: str, sent_end: str, outputs: int
) -> None:
    async with world(tmp_path) as w:
        options: dict[str, Any] = {
            "prompt": "gospel choir swell",
            "start": start,
            "end": end,
            "audio": w.attach("song.mp3", "tone.mp3"),
            "gender": "male",
        }
        if outputs == 1:
            options["outputs"] = 1
        ix = await w.dc.invoke_command("inpaint", options, user_id=w.alice.id)
        await ix.wait_callback()
        fields = ix.modal_fields()
        assert [f.label for f in fields] == [
            "Lyrics of the whole song",
            "New lyrics for the replaced part",
        ]
        assert not any(f.required for f in fields)
        assert all(f.max_length == 2000 for f in fields)
        await ix.submit_modal(
            {
                "Lyrics of the whole song": "all the words",
                "New lyrics for the replaced part": "new",
            },
            user_id=w.alice.id,
        )
        [result] = await w.wait_result()
        [sent] = w.mg.submits
        assert sent.endpoint == "inpaint"
        fields_sent = sent.fields
        assert float(fields_sent["replace_start_at"]) == float(sent_start)
        assert float(fields_sent["replace_end_at"]) == float(sent_end)
        assert fields_sent["prompt"] == "gospel choir swell"
        assert fields_sent["lyrics"] == "all the words"
        assert fields_sent["lyrics_section_to_replace"] == "new"
        assert fields_sent["gender"] == "male"
        assert int(fields_sent["num_outputs"]) == outputs
        expected = w.mg.output_bytes(sent.task_id)
        assert len(expected) == outputs
        assert sorted(result.files.values()) == sorted(expected)
        assert result.notified.users == [w.alice.id]
        status = await w.wait_status("Posted")
        assert any(
            f["name"] == "Replacing" and f["value"] == "0:01 – 0:02.5"
            for f in status.embeds[0]["fields"]
        )


async def test_inpaint_with_url_and_no_lyrics(tmp_path: Path) -> None:
    async with world(tmp_path, webhooks=False) as w:
        url = "https://example.com/song.mp3"
        ix = await w.dc.invoke_command(
            "inpaint",
            {"prompt": "opera", "start": "75", "end": "1:30", "audio_url": url},
            user_id=w.alice.id,
        )
        await ix.wait_callback()
        await ix.submit_modal({}, user_id=w.alice.id)
        await w.wait_result()
        [sent] = w.mg.submits
        assert sent.fields["audio_url"] == url
        assert (float(sent.fields["replace_start_at"]), float(sent.fields["replace_end_at"])) == (
            75,
            90,
        )
        assert "lyrics" not in sent.fields and "lyrics_section_to_replace" not in sent.fields
