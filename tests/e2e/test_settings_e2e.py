"""/settings through the real bot and the stand-ins: only for Manage Server (registered so and
checked again at run time), quotas by server and by role in effect (and shown by /quota),
threads mode, and settings surviving a restart.

alice owns the guild (every permission); bob is a plain member; carol holds "Singers", a role
that grants no permission, for role quotas.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_buttons_e2e import private_answer
from tests.standins.discord import UserSpec
from tests.support import state
from tests.support.state import with_store
from tests.support.world import (
    World,
    poll_until,
    request_song,
    stored,
    wait_results_for,
    wait_task,
    world,
)

EPHEMERAL = 64
NOT_ALLOWED = "You need the Manage Server permission"


async def reply(w: World, command: str, options: dict[str, Any], user: UserSpec) -> dict[str, Any]:
    """Run a command answered at once (no modal); its private answer's data."""
    ix = await w.dc.invoke_command(command, options, user_id=user.id)
    callback = await ix.wait_callback()
    assert callback.type == 4, f"expected a reply, got type {callback.type}"
    assert callback.data is not None and callback.data["flags"] & EPHEMERAL
    return callback.data


async def text(w: World, command: str, options: dict[str, Any], user: UserSpec) -> str:
    return str((await reply(w, command, options, user))["content"])


