"""Every refusal: a short, specific, private answer; nothing charged, nothing sent, bot alive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.world import World, modal_answer, world

EPHEMERAL = 64


async def refused_at_command(w: World, command: str, options: dict, user=None) -> str:
    """Run a command that must be refused before any modal opens; the private reply."""
    ix = await w.dc.invoke_command(command, options, user_id=(user or w.alice).id)
    callback = await ix.wait_callback()
    assert callback.type == 4, f"expected a reply, got type {callback.type}"
    assert callback.data["flags"] & EPHEMERAL
    return callback.data["content"]


async def quota_reply(w: World) -> str:
    ix = await w.dc.invoke_command("quota", {}, user_id=w.alice.id)
    return (await ix.wait_callback()).data["content"]


async def test_refused_before_the_modal(tmp_path: Path) -> None:
    async with world(tmp_path, MAX_AUDIO_MB="1") as w:
        song = w.attach("song.mp3", "tone.mp3")
        cases: list[tuple[str, dict[str, Any], str]] = [
            ("sing", {"prompt": "x"}, "Attach an audio file"),
            (
                "sing",
                {"prompt": "x", "audio": song, "audio_url": "https://e.com/a.mp3"},
                "either `audio` or `audio_url`, not both",
            ),
            (
                "sing",
                {"prompt": "x", "audio": w.attach("big.wav", data=b"\0" * (1536 * 1024))},
                "That file is 1.5 MB; the limit is 1 MB.",
            ),
            (
                "sing",
                {"prompt": "x", "audio_url": "ftp://e.com/a.mp3"},
                "`audio_url` must be an http or https link, like https://example.com/song.mp3.",
            ),
            (
                "inpaint",
                {"prompt": "x", "start": "soon", "end": "0:20", "audio": song},
                "`start` must be a time like 75, 75.5, 1:15 or 1:15.5",
            ),
            (
                "inpaint",
                {"prompt": "x", "start": "1:20", "end": "0:20", "audio": song},
                "`start` (1:20) must come before `end` (0:20)",
            ),
            (
                "inpaint",
                {"prompt": "x", "start": "1:75", "end": "2:00", "audio": song},
                "after a colon use 00–59",
            ),
        ]
        for command, options, expected in cases:
            reply = await refused_at_command(w, command, options)
            assert expected in reply, (options, reply)
        assert w.mg.submits == []
        assert w.tasks() == []
        assert "5 of 5" in await quota_reply(w)


async def test_refused_after_the_modal(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        png = w.attach("cover.mp3", "image.png")  # named like audio, but a picture
        reply = await modal_answer(w, "sing", {"prompt": "x", "audio": png}, {"Lyrics": "la"})
        assert "PNG image, not audio" in reply

        song = w.attach("song.mp3", "tone.mp3")  # 2.56 s long
        reply = await modal_answer(
            w, "inpaint", {"prompt": "x", "start": "1", "end": "0:05.5", "audio": song}, {}
        )
        assert "`end` (0:05.5) is past the end of the song, which is 0:02.6 long" in reply

        # The picture left at once; the song waits for its Edit and retry (the refusal's
        # button, 14 minutes), and nothing else is left behind.
        [held] = list((w.database.parent / "audio").iterdir())
        assert held.suffix == ".mp3"

        # Over-long lyrics: the modal itself caps each input at MusicGPT's 2000 characters, so
        # a Discord client refuses to send more (the server-side check has a unit test).
        ix = await w.dc.invoke_command(
            "sing", {"prompt": "x", "audio": w.attach("s.mp3", "tone.mp3")}, user_id=w.alice.id
        )
        await ix.wait_callback()
        assert [f.max_length for f in ix.modal_fields()] == [2000]
        with pytest.raises(ValueError, match="longer than max_length 2000"):
            await ix.submit_modal({"Lyrics": "la " * 700}, user_id=w.alice.id)

        assert w.mg.submits == [] and w.tasks() == []
        assert "5 of 5" in await quota_reply(w)


async def test_quota_spent_is_refused_with_the_reset_time(tmp_path: Path) -> None:
    async with world(tmp_path, USER_DAILY_QUOTA="1") as w:
        ix = await w.dc.invoke_command(
            "sing", {"prompt": "x", "audio_url": "https://e.com/a.mp3"}, user_id=w.alice.id
        )
        await ix.wait_callback()
        await (await ix.submit_modal({"Lyrics": "la"}, user_id=w.alice.id)).wait_followups(1)
        await w.wait_result()

        reply = await refused_at_command(
            w, "sing", {"prompt": "x", "audio_url": "https://e.com/b.mp3"}
        )
        assert "You've made today's song." in reply and "resets at 00:00 UTC" in reply
        assert len(w.mg.submits) == 1
        # Someone else's quota is their own.
        ix = await w.dc.invoke_command(
            "sing", {"prompt": "x", "audio_url": "https://e.com/c.mp3"}, user_id=w.bob.id
        )
        assert (await ix.wait_callback()).type == 9


async def test_musicgpt_refusal_is_shown_and_refunded(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.mg.faults.add("sing", "validation", message="Lyrics contain a blocked word.")
        ix = await w.dc.invoke_command(
            "sing", {"prompt": "x", "audio": w.attach("s.mp3", "tone.mp3")}, user_id=w.alice.id
        )
        await ix.wait_callback()
        submit = await ix.submit_modal({"Lyrics": "la"}, user_id=w.alice.id)
        # Answered at once, then edited to what happened (or already refused by then).
        answer = await submit.wait_original(lambda m: m.content.startswith("❌"), timeout=20)
        reply = answer.content
        assert reply == (
            "❌ MusicGPT refused this song: Lyrics contain a blocked word. Change what you "
            "asked for and try again. It doesn't count against your daily quota."
        )
        await w.wait_status("Lyrics contain a blocked word.")
        assert "5 of 5" in await quota_reply(w)
        [task] = w.tasks()
        assert task.status == "failed" and task.audio_path is None
        assert list((w.database.parent / "audio").iterdir()) == []


async def test_user_text_pings_no_one(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        sneaky = f"@everyone @here <@{w.bob.id}> <@&{w.dc.guild_id}> ballad"
        ix = await w.dc.invoke_command(
            "sing", {"prompt": sneaky, "audio_url": "https://e.com/a.mp3"}, user_id=w.alice.id
        )
        await ix.wait_callback()
        await ix.submit_modal({"Lyrics": "@everyone sing along"}, user_id=w.alice.id)
        [result] = await w.wait_result()
        await w.wait_status("Posted")
        assert w.mg.submits[0].fields["prompt"] == sneaky  # passed on untouched
        for message in w.dc.messages(include_ephemeral=True):
            pinged = message.notified
            assert not pinged.mention_everyone and not pinged.roles, message.content
            expected = [w.alice.id] if message.id == result.id else []
            assert pinged.users == expected, message.content


async def test_a_file_plainly_not_audio_is_refused_before_the_form(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        cases = [
            (w.attach("cover.png", "image.png"), "That file is a PNG image"),
            (w.attach("lyrics.pdf", "document.pdf"), "That file is a PDF document"),
            (w.attach("stems.zip", "archive.zip"), "That file is a ZIP archive"),
        ]
        for attachment, refusal in cases:
            reply = await refused_at_command(w, "sing", {"prompt": "x", "audio": attachment})
            assert reply.startswith(f"{refusal}, not audio. Send an audio file"), reply
        assert w.mg.submits == [] and w.tasks() == []
        assert "Task exception was never retrieved" not in w.bot.log_text()


async def test_discord_stops_a_long_prompt_while_it_is_typed(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        [sing] = [c for c in w.dc.commands(w.dc.guild_id) if c["name"] == "sing"]
        [prompt] = [o for o in sing["options"] if o["name"] == "prompt"]
        assert prompt["max_length"] == 500
        options = {"prompt": "x" * 501, "audio_url": "https://e.com/a.mp3"}
        with pytest.raises(ValueError, match="longer than max_length 500"):
            await w.dc.invoke_command("sing", options, user_id=w.alice.id)
        # 500 is fine: the form opens.
        ix = await w.dc.invoke_command("sing", {**options, "prompt": "x" * 500}, user_id=w.alice.id)
        assert (await ix.wait_callback()).type == 9


async def test_in_a_dm_quota_and_help_answer_and_the_song_commands_are_not_offered(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, DEV_GUILD_ID="") as w:
        await w.dc.wait_commands_synced(None)
        for command in ("quota", "help"):
            ix = await w.dc.invoke_command(command, {}, user_id=w.alice.id, dm=True)
            callback = await ix.wait_callback()
            assert callback.type == 4 and callback.data["flags"] & EPHEMERAL
            data = callback.data or {}
            shown = data.get("content") or "\n".join(
                e.get("description", "") for e in data.get("embeds", [])
            )
            assert "songs left today" in shown
        for command in ("sing", "inpaint", "extend"):
            with pytest.raises(LookupError, match="not offered in a DM"):
                await w.dc.invoke_command(command, {}, user_id=w.alice.id, dm=True)
        # In the server they are offered, and /help (one screen) names them with an example.
        ix = await w.dc.invoke_command("help", {}, user_id=w.alice.id)
        [embed] = (await ix.wait_callback()).data["embeds"]
        text = embed["description"]
        assert len(text) <= 1000 and not embed.get("fields")
        assert "`/sing prompt: warm soul vocal audio: beat.mp3`" in text
        assert "`/sing` · `/inpaint`" in text and "`/queue`" in text
        assert "Rewrite, Extend, 👍, Again" in text and "`/extend`" in text
        assert "Sing over this" in text
        assert "docs/commands.md" in text
