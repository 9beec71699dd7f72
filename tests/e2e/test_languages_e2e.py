"""Languages through the real bot and the stand-ins: a member's private answers in their own
locale (`interaction.locale`), a server's statuses in its own (`guild_locale`, GUILD_CREATE's
`preferred_locale`) unless /settings language chose another, English for everything else.

One Brazilian server (pt-BR): bob's client is in Spanish (es-ES), carol's in Korean (ko, no
catalog), alice's (the owner's) in English.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.standins.discord import StoredMessage, UserSpec
from tests.support.world import (
    World,
    marker,
    poll_until,
    request_song,
    status_message_of,
    wait_status_of,
    wait_status_text,
    world,
)

EPHEMERAL = 64


async def sing(w: World, user: UserSpec, locale: str) -> tuple[int, str]:
    """/sing with an attachment from a member whose client is in `locale`: the new song's id
    and the private confirmation."""
    before = {t.id for t in w.tasks()}
    audio = w.attach("beat.mp3", "tone.mp3")
    ix = await w.dc.invoke_command(
        "sing", {"prompt": "warm soul vocal", "audio": audio}, user_id=user.id, locale=locale
    )
    assert (await ix.wait_callback()).type == 9  # the lyrics form
    submit = await ix.submit_modal({"Lyrics": "la la la"}, user_id=user.id)
    [answer] = await submit.wait_followups(1, timeout=20)
    assert answer.ephemeral
    fresh = await poll_until(
        lambda: next((t.id for t in w.tasks() if t.id not in before), None), 10, "the song"
    )
    return int(fresh), answer.content


async def refusal(w: World, user: UserSpec, locale: str, options: dict[str, Any]) -> str:
    """/sing refused before its form: the private answer."""
    ix = await w.dc.invoke_command("sing", options, user_id=user.id, locale=locale)
    callback = await ix.wait_callback()
    assert callback.type == 4 and callback.data is not None, callback
    assert callback.data["flags"] & EPHEMERAL
    return str(callback.data["content"])


async def test_members_and_servers_each_read_their_own_language(tmp_path: Path) -> None:
    async with world(
        tmp_path, guild_locale="pt-BR", users=("alice", "bob", "carol"), USER_DAILY_QUOTA="1"
    ) as w:
        bob, carol = w.dc.user("bob"), w.dc.user("carol")

        # bob (es-ES): the confirmation in Spanish; the public status in the server's Portuguese.
        song, confirmation = await sing(w, bob, "es-ES")
        assert confirmation.startswith(f"¡Entendido! Canción #{song} "), confirmation
        status = await wait_status_text(w, song, "✅ Postei 2 versões aqui embaixo.")
        assert f"🎤 Cantando sobre o seu instrumental · música #{song}" in status
        # The marker stays English: a restarted bot finds its posts by it.
        [posted] = w.channel_messages(lambda m: marker(song) in m.content and bool(m.attachments))
        assert posted.content.startswith(f"<@{bob.id}> sua música está pronta! (song #{song})")

        # Over his quota: the refusal in Spanish, whole (the wait in his words too).
        refused = await refusal(w, bob, "es-ES", {"prompt": "x", "audio_url": "https://e.com/a"})
        assert refused.startswith("Ya hiciste tu canción de hoy. Tu cuota se renueva a las 00:00")
        assert "inténtalo entonces." in refused

        # carol (ko, no catalog): English.
        both = {
            "prompt": "x",
            "audio": w.attach("a.mp3", "tone.mp3"),
            "audio_url": "https://e.com/a",
        }
        assert await refusal(w, carol, "ko", both) == "Use either `audio` or `audio_url`, not both."

        # /quota in Japanese for the same carol once her client is in Japanese.
        ix = await w.dc.invoke_command("quota", {}, user_id=carol.id, locale="ja")
        answer = await ix.wait_callback()
        assert answer.data is not None
        assert answer.data["content"].startswith("今日はあと **1 曲中 1 曲** 作れます。")

        # /help and /history: bob's in Spanish, carol's (ko) in English.
        ix = await w.dc.invoke_command("help", {}, user_id=bob.id, locale="es-ES")
        answer = await ix.wait_callback()
        assert answer.data is not None
        [embed] = answer.data["embeds"]
        assert embed["title"] == "🎤 Lo que hago"
        assert embed["description"].startswith("Canto tu letra con MusicGPT"), embed
        assert "Apps → Cantar sobre esto o " in embed["description"]
        # The buttons by the labels they carry on this Brazilian server, in his Spanish.
        assert "**En una canción:** Reescrever, Estender, 👍, De novo, " in embed["description"]
        ix = await w.dc.invoke_command("history", {}, user_id=bob.id, locale="es-ES")
        answer = await ix.wait_callback()
        assert answer.data is not None
        header, line = answer.data["content"].splitlines()
        assert header == "Tu última canción:"
        assert line.startswith(f"**#{song}** · sing · publicada · <t:"), line
        assert "[resultado](https://discord.com/channels/" in line
        ix = await w.dc.invoke_command("help", {}, user_id=carol.id, locale="ko")
        answer = await ix.wait_callback()
        assert answer.data is not None
        assert answer.data["embeds"][0]["title"] == "🎤 What I do"
        ix = await w.dc.invoke_command("history", {}, user_id=carol.id, locale="ko")
        answer = await ix.wait_callback()
        assert answer.data is not None
        assert answer.data["content"].startswith("You haven't asked me for a song yet")

        # The owner chooses German for the server; her own answers stay in her English.
        ix = await w.dc.invoke_command(
            "settings language", {"language": "de"}, user_id=w.alice.id, locale="en-US"
        )
        callback = await ix.wait_callback()
        assert callback.data is not None
        assert callback.data["content"] == "I'll post statuses and songs here in Deutsch."
        song, confirmation = await sing(w, w.alice, "en-US")
        assert confirmation.startswith(f"Got it! Song #{song} "), confirmation
        status = await wait_status_text(w, song, "✅ Ich habe 2 Takes unten gepostet.")
        assert f"🎤 Ich singe über dein Instrumental · Song #{song}" in status


def rows_of(message: StoredMessage, key: str = "label") -> list[list[str]]:
    return [[str(c[key]) for c in row["components"]] for row in message.components]


async def test_a_portuguese_servers_buttons_read_portuguese_and_still_work(
    tmp_path: Path,
) -> None:
    """The result's labels in the server's Portuguese (ids exactly the English ones), a 👍
    redraw in Portuguese too; bob (es-ES) clicks them, and the forms they open name the song
    in his Spanish; his Rewrite from one of them is a new song."""
    async with world(
        tmp_path,
        guild_locale="pt-BR",
        users=("alice", "bob"),
        USER_DAILY_QUOTA="5",
        USER_MAX_ACTIVE="5",
    ) as w:
        bob = w.dc.user("bob")
        parent = await request_song(w)
        await wait_status_of(w, parent, "delivered")
        # (w.results() knows the English post; this one is in Portuguese.)
        [result] = w.channel_messages(lambda m: marker(parent) in m.content and bool(m.attachments))
        assert rows_of(result) == [
            ["Reescrever 1", "Reescrever 2", "Estender 1", "Estender 2"],
            ["Versão 1 · 👍 0", "Versão 2 · 👍 0"],
            ["De novo", "De novo, com mudanças", "Letra", "Apagar"],
        ]
        assert rows_of(result, "custom_id") == [
            [f"song:rewrite:{parent}:{n}" for n in (1, 2)]
            + [f"song:extend:{parent}:{n}" for n in (1, 2)],
            [f"song:vote:{parent}:1", f"song:vote:{parent}:2"],
            [f"song:{a}:{parent}" for a in ("again", "changes", "lyrics", "delete")],
        ]

        # A 👍 redraws the buttons, still in the server's Portuguese.
        vote = await w.dc.click(result, f"song:vote:{parent}:1", user_id=bob.id, locale="es-ES")
        await vote.wait_callback()
        await poll_until(
            lambda: rows_of(w.dc.message(result.id))[1] == ["Versão 1 · 👍 1", "Versão 2 · 👍 0"],
            10,
            "the vote's redraw",
        )

        # Again with changes: its form's title names the song in bob's Spanish.
        ix = await w.dc.click(result, f"song:changes:{parent}", user_id=bob.id, locale="es-ES")
        assert (await ix.wait_callback()).type == 9
        modal = ix.modal
        assert modal is not None
        assert modal["title"] == f"Otra vez, con cambios: canción #{parent}"

        # Rewrite 2: the title in Spanish, and the form, sent, makes a new song.
        before = {t.id for t in w.tasks()}
        ix = await w.dc.click(result, f"song:rewrite:{parent}:2", user_id=bob.id, locale="es-ES")
        assert (await ix.wait_callback()).type == 9
        modal = ix.modal
        assert modal is not None
        assert modal["title"] == f"Reescribir la toma 2 de la canción #{parent}"
        start, end, style, *_ = ix.modal_fields()
        submit = await ix.submit_modal(
            {start.custom_id: "0.5", end.custom_id: "0:01.5", style.custom_id: "gospel choir"},
            user_id=bob.id,
        )
        [answer] = await submit.wait_followups(1, timeout=20)
        assert answer.ephemeral
        child = await poll_until(
            lambda: next((t.id for t in w.tasks() if t.id not in before), None), 10, "the child"
        )
        assert f"#{child}" in answer.content, answer.content


async def test_a_file_that_isnt_audio_is_refused_whole_in_the_members_language(
    tmp_path: Path,
) -> None:
    """The refusal names the file's kind in the member's words, before the form (by its name
    and type) and after it (FFmpeg's verdict, from the worker)."""
    async with world(tmp_path, users=("alice", "bob")) as w:
        bob = w.dc.user("bob")
        png = w.attach("cover.png", "image.png")
        refused = await refusal(w, bob, "es-ES", {"prompt": "x", "audio": png})
        assert refused == (
            "Ese archivo es una imagen PNG, no audio. Envíame un archivo de audio "
            "(MP3, WAV, FLAC, OGG, M4A y casi cualquier otro)."
        )
        disguised = w.attach("cover.mp3", "image.png")  # named like audio: FFmpeg judges it
        ix = await w.dc.invoke_command(
            "sing", {"prompt": "x", "audio": disguised}, user_id=bob.id, locale="de"
        )
        assert (await ix.wait_callback()).type == 9
        [lyrics] = ix.modal_fields()
        submit = await ix.submit_modal({lyrics.custom_id: "la la"}, user_id=bob.id)
        [answer] = await submit.wait_followups(1, timeout=20)
        assert answer.ephemeral
        assert answer.content.startswith("Diese Datei ist ein PNG-Bild, kein Audio."), answer


async def test_a_failed_songs_status_and_try_again_in_the_servers_language(
    tmp_path: Path,
) -> None:
    """MusicGPT fails a song on a German server: the status says why in German, MusicGPT's
    own words kept as it wrote them, under a German Try again that still works."""
    async with world(tmp_path, guild_locale="de", USER_DAILY_QUOTA="3") as w:
        w.mg.fail_next_task("The vocals could not be generated")
        failed = await request_song(w, prompt="will fail at MusicGPT")
        text = await wait_status_text(w, failed, "The vocals could not be generated")
        assert (
            "MusicGPT konnte diesen Song nicht machen: The vocals could not be generated. "
            "Versuch es bitte noch einmal. Das zählt nicht für dein Tageskontingent."
        ) in text, text
        await wait_status_of(w, failed, "failed")

        def with_button() -> StoredMessage | None:
            message = status_message_of(w, failed)
            return message if message.components else None

        status = await poll_until(with_button, 10, "the Try again button")
        assert rows_of(status) == [["Erneut versuchen"]]
        before = {t.id for t in w.tasks()}
        ix = await w.dc.click(status, f"song:tryagain:{failed}", locale="de")
        await ix.wait_callback()
        again = await poll_until(
            lambda: next((t.id for t in w.tasks() if t.id not in before), None), 10, "Try again"
        )
        assert again != failed
