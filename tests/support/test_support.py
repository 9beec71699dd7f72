"""tests/support itself, without starting the bot."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.standins.discord import DiscordStandIn
from tests.standins.musicgpt import MusicGPTStandIn
from tests.support.env import bot_env, with_webhook_port
from tests.support.multi import process_env, shard_slice
from tests.support.world import busiest_minute, discord_openapi_note, world

CONTRACT = {
    "DISCORD_TOKEN",
    "MUSICGPT_API_KEY",
    "MUSICGPT_API_BASE",
    "DISCORD_API_BASE",
    "DISCORD_GATEWAY_URL",
    "DEV_GUILD_ID",
    "DATABASE_PATH",
    "PUBLIC_BASE_URL",
    "WEBHOOK_HOST",
    "WEBHOOK_PORT",
    "LOG_LEVEL",
}


def test_bot_env_points_the_bot_at_the_stand_ins(tmp_path: Path) -> None:
    dc, mg = DiscordStandIn(port=1234), MusicGPTStandIn(api_key="k", port=4321)
    env = bot_env(dc, mg, tmp_path, 5555, DEV_GUILD_ID="", USER_DAILY_QUOTA="3")
    assert CONTRACT - {"DEV_GUILD_ID"} <= set(env)
    assert "DEV_GUILD_ID" not in env  # "" removes a variable
    assert env["MUSICGPT_API_BASE"] == "http://127.0.0.1:4321/api/public"
    assert env["DISCORD_API_BASE"] == dc.api_base and env["MUSICGPT_API_KEY"] == "k"
    assert env["PUBLIC_BASE_URL"] == "http://127.0.0.1:5555"
    assert env["USER_DAILY_QUOTA"] == "3"
    with_webhook_port(env, 6666)
    assert (env["WEBHOOK_PORT"], env["PUBLIC_BASE_URL"]) == ("6666", "http://127.0.0.1:6666")
    assert "PUBLIC_BASE_URL" not in bot_env(dc, mg, tmp_path, 5555, webhooks=False)


async def test_world_refuses_an_environment_variable_that_is_not_text(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="USER_DAILY_QUOTA"):
        async with world(tmp_path, start=False, USER_DAILY_QUOTA=3):
            pass


def test_an_absent_discord_spec_is_said(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DISCORD_OPENAPI_SPEC", str(tmp_path / "missing.json"))
    note = discord_openapi_note()
    assert note is not None and "missing.json is absent" in note


def test_busiest_minute() -> None:
    assert busiest_minute([0, 10, 59.9, 60, 61, 200]) == 4
    assert busiest_minute([]) == 0


@pytest.mark.parametrize(("processes", "shard_count"), [(1, 3), (2, 2), (2, 5), (3, 3)])
def test_the_processes_share_out_every_shard_exactly_once(processes: int, shard_count: int) -> None:
    slices = [shard_slice(i, processes, shard_count) for i in range(processes)]
    assert sorted(s for held in slices for s in held) == list(range(shard_count))
    assert all(slices) and 0 in slices[0]  # each holds one; the first syncs the commands


def test_another_process_gets_its_own_folder_port_and_shards(tmp_path: Path) -> None:
    first = {
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test_x",
        "DATABASE_PATH": str(tmp_path / "data" / "bot.sqlite3"),
        "SHARD_COUNT": "3",
        "SHARD_IDS": "0",
        "WEBHOOK_PORT": "8081",
        "PUBLIC_BASE_URL": "http://127.0.0.1:8081",
    }
    env = process_env(first, tmp_path / "p2", [2])
    assert env["DATABASE_URL"] == first["DATABASE_URL"] and env["SHARD_COUNT"] == "3"
    assert (env["SHARD_IDS"], env["DATABASE_PATH"]) == ("2", str(tmp_path / "p2/data/bot.sqlite3"))
    assert env["WEBHOOK_PORT"] != "8081"
    assert env["PUBLIC_BASE_URL"] == f"http://127.0.0.1:{env['WEBHOOK_PORT']}"
    assert first["SHARD_IDS"] == "0"  # the first's own is untouched
