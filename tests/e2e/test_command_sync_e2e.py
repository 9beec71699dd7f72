"""Global command sync happens only when the command set changed."""

from __future__ import annotations

from pathlib import Path

from tests.support.state import with_store
from tests.support.world import world


async def test_global_sync_only_when_commands_change(tmp_path: Path) -> None:
    async with world(tmp_path, DEV_GUILD_ID="") as w:
        synced = await w.dc.wait_commands_synced(None)
        names = [
            "Rewrite part of this",  # the message context menus (cogs/context.py)
            "Sing over this",
            "help",
            "history",
            "inpaint",
            "notify",
            "quota",
            "settings",
            "sing",
            "usage",
        ]
        assert sorted(c["name"] for c in synced) == names
        [settings] = [c for c in synced if c["name"] == "settings"]
        assert settings["default_member_permissions"] == "32"  # kept by a global sync too
        global_puts = lambda: w.dc.find_requests(  # noqa: E731
            method="PUT", path=f"/applications/{w.dc.app_id}/commands"
        )
        assert len(global_puts()) == 1
        assert w.dc.commands(w.dc.guild_id) == []

        await w.bot.stop()
        await w.start_bot()
        assert len(global_puts()) == 1  # same commands: no second sync

        # A different command set (simulated by forgetting the stored hash) syncs again.
        with_store(w.database, lambda s: s.set_value("global_commands_hash", "old"))
        await w.bot.stop()
        await w.start_bot()
        await w.dc.wait_until(lambda: len(global_puts()) == 2, 10, "a second global sync")
