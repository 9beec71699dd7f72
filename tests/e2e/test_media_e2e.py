"""Issue 9's audio findings through the real bot: conversions reach MusicGPT as FLAC, measured
lengths decide /inpaint ranges, and crafted files cost the bot's process nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.media import Fixtures, junk_wav, stuffed_moov
from tests.support.world import modal_answer, world

MIB = 1024 * 1024


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def test_wma_reaches_musicgpt_as_flac(tmp_path: Path) -> None:
    media = Fixtures(tmp_path)
    async with world(tmp_path) as w:
        song = w.attach("song.wma", data=media.bytes("wma", 4.0))
        answer = await modal_answer(w, "sing", {"prompt": "x", "audio": song}, {"Lyrics": "la"})
        assert "Song #1" in answer
        await w.wait_result()
        [sent] = w.mg.submits
        assert sent.upload is not None
        assert sent.upload.filename is not None and sent.upload.filename.endswith(".flac")
        assert sent.upload.content_type == "audio/flac"
        assert list((w.database.parent / "audio").iterdir()) == []  # the .wma went too


async def test_inpaint_range_in_a_compressed_wav(tmp_path: Path) -> None:
    # The old check measured this 20 s ADPCM WAV at ~0.02 s and refused every range.
    media = Fixtures(tmp_path)
    async with world(tmp_path) as w:
        song = w.attach("song.wav", data=media.bytes("ima.wav", 20.0))
        options = {"prompt": "x", "start": "5", "end": "0:15", "audio": song}
        answer = await modal_answer(w, "inpaint", options, {})
        assert "Song #1" in answer, answer
        await w.wait_result()
        [sent] = w.mg.submits
        assert sent.endpoint == "inpaint"
        assert sent.upload is not None and (sent.upload.filename or "").endswith(".flac")


async def test_crafted_files_cost_the_bot_nothing(tmp_path: Path) -> None:
    # The measurement: three crafted 5 MB files through /sing took the bot from 64 MB
    # to 605 MB. Now they are checked in the worker; the bot answers /quota meanwhile.
    media = Fixtures(tmp_path)
    crafted = [
        junk_wav(media.bytes("s16.wav"), 5 * MIB),
        stuffed_moov(media.bytes("faststart.m4a"), 5 * MIB),
        junk_wav(media.bytes("s16.wav"), 5 * MIB),
    ]
    # Three members: one member's newer /sing form would replace their older one.
    async with world(tmp_path, users=("alice", "bob", "carol", "dave")) as w:
        answer = await modal_answer(
            w, "sing", {"prompt": "x", "audio": w.attach("warm.mp3", "tone.mp3")}, {"Lyrics": "la"}
        )
        assert "Song #1" in answer
        before = rss(w.bot.pid)
        forms = []
        members = [w.alice, w.dc.user("carol"), w.dc.user("dave")]
        for i, (data, member) in enumerate(zip(crafted, members, strict=True)):
            ix = await w.dc.invoke_command(
                "sing",
                {"prompt": "x", "audio": w.attach(f"c{i}.wav", data=data)},
                user_id=member.id,
            )
            assert (await ix.wait_callback()).type == 9
            forms.append(ix)
        quota = await w.dc.invoke_command("quota", {}, user_id=w.bob.id)
        assert "of 5" in (await quota.wait_callback()).data["content"]
        answers = []
        for ix, member in zip(forms, members, strict=True):
            submit = await ix.submit_modal({"Lyrics": "la"}, user_id=member.id)
            [reply] = await submit.wait_followups(1)
            answers.append(reply.content)
        await asyncio.sleep(0.2)
        assert rss(w.bot.pid) - before < 20 * MIB
        assert ["padded with thousands" in a for a in answers] == [True, False, True], answers
        assert "stuffed with thousands of empty boxes" in answers[1]
        assert len(w.mg.submits) == 1
