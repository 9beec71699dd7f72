"""/history through the real bot: the caller's requests only, newest first, linked."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from pathlib import Path

from tests.support.world import (
    World,
    request_song,
    results_for,
    stored,
    wait_results_for,
    world,
)

EPHEMERAL = 64


async def history(w: World, user_id: int) -> tuple[str, dict]:
    ix = await w.dc.invoke_command("history", {}, user_id=user_id)
    callback = await ix.wait_callback()
    data = callback.data
    assert callback.type == 4 and data is not None and data["flags"] & EPHEMERAL, callback
    return data["content"], data


def line_ids(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"^\*\*#(\d+)\*\*", text, re.MULTILINE)]


async def test_history_lists_the_callers_requests_newest_first(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        # Nothing asked yet: one friendly line.
        empty, _ = await history(w, w.alice.id)
        assert "\n" not in empty and "/sing" in empty

        first = await request_song(w, prompt="first *song*")
        theirs = await request_song(w, user=w.bob, prompt="bob's own song")
        second = await request_song(w, prompt="second song")
        await wait_results_for(w, [first, theirs, second])
        third = await request_song(w, prompt="third @everyone")
        # What a Rewrite button would record (those buttons come from another change).
        with contextlib.closing(sqlite3.connect(w.database, timeout=10)) as db, db:
            db.execute("UPDATE tasks SET parent_task_id = ? WHERE id = ?", (first, second))

        text, data = await history(w, w.alice.id)
        assert len(text) <= 2000
        assert text.splitlines()[0] == "Your last 3 songs, newest first:"
        assert line_ids(text) == [third, second, first]
        assert f"#{theirs}" not in text and "bob's own song" not in text
        assert data.get("allowed_mentions") == {"parse": []}
        assert "@everyone" not in text.replace("@\u200beveryone", "")

        lines = {line_ids(line)[0]: line for line in text.splitlines()[1:]}
        # A posted request links to its first result message.
        row = stored(w, first)
        posted = row.delivered_message_ids[0]
        assert posted in {m.id for m in results_for(w, first)}
        link = f"https://discord.com/channels/{w.dc.guild_id}/{row.channel_id}/{posted}"
        assert f"[result]({link})" in lines[first] and " · posted · " in lines[first]
        assert f"<t:{int(row.created_at)}:R>" in lines[first]
        assert "“first \\*song\\*”" in lines[first]
        # A derived request names its parent; the others name none.
        assert f"from #{first}" in lines[second]
        assert "from #" not in lines[first] and "from #" not in lines[third]
        # The newest may still be on its way: its link is to the result or the status message.
        third_row = stored(w, third)
        targets = [third_row.status_message_id, *third_row.delivered_message_ids]
        linked = int(
            re.search(r"\]\(https://discord\.com/channels/\d+/\d+/(\d+)\)", lines[third])[1]
        )
        assert linked in targets

        # Bob sees his one request, not Alice's.
        text, _ = await history(w, w.bob.id)
        assert text.splitlines()[0] == "Your last song:"
        assert line_ids(text) == [theirs] and "bob's own song" in text


async def test_history_works_in_a_dm_too(tmp_path: Path) -> None:
    async with world(tmp_path, DEV_GUILD_ID="") as w:
        await w.dc.wait_commands_synced(None)
        song = await request_song(w, prompt="asked in the server")
        ix = await w.dc.invoke_command("history", {}, user_id=w.alice.id, dm=True)
        callback = await ix.wait_callback()
        data = callback.data
        assert callback.type == 4 and data is not None and data["flags"] & EPHEMERAL
        assert line_ids(data["content"]) == [song] and "asked in the server" in data["content"]
