"""What a member sees of the intake's bounds: a form replaced by a newer one, a form sent
twice, the audio spool full. Through the real bot and both stand-ins."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.core.media.spool import SCAN_TTL
from tests.standins.audio_gen import sine_wav_bytes
from tests.support.world import World, world

EPHEMERAL = 64


async def open_form(w: World, options: dict, user=None):
    ix = await w.dc.invoke_command("sing", options, user_id=(user or w.alice).id)
    callback = await ix.wait_callback()
    assert callback.type == 9, f"expected a modal, got {callback}"
    return ix


async def answer_to(submit) -> str:
    [answer] = await submit.wait_followups(1)
    assert answer.ephemeral
    return answer.content


def audio_files(w: World) -> list[Path]:
    folder = w.database.parent / "audio"
    return sorted(p for p in folder.iterdir() if p.suffix != ".part")


async def until(condition, what: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def quota_reply(w: World) -> str:
    ix = await w.dc.invoke_command("quota", {}, user_id=w.alice.id)
    return (await ix.wait_callback()).data["content"]


async def test_a_newer_form_replaces_the_older(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        older = await open_form(w, {"prompt": "x", "audio": w.attach("a.mp3", "tone.mp3")})
        forms = [
            await open_form(w, {"prompt": "x", "audio": w.attach(f"{n}.wav", "tone.wav")})
            for n in range(39)  # with the first, the 40 commands of the finding
        ]
        newest = forms[-1]
        await until(lambda: len(audio_files(w)) == 1, "the newest form's download")
        await asyncio.sleep(0.3)  # any download of a replaced form would have landed by now
        assert [p.suffix for p in audio_files(w)] == [".wav"]
        # Private to the bot: 0600 files in 0700 folders.
        [held] = audio_files(w)
        assert held.stat().st_mode & 0o777 == 0o600
        assert w.database.stat().st_mode & 0o777 == 0o600
        for folder in (held.parent, w.database.parent):
            assert folder.stat().st_mode & 0o777 == 0o700

        reply = await answer_to(await older.submit_modal({"Lyrics": "la"}, user_id=w.alice.id))
        assert "You opened a newer `/sing` form after this one" in reply
        assert "Nothing was charged" in reply
        assert w.tasks() == [] and w.mg.submits == []

        await newest.submit_modal({"Lyrics": "la"}, user_id=w.alice.id)
        await w.wait_result()
        [sent] = w.mg.submits
        assert sent.upload is not None and (sent.upload.filename or "").endswith(".wav")
        assert "4 of 5" in await quota_reply(w)


async def test_a_form_sent_twice_makes_one_request(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        ix = await open_form(w, {"prompt": "x", "audio": w.attach("a.mp3", "tone.mp3")})
        first = await ix.submit_modal({"Lyrics": "la"}, user_id=w.alice.id)
        assert "Got it! Song #1" in await answer_to(first)
        # A buggy or hostile client sends the same form again, once after the answer and
        # twice at the same moment.
        again = await ix.submit_modal({"Lyrics": "other words"}, user_id=w.alice.id)
        assert await answer_to(again) == "You already sent this form: song #1."
        both = await asyncio.gather(
            ix.submit_modal({"Lyrics": "la"}, user_id=w.alice.id),
            ix.submit_modal({"Lyrics": "la"}, user_id=w.alice.id),
        )
        for submit in both:
            assert await answer_to(submit) == "You already sent this form: song #1."
        await w.wait_result()
        assert len(w.tasks()) == 1 and len(w.mg.submits) == 1
        assert w.mg.submits[0].fields["lyrics"] == "la"
        assert "4 of 5" in await quota_reply(w)


async def test_uploads_past_the_spool_cap_are_refused_at_command_time(tmp_path: Path) -> None:
    song = sine_wav_bytes(seconds=40)  # 640 KB: two of them don't fit in 1 MB
    assert 600 * 1024 < len(song) < 1024 * 1024
    async with world(tmp_path, AUDIO_SPOOL_MB="1") as w:
        held = await open_form(w, {"prompt": "x", "audio": w.attach("a.wav", data=song)})
        await until(lambda: len(audio_files(w)) == 1, "the first form's download")

        ix = await w.dc.invoke_command(
            "sing",
            {"prompt": "x", "audio": w.attach("b.wav", data=sine_wav_bytes(seconds=40.5))},
            user_id=w.bob.id,
        )
        refused = await ix.wait_callback()
        assert refused.type == 4 and refused.data["flags"] & EPHEMERAL
        assert refused.data["content"] == (
            "I'm holding too much audio right now; try again in a few minutes."
        )
        # A link costs the bot no disk: still taken.
        await open_form(w, {"prompt": "x", "audio_url": "https://e.com/a.mp3"}, user=w.bob)

        # Once the first song went to MusicGPT and its file is gone, there is room again.
        await held.submit_modal({"Lyrics": "la"}, user_id=w.alice.id)
        await w.wait_result()
        await until(lambda: audio_files(w) == [], "the sent file's removal")
        await asyncio.sleep(SCAN_TTL + 0.2)
        await open_form(w, {"prompt": "x", "audio": w.attach("c.wav", data=song)}, user=w.bob)
        assert len(w.mg.submits) == 1
