"""Several real bot processes on ONE PostgreSQL database, between one pair of stand-ins.

    async with multi_world(tmp_path, postgres_url, processes=3, shard_count=3) as m:
        task_id = await request_song(m.holder(1), channel_id=m.channel(1))
        await wait_status_of(m[0], task_id, "delivered")
        await m.kill(0)       # SIGKILL, as a crash or an OOM kill would
        await m.restart(0)

Each process is a `World` of `tests.support.world` (so every helper there takes one: a
`request_song`, a `wait_status_of`), sharing the Discord stand-in (one server per shard, each
shard's IDENTIFY answered by the session that asked for it) and the MusicGPT stand-in, with
the same DATABASE_URL, SHARD_COUNT and settings. What differs per process is what an owner
gives each one (docs/scaling.md): its SHARD_IDS (shard `s` goes to process `s % processes`),
its WEBHOOK_PORT, its DATABASE_PATH folder (process 0's `tmp/data/`, process i's
`tmp/p<i>/data/`) and, with webhooks, its own PUBLIC_BASE_URL, or, with `webhook_to=k`,
process k's for all (a load balancer that always picks k). The state they share is read
with `tests.support.state` on `m.url`.

Commands are synced globally (DEV_GUILD_ID unset, as in production), by shard 0's process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.models import Task
from tests.standins.discord import DiscordStandIn, GuildSpec, shard_of
from tests.standins.musicgpt import MusicGPTStandIn
from tests.support import state
from tests.support.env import with_webhook_port
from tests.support.process import BotProcess, free_port
from tests.support.world import World, world


@dataclass
class Multi:
    """The processes (`m[i]`, each a World), the shards they hold and a server on each."""

    procs: list[World]
    url: str  # DATABASE_URL, the same for every process
    shard_count: int
    guilds: list[int]  # guilds[s]: the id of the server on shard s

    def __getitem__(self, index: int) -> World:
        return self.procs[index]

    def __len__(self) -> int:
        return len(self.procs)

    @property
    def dc(self) -> DiscordStandIn:
        return self.procs[0].dc

    @property
    def mg(self) -> MusicGPTStandIn:
        return self.procs[0].mg

    def shards_of(self, index: int) -> list[int]:
        return shard_slice(index, len(self.procs), self.shard_count)

    def holder(self, shard: int) -> World:
        """The process holding `shard`: the one that answers its server's commands."""
        return self.procs[shard % len(self.procs)]

    def channel(self, shard: int) -> int:
        """The first text channel of the server on `shard`."""
        return self.dc.channel_ids(self.guilds[shard])[0]

    def tasks(self) -> list[Task]:
        """Every task in the shared database, oldest first."""
        return state.all_tasks(self.url)

    def logs(self, tail: int = 3000) -> str:
        """The end of every process's log, for a failing assertion's message."""
        return "\n".join(
            f"--- process {i} (shards {self.shards_of(i)}):\n{w.bot.log_text(tail)}"
            for i, w in enumerate(self.procs)
        )

    # --- the processes -------------------------------------------------------------------

    async def start(self, *indexes: int, timeout: float = 30) -> None:
        """Start these processes (all by default) at once, as a deploy does, and wait until
        each is healthy and Discord has every shard they hold."""
        chosen = indexes or tuple(range(len(self.procs)))
        await asyncio.gather(
            *(self.procs[i].start_bot(timeout=timeout, wait_sync=False) for i in chosen)
        )
        shards = [s for i in chosen for s in self.shards_of(i)]
        await self.dc.wait_shards(shards, self.shard_count, timeout=timeout)

    async def kill(self, index: int) -> None:
        """SIGKILL process `index`: no shutdown, no last writes. Returns once Discord (the
        stand-in) has seen its gateway sessions go, so that nothing is sent to them after."""
        await self.procs[index].bot.stop(kill=True)
        held = {(s, self.shard_count) for s in self.shards_of(index)}
        await self.dc.wait_until(
            lambda: not held & set(self.dc.connected_shards()),
            10,
            f"process {index}'s shards {sorted(held)} to disconnect",
        )

    async def restart(self, index: int, *, kill: bool = True) -> None:
        """Stop process `index` (SIGKILL, or SIGTERM with `kill=False`) and start it again."""
        if kill:
            await self.kill(index)
        else:
            await self.procs[index].bot.stop()
        await self.start(index)

    async def stop_all(self) -> list[int | None]:
        """SIGTERM every process still running; their exit codes."""
        return list(await asyncio.gather(*(w.bot.stop() for w in self.procs)))


