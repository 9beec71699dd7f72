"""The Discord stand-in shards as Discord does, driven by real discord.py 2.7 clients.

Two `AutoShardedBot`s with `shard_ids=[0]` and `[1]` of two (as two bot processes would
run) are connected at once: each gets only its guilds, their events and interactions; DMs
go to shard 0; an unsharded client beside them gets everything, as today.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
import discord
import pytest
from discord.ext import commands

from tests.standins.discord import (
    ChannelSpec,
    DiscordStandIn,
    GatewaySession,
    GuildSpec,
    InteractionHandle,
    UserSpec,
    guild_id_for_shard,
    shard_of,
)


def _sharded_guilds() -> list[GuildSpec]:
    """Two guilds on shard 0 of 2, one on shard 1."""
    return [
        GuildSpec("Zero A", id=guild_id_for_shard(0, 2), channels=[ChannelSpec("general")]),
        GuildSpec("One", id=guild_id_for_shard(1, 2), channels=[ChannelSpec("general")]),
        GuildSpec("Zero B", id=guild_id_for_shard(0, 2), channels=[ChannelSpec("general")]),
    ]


@pytest.fixture
async def dc() -> AsyncIterator[DiscordStandIn]:
    async with DiscordStandIn(
        token="test-token", guilds=_sharded_guilds(), users=[UserSpec("alice"), UserSpec("bob")]
    ) as stand_in:
        with stand_in.patch_discord_py():
            yield stand_in


AnyBot = commands.Bot | commands.AutoShardedBot


@dataclass
class Client:
    """A bot under test and what it heard: (event, guild id or None), interaction tokens."""

    bot: AnyBot
    seen: list[tuple[str, int | None]] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)


def make_client(
    tag: str, *, sync: bool, shard_ids: list[int] | None = None, shard_count: int | None = None
) -> Client:
    """A bot answering `/where` with its tag and the guild's shard; with `shard_ids` and
    `shard_count` an AutoShardedBot, else a plain Bot. `sync`: it syncs the commands
    globally (once, as one process of several would)."""
    prefix, intents = commands.when_mentioned, discord.Intents.default()
    bot: AnyBot
    if shard_ids is None:
        bot = commands.Bot(prefix, intents=intents, guild_ready_timeout=0.05)
    else:
        bot = commands.AutoShardedBot(
            prefix,
            intents=intents,
            guild_ready_timeout=0.05,
            shard_ids=shard_ids,
            shard_count=shard_count,
        )
    client = Client(bot)

    @bot.tree.command(name="where", description="Says which client and shard answered")
    async def where(interaction: discord.Interaction) -> None:
        shard = interaction.guild.shard_id if interaction.guild else None
        await interaction.response.send_message(f"{tag} shard={shard}")

    @bot.tree.command(name="later", description="Defers; the followup comes from elsewhere")
    async def later(interaction: discord.Interaction) -> None:
        client.tokens.append(interaction.token)
        await interaction.response.defer(thinking=True)

    @bot.event
    async def on_message(message: discord.Message) -> None:
        client.seen.append(("message", message.guild.id if message.guild else None))

    @bot.event
    async def on_thread_create(thread: discord.Thread) -> None:
        client.seen.append(("thread", thread.guild.id))

    async def setup_hook() -> None:
        if sync:
            await bot.tree.sync()

    bot.setup_hook = setup_hook  # type: ignore[method-assign]
    skip_identify_wait(bot)
    return client


def skip_identify_wait(bot: AnyBot) -> None:
    """discord.py sleeps 5 s before every later IDENTIFY; not needed against the stand-in."""

    async def before_identify_hook(shard_id: int | None, *, initial: bool = False) -> None:
        pass

    bot.before_identify_hook = before_identify_hook  # type: ignore[method-assign]


@contextlib.asynccontextmanager
async def running(client: Client, dc: DiscordStandIn) -> AsyncIterator[Client]:
    task = asyncio.create_task(client.bot.start(dc.token))
    try:
        await asyncio.wait_for(client.bot.wait_until_ready(), 10)
        yield client
    finally:
        await client.bot.close()
        await asyncio.wait_for(task, 10)


async def answer(ix: InteractionHandle) -> str:
    """The content of the bot's first callback to an interaction."""
    data = (await ix.wait_callback()).data or {}
    return str(data.get("content"))


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Until `check()` holds for the clients' own records (which wake no stand-in wait)."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