async def test_settings_is_for_members_who_manage_the_server(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        [settings] = [c for c in w.dc.commands(w.dc.guild_id) if c["name"] == "settings"]
        assert settings["default_member_permissions"] == "32"
        assert settings["contexts"] == [0]
        # Discord doesn't offer it to bob...
        with pytest.raises(PermissionError):
            await w.dc.invoke_command("settings view", {}, user_id=w.bob.id)
        # ...but an owner can override that in Integrations: the bot checks again itself.
        w.dc.allow_command("settings", w.bob.id)
        cases: list[tuple[str, dict[str, Any]]] = [
            ("settings quota", {"daily": 0}),
            ("settings budget", {"credits": 10}),
            ("settings words", {"add": "nope"}),
            ("settings threads", {"mode": "always"}),
            ("settings view", {}),
        ]
        for command, options in cases:
            assert NOT_ALLOWED in await text(w, command, options, w.bob), command
        view = await text(w, "settings view", {}, w.alice)
        assert "Songs a day per member: 5 (the default)." in view
        assert "Daily budget: none (the default)." in view
        assert "Blocked words: none (the default)." in view
        assert "Threads: `optional` (the default)" in view
        await request_song(w, user=w.bob)  # bob's quota is untouched: 0 wasn't stored


async def test_quotas_by_server_and_by_role_survive_a_restart(tmp_path: Path) -> None:
    async with world(tmp_path, singers=["carol"], USER_MAX_ACTIVE="5") as w:
        carol, singers = w.dc.user("carol"), w.role_ids["Singers"]
        answer = await text(w, "settings quota", {"daily": 1}, w.alice)
        assert "1 song a day (this server's)" in answer
        answer = await text(w, "settings quota", {"daily": 2, "role": singers}, w.alice)
        assert f"<@&{singers}> can make 2 songs a day (from a role)" in answer

        await request_song(w, user=w.bob)
        refused = await text(w, "sing", {"prompt": "x", "audio_url": "https://e.com/a.mp3"}, w.bob)
        assert "You've made today's song." in refused
        await request_song(w, user=carol)
        second = await request_song(w, user=carol)  # the role gives carol more
        assert stored(w, second).user_id == carol.id
        refused = await text(w, "sing", {"prompt": "x", "audio_url": "https://e.com/b.mp3"}, carol)
        assert "made all 2 of today's songs" in refused
        assert len(w.mg.submits) <= 3 and len(w.tasks()) == 3

        quota = await text(w, "quota", {}, carol)
        assert "**0 of 2**" in quota and "your 2 a day from a role of yours" in quota
        quota = await text(w, "quota", {}, w.bob)
        assert "**0 of 1**" in quota and "from this server's setting" in quota

        await w.restart_bot()
        assert "**0 of 1**" in await text(w, "quota", {}, w.bob)
        data = await reply(w, "settings view", {}, w.alice)
        assert "Songs a day per member: 1 (this server's)." in data["content"]
        assert f"<@&{singers}>: 2 a day" in data["content"]
        mentions = data.get("allowed_mentions") or {}
        assert mentions.get("parse") == [] and not mentions.get("roles")  # listed, not pinged

        # Only `role`: the role's own quota goes, and carol is back to the server's 1.
        answer = await text(w, "settings quota", {"role": singers}, w.alice)
        assert "no longer has a quota of its own" in answer
        assert "**0 of 1**" in await text(w, "quota", {}, carol)


async def test_threads_mode_always_and_off(tmp_path: Path) -> None:
    async with world(tmp_path, USER_MAX_ACTIVE="5") as w:
        answer = await text(w, "settings threads", {"mode": "always"}, w.alice)
        assert "`always`" in answer
        always = await request_song(w)  # no `thread` option
        row = await wait_task(w, always, lambda r: r.thread_id is not None, "its thread")
        assert row.thread_wanted == 1
        assert [t.id for t in w.dc.threads()] == [row.thread_id]

        await text(w, "settings threads", {"mode": "off"}, w.alice)
        before = {t.id for t in w.tasks()}
        ix = await w.dc.invoke_command(
            "sing",
            {"prompt": "x", "audio": w.attach("beat.mp3", "tone.mp3"), "thread": True},
            user_id=w.alice.id,
        )
        assert (await ix.wait_callback()).type == 9
        submit = await ix.submit_modal({"Lyrics": "la"}, user_id=w.alice.id)
        [confirmed] = await submit.wait_followups(1)
        assert "Follow it here:" in confirmed.content
        [off] = [t.id for t in w.tasks() if t.id not in before]
        row = await wait_task(w, off, lambda r: r.status == "delivered", "delivery")
        assert (row.thread_wanted, row.thread_id) == (0, None)
        assert len(w.dc.threads()) == 1  # still only the first song's

        view = await text(w, "settings view", {}, w.alice)
        assert "Threads: `off` (this server's)" in view


async def test_budget_and_words_are_stored_and_listed_safely(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        answer = await text(w, "settings budget", {"credits": 120.5}, w.alice)
        assert "up to 120.5 MusicGPT credits per UTC day" in answer
        answer = await text(
            w, "settings words", {"add": " Foo, bar,FOO ,, @everyone, b*d "}, w.alice
        )
        assert "blocks 4 words" in answer
        answer = await text(w, "settings words", {"remove": "BAR"}, w.alice)
        assert "blocks 3 words" in answer
        refused = await text(w, "settings words", {"add": "x" * 51}, w.alice)
        assert "at most 50 characters" in refused
        view = await text(w, "settings view", {}, w.alice)
        assert "120.5 MusicGPT credits per UTC day (this server's)" in view
        assert "Blocked words (3, this server's): ||Foo||, ||@\u200beveryone||, ||b\\*d||." in view
        assert "bar" not in view
        await text(w, "settings budget", {"credits": 0}, w.alice)
        assert "Daily budget: none (the default)." in await text(w, "settings view", {}, w.alice)


async def test_a_button_charges_the_clicker_by_their_roles(tmp_path: Path) -> None:
    async with world(tmp_path, singers=["carol"]) as w:
        carol, singers = w.dc.user("carol"), w.role_ids["Singers"]
        parent = await request_song(w)
        found = await wait_results_for(w, [parent])
        result = w.dc.message(found[parent][0].id)
        await text(w, "settings quota", {"daily": 0}, w.alice)
        await text(w, "settings quota", {"daily": 1, "role": singers}, w.alice)

        refused = await private_answer(
            await w.dc.click(result, f"song:again:{parent}", user_id=w.bob.id)
        )
        assert "made all 0 of today's songs" in refused
        assert [t.id for t in w.tasks()] == [parent]
        answer = await private_answer(
            await w.dc.click(result, f"song:again:{parent}", user_id=carol.id)
        )
        [child] = [t.id for t in w.tasks() if t.id != parent]
        assert f"song #{child}" in answer.lower()
        assert stored(w, child).user_id == carol.id


def seed_role_quotas(w: World, quotas: dict[int, dict[str, int | None]]) -> None:
    """Role overrides as a server would have them after roles were deleted while the bot
    was away: written into the stopped bot's database (the settings service reads it)."""
    value = json.dumps({str(k): v for k, v in quotas.items()})
    with_store(w.database, lambda s: s.set_guild_setting(w.dc.guild_id, "role_quotas", value))


async def test_settings_view_with_sixty_role_overrides_fits_and_attaches_them_all(
    tmp_path: Path,
) -> None:
    """~40 overrides once made /settings view fail with 400 (over 2,000 characters)."""
    async with world(tmp_path, singers=["carol"]) as w:
        singers = w.role_ids["Singers"]
        await text(w, "settings quota", {"daily": 3, "role": singers}, w.alice)
        words = ", ".join(f"w{n:03d}" for n in range(150))
        await text(w, "settings words", {"add": words}, w.alice)
        await w.bot.stop()
        gone = [10**18 + n for n in range(59)]  # roles deleted while the bot was away
        seed_role_quotas(
            w,
            {singers: {"daily": 3, "active": None}}
            | {r: {"daily": n, "active": 2} for n, r in enumerate(gone)},
        )
        await w.start_bot()

        ix = await w.dc.invoke_command("settings view", {}, user_id=w.alice.id)
        callback = await ix.wait_callback()
        assert callback.type == 4 and callback.ephemeral
        content = (callback.data or {})["content"]
        assert len(content) <= 2000
        assert "Roles with their own quota (60;" in content
        assert "more, all of them in the attached file." in content
        assert "Blocked words (150, this server's)" in content
        [listed] = callback.attachments
        assert listed.filename == "role-quotas.txt"
        lines = (listed.data or b"").decode().splitlines()
        assert f"@Singers · id {singers}: 3 a day" in lines
        assert f"(a deleted role) · id {gone[-1]}: 58 a day, 2 at a time" in lines
        assert sum(" · id " in line for line in lines) == 60

        # A deleted role's override goes by its id; a bad id or an unknown role is refused.
        answer = await text(w, "settings quota", {"role_id": str(gone[0])}, w.alice)
        assert f"<@&{gone[0]}> no longer has a quota of its own" in answer
        assert "its digits" in await text(w, "settings quota", {"role_id": "abc"}, w.alice)
        refused = await text(w, "settings quota", {"daily": 1, "role_id": str(gone[1])}, w.alice)
        assert "This server has no role" in refused
        view = await reply(w, "settings view", {}, w.alice)
        assert "Roles with their own quota (59;" in view["content"]


async def test_a_deleted_roles_quota_is_removed_with_it(tmp_path: Path) -> None:
    async with world(tmp_path, singers=["carol"]) as w:
        carol, singers = w.dc.user("carol"), w.role_ids["Singers"]
        await text(w, "settings quota", {"daily": 7, "role": singers}, w.alice)
        assert "your 7 a day from a role of yours" in await text(w, "quota", {}, carol)
        await w.dc.delete_role(singers)

        def forgotten() -> bool:
            return "role_quotas" not in state.guild_settings(w.database, w.dc.guild_id)

        await poll_until(forgotten, 15, "the deleted role's quota to go")
        view = await text(w, "settings view", {}, w.alice)
        assert "Roles with their own quota: none (the default)." in view
        assert "from a role" not in await text(w, "quota", {}, carol)
