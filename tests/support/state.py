"""The bot's state as its own store reads it: for tests that check what the bot recorded.

Reads go through `bot.core.store` (a `Store` opened on the bot's database without migrating
or creating it), so a test sees typed `Task`s, not rows of one SQL dialect, and keeps working
whatever database the store runs on. Each read opens its own connection on a thread of its
own, so the functions are plain (usable in `poll_until` checks) and hold nothing between
calls: the bot may stop, restart or be killed in between.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from bot.core.models import QuotaUsage, Task
from bot.core.store import KeptInput, Store
from bot.core.store.rows import fetch_tasks
from bot.core.store.votes import VoteMessage

T = TypeVar("T")


def with_store(database: Path | str, what: Callable[[Store], Awaitable[T]]) -> T:
    """`what(store)` on a store opened on `database` (which must exist), from a thread: a
    read, or a write a test makes to set the scene (as a second process would). `database`
    is an SQLite file's path, or a PostgreSQL URL (`World.database` gives whichever the bot
    uses)."""

    async def run() -> T:
        async with Store.open(database, migrate=False) as store:
            return await what(store)

    with ThreadPoolExecutor(1, thread_name_prefix="state") as pool:
        return pool.submit(asyncio.run, run()).result()


def all_tasks(database: Path | str) -> list[Task]:
    """Every task the bot has, oldest first."""
    return with_store(database, lambda s: fetch_tasks(s._db, "t.id > $1 ORDER BY t.id", (0,)))


def task(database: Path | str, task_id: int) -> Task:
    """One task, with its quota charge (`quota_day`, `quota_refunded`)."""
    found = with_store(database, lambda s: s.get_task(task_id))
    assert found is not None, f"no task #{task_id} in the bot's database"
    return found


def quota_usage(database: Path | str, user_id: int, now: float) -> QuotaUsage:
    return with_store(database, lambda s: s.quota_usage(user_id, now))


def value(database: Path | str, key: str) -> str | None:
    """A bot-wide value (the webhook secret, the synced commands' hash)."""
    return with_store(database, lambda s: s.get_value(key))


def guild_settings(database: Path | str, guild_id: int) -> dict[str, str]:
    return with_store(database, lambda s: s.guild_settings(guild_id))


def dm_copies(database: Path | str, user_id: int) -> bool:
    return with_store(database, lambda s: s.dm_copies(user_id))


def kept_inputs(database: Path | str) -> list[KeptInput]:
    return with_store(database, lambda s: s.kept_inputs())


def vote_counts(database: Path, task_id: int) -> dict[int, int]:
    """Votes per take of a song, as the rows say."""
    return with_store(database, lambda s: s.vote_counts(task_id))


def cast_vote(
    database: Path, channel_id: int, message_id: int, task_id: int, take: int, user_id: int
) -> bool:
    """A click's rows, written as the bot writes them before it answers (a bot killed just
    after that has not edited the message yet)."""

    async def vote(store: Store) -> bool:
        voted = await store.toggle_vote(task_id, take, user_id)
        await store.vote_changed(VoteMessage(channel_id, message_id, task_id), time.time())
        return voted

    return with_store(database, vote)