def events(session: GatewaySession) -> list[tuple[str, str | None]]:
    """(event, guild id) of every dispatch the session got, READY and RESUMED excluded."""
    out = []
    for _, frame in session.sent:
        payload = json.loads(frame)
        if payload["t"] in ("READY", "RESUMED"):
            continue
        d = payload["d"]
        gid = d.get("id") if payload["t"] == "GUILD_CREATE" else d.get("guild_id")
        out.append((payload["t"], gid))
    return out


def session_of(dc: DiscordStandIn, shard: tuple[int, int]) -> GatewaySession:
    return next(s for s in dc.gateway.sessions.values() if s.shard == shard)


def test_guild_ids_land_on_the_chosen_shard() -> None:
    for count in (1, 2, 3, 16):
        for shard_id in range(count):
            gid = guild_id_for_shard(shard_id, count)
            assert (gid >> 22) % count == shard_id == shard_of(gid, count)
    first, second = guild_id_for_shard(1, 4), guild_id_for_shard(1, 4)
    assert second > first  # still increasing snowflakes
    with pytest.raises(ValueError, match="no shard 2"):
        guild_id_for_shard(2, 2)


async def test_gateway_bot_answers_shards_and_session_start_limit(dc: DiscordStandIn) -> None:
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": "Bot test-token"}
        async with http.get(dc.api_base + "/gateway/bot", headers=headers) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "application/json"
            body = await resp.json()
        assert body == {
            "url": dc.gateway_url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 1000,
                "reset_after": 0,
                "max_concurrency": 1,
            },
        }
        async with http.get(dc.api_base + "/gateway/bot") as resp:
            assert resp.status == 401
        async with http.get(dc.api_base + "/gateway") as resp:  # no token needed
            assert await resp.json() == {"url": dc.gateway_url}
    async with running(make_client("solo", sync=False), dc):
        limit = dc.gateway.bot_gateway()["session_start_limit"]
        assert limit["remaining"] == 999 and 0 < limit["reset_after"] <= 24 * 3600 * 1000
    assert not dc.unhandled_requests


async def test_auto_sharded_client_opens_the_recommended_shards() -> None:
    """Without `shard_count`, AutoShardedClient asks /gateway/bot and opens every shard."""
    async with DiscordStandIn(
        token="t", guilds=_sharded_guilds(), recommended_shards=2, max_concurrency=2
    ) as dc:
        with dc.patch_discord_py():
            bot = commands.AutoShardedBot(
                command_prefix=commands.when_mentioned,
                intents=discord.Intents.default(),
                guild_ready_timeout=0.05,
            )
            skip_identify_wait(bot)
            async with running(Client(bot), dc):
                assert dc.find_requests(method="GET", route="/gateway/bot")
                assert bot.shard_count == 2 and set(bot.shards) == {0, 1}
                assert dc.connected_shards() == [(0, 2), (1, 2)]
                assert {g.id for g in bot.guilds} == {g.id for g in dc.guild_specs}
                assert {g.id: g.shard_id for g in bot.guilds} == {
                    g.id: shard_of(g.id, 2) for g in dc.guild_specs
                }


