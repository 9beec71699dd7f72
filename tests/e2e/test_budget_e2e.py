"""A server's daily credit budget, its blocked words and /usage, through the real bot.

Settings are written straight into the bot's database before it starts (or restarts: the
bot caches them per process), the way /settings stores them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.core.store import Store
from tests.standins.discord import client as discord_client
from tests.standins.discord.api import InteractionHandle
from tests.standins.musicgpt import HOLD
from tests.support.world import (
    World,
    mg_id,
    modal_answer,
    poll_until,
    request_song,
    results_for,
    wait_results_for,
    wait_status_of,
    wait_task,
    world,
)

EPHEMERAL = 64
LIMITS = {"USER_MAX_ACTIVE": "10", "USER_DAILY_QUOTA": "20"}
LINK = {"prompt": "warm soul vocal", "audio_url": "https://example.com/beat.mp3"}


async def write_settings(w: World, **values: Any) -> None:
    """Store a server's settings as /settings does (JSON values), with the bot stopped."""
    async with Store.open(w.database) as store:
        for key, value in values.items():
            await store.set_guild_setting(w.dc.guild_id, key, json.dumps(value))


async def private_answer(ix: InteractionHandle) -> str:
    """The private answer to a command or click: at once (4) or after thinking (5)."""
    callback = await ix.wait_callback()
    if callback.type == 4:
        assert callback.data is not None and callback.data["flags"] & EPHEMERAL, callback
        return str(callback.data["content"])
    assert callback.type == 5, callback
    [answer] = await ix.wait_followups(1, timeout=30)
    assert answer.ephemeral
    return answer.content


async def refused_at_command(w: World, options: dict[str, Any], user_id: int) -> str:
    ix = await w.dc.invoke_command("sing", options, user_id=user_id)
    callback = await ix.wait_callback()
    assert callback.type == 4, f"expected a refusal, got type {callback.type} (a form?)"
    assert callback.data is not None and callback.data["flags"] & EPHEMERAL
    return str(callback.data["content"])


def new_tasks(w: World, before: set[int]) -> list[int]:
    return [t.id for t in w.tasks() if t.id not in before]


async def test_the_request_after_the_budget_is_reached_is_refused(tmp_path: Path) -> None:
    # The stand-in prices every song at 50 credits, estimated and charged alike.
    mg = {"credit_estimate": 50.0, "conversion_cost": 50.0}
    async with world(tmp_path, start=False, mg_options=mg, **LIMITS) as w:
        await write_settings(w, budget_credits=50)
        await w.start_bot()
        w.mg.script_delays(HOLD)  # the first song stays at MusicGPT until completed below
        first = await request_song(w)
        row = await wait_task(w, first, lambda r: r.credit_estimate == 50, "its estimate")

        # Its estimate alone reaches the budget: refused at once, for anyone in the server,
        # before a form opens or a byte is fetched.
        for user in (w.alice, w.bob):
            audio = w.attach("beat.mp3", "tone.mp3")
            reply = await refused_at_command(w, {"prompt": "x", "audio": audio}, user.id)
            assert "used today's MusicGPT budget (50 of 50 credits)" in reply, reply
            assert "resets at 00:00 UTC" in reply and "Nothing was charged" in reply
        assert len(w.mg.submits) == 1 and [t.id for t in w.tasks()] == [first]

        # Its cost replaces the estimate (50 again): an Again of it is refused too.
        w.mg.complete_task(mg_id(row))
        found = await wait_results_for(w, [first])
        await wait_status_of(w, first, "delivered")
        result = found[first][0]
        again = await w.dc.click(result, f"song:again:{first}", user_id=w.bob.id)
        assert "used today's MusicGPT budget" in await private_answer(again)
        # A Rewrite is refused before its form opens.
        rewrite = await w.dc.click(result, f"song:rewrite:{first}:1", user_id=w.alice.id)
        assert "used today's MusicGPT budget" in await private_answer(rewrite)
        assert len(w.mg.submits) == 1 and [t.id for t in w.tasks()] == [first]


