"""Gateway shards in the bot: which class opens which shards, who syncs the commands, what
/readyz and the start line say (the e2e side: tests/e2e/test_shards_e2e.py)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import discord
import pytest
from discord.ext import commands

from bot.__main__ import shards_text, start_line
from bot.core.config import Settings, load_settings
from bot.discord.bot import (
    ShardedSingingBot,
    SingingBot,
    bot_class,
    holds_server,
    syncs_commands,
)
from bot.discord.connection import ShardLines

ROOT = Path(__file__).resolve().parents[3]
BASE = {"DISCORD_TOKEN": "discord-secret-token", "MUSICGPT_API_KEY": "mg-secret-key"}


def settings(**env: str) -> Settings:
    return load_settings({**BASE, **env})


def make(s: Settings) -> SingingBot:
    services: dict[str, Any] = {
        name: MagicMock()
        for name in (
            "session",
            "store",
            "tracker",
            "quota",
            "intake",
            "inputs",
            "guild_settings",
            "http_server",
        )
    }
    return bot_class(s)(settings=s, **services)


def test_unsharded_is_a_plain_bot_as_ever() -> None:
    bot = make(settings())
    assert type(bot) is SingingBot and not isinstance(bot, commands.AutoShardedBot)
    assert bot.shard_count is None and bot.shard_states() is None


@pytest.mark.parametrize(
    ("env", "count", "ids"),
    [
        ({"SHARD_COUNT": "2", "SHARD_IDS": "1"}, 2, [1]),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "2,0"}, 4, [0, 2]),
        ({"SHARD_COUNT": "3"}, 3, [0, 1, 2]),  # SHARD_COUNT alone: every shard
    ],
)
def test_sharded_opens_exactly_its_shards(env: dict[str, str], count: int, ids: list[int]) -> None:
    bot = make(settings(**env))
    assert isinstance(bot, ShardedSingingBot) and isinstance(bot, commands.AutoShardedBot)
    assert bot.shard_count == count and bot.shard_ids == ids
    assert bot.shard_states() == dict.fromkeys(ids, False)


async def test_shards_connected_one_by_one() -> None:
    bot = make(settings(SHARD_COUNT="4", SHARD_IDS="1,3"))
    assert isinstance(bot, ShardedSingingBot)
    assert not bot.gateway_connected
    await bot.on_shard_connect(1)
    assert bot.shard_states() == {1: True, 3: False} and not bot.gateway_connected
    await bot.on_shard_connect(3)
    assert bot.gateway_connected
    await bot.on_shard_disconnect(1)
    assert bot.shard_states() == {1: False, 3: True} and not bot.gateway_connected
    await bot.on_shard_resumed(1)
    assert bot.gateway_connected
    # Another process's shard says nothing about this one's.
    await bot.on_shard_connect(0)
    assert set(bot.shard_states() or {}) == {1, 3}


def test_a_channel_of_a_server_held_elsewhere_is_reached_by_id() -> None:
    """Delivery goes by REST: a channel not in this process's cache (its server is on
    another process's shard) still takes posts, as a PartialMessageable."""
    bot = make(settings(SHARD_COUNT="2", SHARD_IDS="1"))
    task = MagicMock(channel_id=123456789, thread_id=None, guild_id=81384788765712384)
    channel = bot.channel_for(task)
    assert isinstance(channel, discord.PartialMessageable)
    assert channel.id == 123456789 and channel.guild_id == 81384788765712384
    status = bot.status_channel_for(task)
    assert isinstance(status, discord.PartialMessageable) and status.id == 123456789


@pytest.mark.parametrize(
    ("env", "syncs"),
    [
        ({}, True),
        ({"SHARD_COUNT": "2"}, True),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0"}, True),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "2,0"}, True),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "1"}, False),
        ({"SHARD_COUNT": "4", "SHARD_IDS": "1,2,3"}, False),
    ],
)
def test_only_shard_zeros_process_syncs(env: dict[str, str], syncs: bool) -> None:
    assert syncs_commands(settings(**env)) is syncs


def test_a_process_holds_only_its_shards_servers() -> None:
    one_of_two = settings(SHARD_COUNT="2", SHARD_IDS="1")
    on_shard_1, on_shard_0 = 1 << 22, 2 << 22
    assert holds_server(one_of_two, on_shard_1) and not holds_server(one_of_two, on_shard_0)
    assert not holds_server(one_of_two, None)  # DMs come to shard 0
    assert holds_server(settings(SHARD_COUNT="2", SHARD_IDS="0"), None)
    unsharded = settings()
    assert holds_server(unsharded, on_shard_0) and holds_server(unsharded, None)


async def test_a_process_without_shard_zero_leaves_the_sync(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = make(settings(SHARD_COUNT="2", SHARD_IDS="1"))
    bot.tree.sync = MagicMock(side_effect=AssertionError("synced"))  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, "bot.discord.bot"):
        await bot._sync_commands()
    assert "the process holding shard 0 does" in caplog.text


def test_start_line_names_database_and_shards() -> None:
    assert shards_text(settings()) == "unsharded"
    assert shards_text(settings(SHARD_COUNT="4", SHARD_IDS="1,0")) == "shards 0, 1 of 4"
    assert shards_text(settings(SHARD_COUNT="2", SHARD_IDS="1")) == "shard 1 of 2"
    line = start_line(settings(DATABASE_PATH="/data/bot.sqlite3"))
    assert line == "database SQLite at /data/bot.sqlite3; unsharded"
    url = "postgresql://singbot:pa%40ss-word-9@db.example.com:5432/singbot"
    line = start_line(settings(DATABASE_URL=url, SHARD_COUNT="2"))
    assert line == (
        "database PostgreSQL at postgresql://singbot:<redacted>@db.example.com:5432/singbot;"
        " shards 0, 1 of 2"
    )


def test_shard_troubles_are_one_line() -> None:
    record = logging.LogRecord(
        "discord.shard",
        logging.ERROR,
        __file__,
        1,
        "Attempting a reconnect for shard ID %s in %.2fs",
        (1, 2.5),
        (OSError, OSError("Connection reset"), None),
    )
    assert ShardLines().filter(record)
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage().startswith("lost shard 1's connection to Discord (")
    assert record.getMessage().endswith("reconnecting in 2.5 s")
    record = logging.LogRecord(
        "discord.shard",
        logging.ERROR,
        __file__,
        1,
        "Failed to connect for shard_id: %s. Retrying...",
        (0,),
        (TimeoutError, TimeoutError(), None),
    )
    assert ShardLines().filter(record)
    assert record.getMessage().startswith("can't open shard 0's gateway connection (")


def test_the_database_password_never_reaches_the_log(tmp_path: Path) -> None:
    """The start line shows DATABASE_URL with its password redacted; a line that quotes the
    URL or the password (decoded too) shows neither. The run stops on DATABASE_PATH."""
    password = "s3cret@pass/word"
    url = "postgresql://singbot:s3cret%40pass%2Fword@127.0.0.1:1/singbot"
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,  # no .env there
        env={
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            "DISCORD_TOKEN": "discord-secret-token",
            "MUSICGPT_API_KEY": "mg-secret-key",
            "DATABASE_URL": url,
            "SHARD_COUNT": "4",
            "SHARD_IDS": "0,1",
            # A path quoting the password: the line that stops the run shows it.
            "DATABASE_PATH": f"/dev/null/{password}/bot.sqlite3",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert "database PostgreSQL at postgresql://singbot:<redacted>@127.0.0.1:1/singbot" in output, (
        output
    )
    assert "shards 0, 1 of 4" in output
    assert password not in output and "s3cret%40pass%2Fword" not in output