async def test_two_shards_in_two_clients_get_only_their_guilds(dc: DiscordStandIn) -> None:
    zero_a, one, zero_b = dc.guild_specs
    async with (
        running(make_client("p0", sync=True, shard_ids=[0], shard_count=2), dc) as p0,
        running(make_client("p1", sync=False, shard_ids=[1], shard_count=2), dc) as p1,
    ):
        await dc.wait_shards([0, 1], shard_count=2)
        assert dc.connected_shards() == [(0, 2), (1, 2)]
        assert {g.id for g in p0.bot.guilds} == {zero_a.id, zero_b.id}
        assert {g.id for g in p1.bot.guilds} == {one.id}
        s0, s1 = session_of(dc, (0, 2)), session_of(dc, (1, 2))
        assert events(s0) == [("GUILD_CREATE", str(zero_a.id)), ("GUILD_CREATE", str(zero_b.id))]
        assert events(s1) == [("GUILD_CREATE", str(one.id))]
        ready = json.loads(s1.sent[0][1])["d"]
        assert ready["shard"] == [1, 2]
        assert ready["guilds"] == [{"id": str(one.id), "unavailable": True}]

        # Interactions go to the session holding the guild's shard; DMs to shard 0.
        await dc.wait_commands_synced(None)
        for guild, expected in ((one, "p1 shard=1"), (zero_b, "p0 shard=0")):
            ix = await dc.invoke_command("where", guild_id=guild.id)
            assert await answer(ix) == expected
        ix = await dc.invoke_command("where", dm=True)
        assert await answer(ix) == "p0 shard=None"

        # Message and thread events follow the guild too.
        await dc.post_user_message(f"<@{dc.app_id}> hi", channel_id=dc.channel_ids(one.id)[0])
        await dc.post_user_message(f"<@{dc.app_id}> hi", channel_id=dc.channel_ids(zero_a.id)[0])
        dm = dc.dm_channel(dc.user("alice").id)
        await dc.post_user_message("psst", channel_id=dm.id)
        thread_parent = p1.bot.get_channel(dc.channel_ids(one.id)[0])
        assert isinstance(thread_parent, discord.TextChannel)
        await thread_parent.create_thread(
            name="only shard 1", type=discord.ChannelType.public_thread
        )
        # (The replies above are messages too; p1's thread leaves a THREAD_CREATED notice.)
        seen0, seen1 = p0.seen, p1.seen
        await until(lambda: {("message", None), ("message", zero_a.id)} <= set(seen0))
        await until(lambda: ("thread", one.id) in seen1)
        await asyncio.sleep(0.1)  # nothing else arrives late
        assert {gid for _, gid in seen0} <= {None, zero_a.id, zero_b.id}
        assert set(seen1) == {("message", one.id), ("thread", one.id)}
        assert all(gid in (None, str(zero_a.id), str(zero_b.id)) for _, gid in events(s0))
        assert all(gid == str(one.id) for _, gid in events(s1))

        # Interaction REST works from any process: p0 follows up on p1's interaction.
        ix = await dc.invoke_command("later", guild_id=one.id)
        assert (await ix.wait_callback()).type == 5
        token = p1.tokens[-1]
        assert not p0.tokens
        hook = discord.Webhook.partial(dc.app_id, token, client=p0.bot)
        await hook.send("done, from shard 0's process")
        followups = await ix.wait_followups(1)
        assert followups[0].content == "done, from shard 0's process"

        # The bot joins a guild on shard 1: only shard 1 hears of it.
        joined = asyncio.create_task(p1.bot.wait_for("guild_join", timeout=10))
        new = await dc.add_guild(GuildSpec("Newcomer"), shard=(1, 2))
        assert (await joined).id == new.id and p0.bot.get_guild(new.id) is None
        assert events(s0).count(("GUILD_CREATE", str(new.id))) == 0
    assert not dc.internal_errors and not dc.unhandled_requests