async def test_blocked_words_are_refused_before_musicgpt(tmp_path: Path) -> None:
    async with world(tmp_path, start=False, **LIMITS) as w:
        await write_settings(w, blocked_words=["Darn"])
        await w.start_bot()
        refusals = {
            "a whole word, other case": {"Lyrics": "oh DARN it"},
            "zero-width space inside": {"Lyrics": "oh da\u200brn it"},
        }
        for case, values in refusals.items():
            reply = await modal_answer(w, "sing", LINK, values)
            assert "doesn't allow “Darn”, which is in the lyrics" in reply, (case, reply)
        reply = await modal_answer(w, "sing", {**LINK, "prompt": "darn ballad"}, {"Lyrics": "la"})
        assert "doesn't allow “Darn”, which is in the prompt (style)" in reply, reply
        assert w.mg.submits == [] and w.tasks() == []  # nothing sent, nothing charged

        # A longer word containing it is another word.
        reply = await modal_answer(w, "sing", LINK, {"Lyrics": "darned socks"})
        assert reply.startswith("Got it!"), reply
        [task] = await poll_until(lambda: [t.id for t in w.tasks()], 10, "the task")
        found = await wait_results_for(w, [task])
        await wait_status_of(w, task, "delivered")
        assert len(w.mg.submits) == 1

        # Blocked later, an Again of that older song is refused as well (read after restart).
        await w.bot.stop()
        await write_settings(w, blocked_words=["darn", "socks"])
        await w.start_bot()
        again = await w.dc.click(found[task][0], f"song:again:{task}", user_id=w.alice.id)
        assert "doesn't allow “socks”" in await private_answer(again)
        assert len(w.mg.submits) == 1 and [t.id for t in w.tasks()] == [task]


async def test_usage_for_managers_only_and_pinging_no_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with world(tmp_path, **LIMITS) as w:  # the stand-in charges 1.25 credits a song
        alice_songs = [await request_song(w), await request_song(w)]
        bob_song = await request_song(w, user=w.bob)
        await wait_results_for(w, [*alice_songs, bob_song])
        for task in (*alice_songs, bob_song):
            await wait_status_of(w, task, "delivered")
        assert all(results_for(w, t) for t in alice_songs)

        [usage] = [c for c in w.dc.commands(w.dc.guild_id) if c["name"] == "usage"]
        assert usage["default_member_permissions"] == "32"
        with pytest.raises(PermissionError):  # hidden from bob, as registered
            await w.dc.invoke_command("usage", {}, user_id=w.bob.id)
        # An owner can let everyone see it (Integrations settings): the bot checks anyway.
        with monkeypatch.context() as patched:
            patched.setattr(discord_client, "_check_visible", lambda *args: None)
            ix = await w.dc.invoke_command("usage", {}, user_id=w.bob.id)
            answer = await private_answer(ix)
        assert answer == "Only members who can manage this server can see its usage."

        ix = await w.dc.invoke_command("usage", {}, user_id=w.alice.id)
        callback = await ix.wait_callback()
        assert callback.type == 4 and callback.data is not None
        assert callback.data["flags"] & EPHEMERAL
        text = callback.data["content"]
        assert f"1. <@{w.alice.id}>: 2 songs, 2.5 credits" in text, text
        assert f"2. <@{w.bob.id}>: 1 song, 1.25 credits" in text, text
        assert "Server total: 3 songs, 3.75 credits." in text
        assert "Today: 3.75 credits spent; no budget." in text
        mentions = callback.data["allowed_mentions"]
        assert mentions["parse"] == [] and not mentions.get("users") and not mentions.get("roles")
        [shown] = [m for m in w.dc.messages(include_ephemeral=True) if m.content == text]
        assert shown.notified.empty
