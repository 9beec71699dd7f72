"""Global command sync happens only when the command set changed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from bot.discord.bot import EXTENSIONS
from bot.discord.translator import command_tree
from tests.support.state import with_store
from tests.support.world import world

LANGUAGES = {"es-ES", "es-419", "pt-BR", "de", "fr", "ja"}


def assert_localised(synced: list[dict[str, Any]]) -> None:
    """Discord shows descriptions, choices and menus in the member's language (bot/locale);
    command and option names are the same in every language."""
    [sing] = [c for c in synced if c["name"] == "sing"]
    described = sing["description_localizations"]
    assert set(described) == LANGUAGES
    assert described["es-ES"] == described["es-419"]
    assert described["es-ES"].startswith("Canto tu letra")
    assert described["ja"] != sing["description"]
    assert not sing["name_localizations"]
    for option in sing["options"]:
        assert set(option["description_localizations"]) == LANGUAGES
        assert not option.get("name_localizations")
    [gender] = [o for o in sing["options"] if o["name"] == "gender"]
    assert gender["choices"][0]["name_localizations"]["pt-BR"] == "masculina"
    [menu] = [c for c in synced if c["name"] == "Sing over this"]
    assert menu["name_localizations"]["fr"] == "Chanter dessus"


async def test_global_sync_only_when_commands_change(tmp_path: Path) -> None:
    async with world(tmp_path, DEV_GUILD_ID="") as w:
        synced = await w.dc.wait_commands_synced(None)
        names = [
            "Rewrite part of this",  # the message context menus (cogs/context.py)
            "Sing over this",
            "extend",
            "help",
            "history",
            "inpaint",
            "notify",
            "queue",
            "quota",
            "settings",
            "sing",
            "song",
            "usage",
        ]
        assert sorted(c["name"] for c in synced) == names
        [settings] = [c for c in synced if c["name"] == "settings"]
        assert settings["default_member_permissions"] == "32"  # kept by a global sync too
        assert_localised(synced)
        global_puts = lambda: w.dc.find_requests(  # noqa: E731
            method="PUT", path=f"/applications/{w.dc.app_id}/commands"
        )
        assert len(global_puts()) == 1
        assert w.dc.commands(w.dc.guild_id) == []

        await w.bot.stop()
        await w.start_bot()
        assert len(global_puts()) == 1  # same commands: no second sync

        # A different command set (simulated by forgetting the stored hash) syncs again.
        with_store(w.bot_database, lambda s: s.set_value("global_commands_hash", "old"))
        await w.bot.stop()
        await w.start_bot()
        await w.dc.wait_until(lambda: len(global_puts()) == 2, 10, "a second global sync")


async def test_new_translations_sync_even_when_the_commands_are_the_same(tmp_path: Path) -> None:
    """A bot last synced without these translations (its stored hash covers only the
    English) syncs once more on its next start, so Discord gets the localisations."""
    async with command_tree(EXTENSIONS) as tree:
        english_only = sorted(
            (command.to_dict(tree) for command in tree.get_commands()), key=lambda c: c["name"]
        )
    digest = hashlib.sha256(json.dumps(english_only, sort_keys=True).encode()).hexdigest()
    async with world(tmp_path, DEV_GUILD_ID="") as w:
        await w.dc.wait_commands_synced(None)
        global_puts = lambda: w.dc.find_requests(  # noqa: E731
            method="PUT", path=f"/applications/{w.dc.app_id}/commands"
        )
        with_store(w.bot_database, lambda s: s.set_value("global_commands_hash", digest))
        await w.bot.stop()
        await w.start_bot()
        await w.dc.wait_until(lambda: len(global_puts()) == 2, 10, "a sync with translations")
        assert_localised(w.dc.commands(None))