async def test_unsharded_client_beside_shards_gets_everything(dc: DiscordStandIn) -> None:
    async with (
        running(make_client("all", sync=True), dc) as whole,
        running(make_client("p1", sync=False, shard_ids=[1], shard_count=2), dc) as p1,
    ):
        assert dc.connected_shards() == [(0, 1), (1, 2)]
        assert {g.id for g in whole.bot.guilds} == {g.id for g in dc.guild_specs}
        assert len(p1.bot.guilds) == 1
        unsharded = session_of(dc, (0, 1))
        assert "shard" not in json.loads(unsharded.sent[0][1])["d"]
        await dc.wait_commands_synced(None)
        for guild in dc.guild_specs:
            await dc.post_user_message(f"<@{dc.app_id}> hi", channel_id=dc.channel_ids(guild.id)[0])
        await until(lambda: len(whole.seen) == 3 and len(p1.seen) == 1)
        # Zero A is held by the unsharded session only: its interactions go there.
        ix = await dc.invoke_command("where", guild_id=dc.guild_specs[0].id)
        assert await answer(ix) == "all shard=0"


async def test_one_shard_resumes_alone(dc: DiscordStandIn) -> None:
    one = dc.guild_specs[1]
    async with (
        running(make_client("p0", sync=False, shard_ids=[0], shard_count=2), dc) as p0,
        running(make_client("p1", sync=False, shard_ids=[1], shard_count=2), dc) as p1,
    ):
        s0 = session_of(dc, (0, 2))
        resumed = asyncio.create_task(p1.bot.wait_for("shard_resumed", timeout=10))
        seen = asyncio.create_task(p1.bot.wait_for("message", timeout=10))
        await dc.gateway_drop(4000, shard_id=1)
        await dc.post_user_message(f"<@{dc.app_id}> while away", channel_id=one.channels[0].id)
        assert await resumed == 1
        assert (await seen).content.endswith("while away")
        assert dc.gateway.resume_count == 1 and dc.gateway.identify_count == 2
        assert s0.connection is not None and not p0.seen
        assert dc.connected_shards() == [(0, 2), (1, 2)]


async def _raw_identify(dc: DiscordStandIn, d: dict) -> tuple[list[dict], int | None]:
    """IDENTIFY over a bare WebSocket: the dispatches received and the close code, if any."""
    got: list[dict] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(dc.gateway_url + "?v=10") as ws:
        await ws.receive_json(timeout=5)  # HELLO
        await ws.send_json({"op": 2, "d": {"token": dc.token, "intents": 513, **d}})
        while True:
            msg = await ws.receive(timeout=5)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                return got, msg.data
            got.append(json.loads(msg.data))
            if sum(p["t"] == "GUILD_CREATE" for p in got) == len(got[0]["d"]["guilds"]):
                return got, None


@pytest.mark.parametrize(
    "shard", [[2, 2], [-1, 2], [0, 0], [0], "0,1", [0.0, 1]], ids=lambda s: repr(s)
)
async def test_invalid_shard_closes_4010(dc: DiscordStandIn, shard: object) -> None:
    assert await _raw_identify(dc, {"shard": shard}) == ([], 4010)
    assert dc.gateway.identify_count == 0


async def test_too_few_shards_close_4011_when_sharding_is_required() -> None:
    async with DiscordStandIn(token="t", guilds=_sharded_guilds(), max_guilds_per_shard=1) as dc:
        assert await _raw_identify(dc, {}) == ([], 4011)  # unsharded: 3 guilds
        assert await _raw_identify(dc, {"shard": [0, 2]}) == ([], 4011)  # 2 on shard 0
        got, code = await _raw_identify(dc, {"shard": [1, 2]})  # 1 on shard 1: fine
        assert code is None and [p["t"] for p in got] == ["READY", "GUILD_CREATE"]
        # Of three shards one holds at most one of the three guilds.
        held = {i: [str(g.id) for g in dc.guild_specs if shard_of(g.id, 3) == i] for i in range(3)}
        light = next(i for i, ids in held.items() if len(ids) <= 1)
        got, code = await _raw_identify(dc, {"shard": [light, 3]})
        assert code is None and got[0]["d"]["shard"] == [light, 3]
        assert [g["id"] for g in got[0]["d"]["guilds"]] == held[light]
        assert [p["d"]["id"] for p in got[1:]] == held[light]
