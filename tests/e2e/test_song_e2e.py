"""/song number:N (issue 22) through the real bot: the private card of a song with a parent
and children, and a number of another server's song, which reveals nothing."""

from __future__ import annotations

from pathlib import Path

from tests.standins.discord import StoredMessage
from tests.standins.discord.api import InteractionHandle
from tests.support.world import (
    World,
    poll_until,
    request_song,
    wait_results_for,
    wait_status_of,
    world,
)

LIMITS = {"USER_MAX_ACTIVE": "10", "USER_DAILY_QUOTA": "20"}


async def private(ix: InteractionHandle) -> str:
    """The private answer, sent with no mentions allowed."""
    callback = await ix.wait_callback()
    assert callback.type == 4, callback
    data = callback.data
    assert data is not None and data.get("flags", 0) & 64
    assert data["allowed_mentions"] == {"parse": []}
    return str(data["content"])


async def result_of(w: World, task_id: int) -> StoredMessage:
    [result] = (await wait_results_for(w, [task_id]))[task_id]
    await wait_status_of(w, task_id, "delivered")
    return w.dc.message(result.id)


async def again(w: World, task_id: int) -> int:
    """Bob clicks Again on the song's result; the new song's number, once delivered."""
    before = {t.id for t in w.tasks()}
    result = await result_of(w, task_id)
    ix = await w.dc.click(result, f"song:again:{task_id}", user_id=w.bob.id)
    await ix.wait_callback()
    [child] = await poll_until(
        lambda: [t.id for t in w.tasks() if t.id not in before] or None, 30, "the Again"
    )
    await result_of(w, child)
    return int(child)


async def test_a_song_with_its_parent_children_and_votes(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        first = await request_song(w, prompt="warm soul vocal")
        middle = await again(w, first)
        last = await again(w, middle)
        other = await again(w, middle)
        result = await result_of(w, middle)
        vote = await w.dc.click(result, f"song:vote:{middle}:2", user_id=w.alice.id)
        await vote.wait_callback()

        card = await private(
            await w.dc.invoke_command("song", {"number": middle}, user_id=w.alice.id)
        )
        lines = card.splitlines()
        assert lines[0].startswith(f"**Song #{middle}**")
        assert f"Again of #{first}" in card
        assert f"<@{w.bob.id}>" in card  # who asked, shown without a ping
        assert "warm soul vocal" in card
        [take1] = [line for line in lines if line.startswith("Take 1")]
        [take2] = [line for line in lines if line.startswith("Take 2")]
        assert "👍 0" in take1 and "leading" not in take1
        assert "👍 1" in take2 and "⭐ leading" in take2
        [made_from] = [line for line in lines if line.startswith("**Made from**")]
        assert f"#{first}" in made_from
        assert "**Made from it**" in lines
        children = [line for line in lines if line.startswith("- ")]
        assert [c.split(" · ")[0] for c in children] == [f"- #{last}", f"- #{other}"]
        assert all(f"Again of #{middle}" in c for c in children)

        # The first song shows the whole tree below it, a level deeper.
        tree = await private(await w.dc.invoke_command("song", {"number": first}))
        assert f"- #{middle}" in tree and f"  - #{last}" in tree and f"  - #{other}" in tree


async def test_another_servers_number_is_not_found_and_reveals_nothing(tmp_path: Path) -> None:
    async with world(tmp_path, DEV_GUILD_ID="", **LIMITS) as w:
        await w.dc.wait_commands_synced(None, timeout=20)
        song = await request_song(w, prompt="secret falsetto ballad")
        await result_of(w, song)
        there = await w.dc.add_guild()
        answer = await private(
            await w.dc.invoke_command("song", {"number": song}, guild_id=there.id)
        )
        assert answer == f"I have no song #{song} in this server."
        assert "secret" not in answer
        missing = await private(await w.dc.invoke_command("song", {"number": song + 1000}))
        assert missing == f"I have no song #{song + 1000} in this server."
        here = await private(await w.dc.invoke_command("song", {"number": song}))
        assert "secret falsetto ballad" in here