def shard_slice(index: int, processes: int, shard_count: int) -> list[int]:
    """The shards process `index` of `processes` holds: every `processes`-th one."""
    return list(range(index, shard_count, processes))


def process_env(first: dict[str, str], folder: Path, shards: list[int]) -> dict[str, str]:
    """Another process's environment: `first`'s, with its own folder, port and shards."""
    env = dict(first)
    env["DATABASE_PATH"] = str(folder / "data" / "bot.sqlite3")
    env["SHARD_IDS"] = ",".join(map(str, shards))
    with_webhook_port(env, free_port())
    return env


async def servers_on_every_shard(dc: DiscordStandIn, shard_count: int) -> list[int]:
    """One server per shard: the world's own where its id falls, a new one on each other."""
    guilds = {shard_of(dc.guild_id, shard_count): dc.guild_id}
    for shard in range(shard_count):
        if shard not in guilds:
            spec = await dc.add_guild(GuildSpec(f"Server {shard}"), shard=(shard, shard_count))
            guilds[shard] = spec.id
    return [guilds[s] for s in range(shard_count)]


LAYOUT = ("processes", "shard_count", "webhook_to", "start")  # processes_on's keywords


@contextlib.asynccontextmanager
async def multi_world(tmp: Path, database_url: str, **settings: Any) -> AsyncIterator[Multi]:
    """`processes` (default 2) real bots on `database_url` (a fresh PostgreSQL database:
    `postgres_url`), `shard_count` shards (default: one each) split over them, a server on
    every shard.

    Keywords: `processes_on`'s (`processes`, `shard_count`, `webhook_to`: every process gets
    process k's PUBLIC_BASE_URL, `start`) and `world()`'s (its options, `webhooks`, `users`,
    `mg_options`..., and environment variables, the same for every process). They are one
    `**`, as `world()`'s are, so that a test can pass a dict of variables and type-check.
    At the end every process is stopped; the first's world checks the Discord requests
    against Discord's OpenAPI description, as ever.
    """
    layout = {k: settings.pop(k) for k in LAYOUT if k in settings}
    async with (
        world(tmp, start=False, **settings) as first,
        processes_on(first, database_url, **layout) as multi,
    ):
        yield multi


@contextlib.asynccontextmanager
async def processes_on(
    first: World,
    database_url: str,
    *,
    processes: int = 2,
    shard_count: int | None = None,
    webhook_to: int | None = None,
    start: bool = True,
) -> AsyncIterator[Multi]:
    """Turn a `world()` (stopped) into `processes` processes on `database_url`: `first`
    becomes process 0 (its folder, port and stand-ins kept; a test may have made songs on
    its SQLite before, and copied them over with `copy-db`); the others get folders of their
    own in it, `p1`, `p2`... Stops the added ones at the end (`world()` stops the first)."""
    shard_count = shard_count or processes
    if shard_count < processes:
        raise ValueError("every process needs a shard: shard_count >= processes")
    first.env.pop("DEV_GUILD_ID", None)  # synced globally, as in production: by shard 0's
    first.env.update(
        DATABASE_URL=database_url,
        SHARD_COUNT=str(shard_count),
        SHARD_IDS=",".join(map(str, shard_slice(0, processes, shard_count))),
    )
    guilds = await servers_on_every_shard(first.dc, shard_count)
    procs = [first]
    for i in range(1, processes):
        folder = first.tmp / f"p{i}"
        folder.mkdir(parents=True, exist_ok=True)
        env = process_env(first.env, folder, shard_slice(i, processes, shard_count))
        procs.append(
            World(
                first.dc,
                first.mg,
                folder,
                env,
                BotProcess(env, folder),
                first.users,
                role_ids=first.role_ids,
            )
        )
    if webhook_to is not None:
        if "PUBLIC_BASE_URL" not in first.env:
            raise ValueError("webhook_to needs webhooks (PUBLIC_BASE_URL)")
        # (Should process k lose its picked port to another program at start, `start_bot`
        # moves it and its own PUBLIC_BASE_URL to another; the others' then point nowhere,
        # and a test that counts on the webhook fails: the song is found by polling.)
        target = f"http://127.0.0.1:{procs[webhook_to].webhook_port}"
        for w in procs:
            w.env["PUBLIC_BASE_URL"] = target
    multi = Multi(procs, database_url, shard_count, guilds)
    try:
        if start:
            await multi.start()
        yield multi
    finally:
        await asyncio.gather(*(w.bot.stop() for w in procs[1:]))
