"""The Discord stand-in, driven by a real discord.py 2.7 bot defined here."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import re
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import discord
import pytest
from aiohttp import web
from discord import app_commands
from discord.ext import commands

from tests.standins.discord import (
    MODAL_SHOW_DELAY,
    ChannelSpec,
    DiscordHTTPError,
    DiscordStandIn,
    GuildSpec,
    Perm,
    RoleSpec,
    UserSpec,
    resolve_mentions,
    rules,
)
from tests.standins.discord.model import modal_fields, new_snowflake

MiB = 1024 * 1024


# --------------------------------------------------------------------------- the bot under test


class SongModal(discord.ui.Modal, title="Your song"):
    """An action-row TextInput (classic) next to a Label-wrapped one (2.6+ style)."""

    lyrics: discord.ui.TextInput[SongModal] = discord.ui.TextInput(
        label="Lyrics",
        style=discord.TextStyle.paragraph,
        max_length=500,
        custom_id="lyrics",
        placeholder="The words to sing",
    )
    mood: discord.ui.Label[SongModal] = discord.ui.Label(
        text="Mood", component=discord.ui.TextInput(required=False, default="happy")
    )

    def __init__(self, audio: discord.Attachment, prompt: str, other_id: int) -> None:
        super().__init__()
        self.audio = audio
        self.prompt = prompt
        self.other_id = other_id

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await self.audio.read()
        assert isinstance(self.mood.component, discord.ui.TextInput)
        mood = self.mood.component.value
        file = discord.File(io.BytesIO(data[::-1]), filename="sung song.mp3")
        channel = interaction.channel
        assert isinstance(channel, discord.TextChannel)
        msg = await channel.send(
            f"{interaction.user.mention} your {mood} song about {self.prompt}: {self.lyrics.value}"
            f" (cc <@{self.other_id}> @everyone)",
            file=file,
            allowed_mentions=discord.AllowedMentions(
                everyone=False, roles=False, users=[interaction.user]
            ),
        )
        await msg.edit(content=msg.content + " [mastered]")
        await interaction.followup.send(f"posted {msg.jump_url}", ephemeral=True)


class VoiceModal(discord.ui.Modal, title="Sing over this"):
    """Text inputs and String Selects in Labels, the way issue 12's modals are built."""

    style: discord.ui.Label[VoiceModal] = discord.ui.Label(
        text="Style", component=discord.ui.TextInput(custom_id="style", max_length=200)
    )
    voice: discord.ui.Label[VoiceModal] = discord.ui.Label(
        text="Voice",
        description="Who sings",
        component=discord.ui.Select(
            custom_id="voice",
            required=False,
            options=[
                discord.SelectOption(label="Male", value="male"),
                discord.SelectOption(label="Female", value="female"),
                discord.SelectOption(label="Neutral", value="neutral", default=True),
            ],
        ),
    )
    file: discord.ui.Label[VoiceModal] = discord.ui.Label(
        text="File",
        component=discord.ui.Select(
            custom_id="file",
            options=[
                discord.SelectOption(label="a.wav", value="0"),
                discord.SelectOption(label="b.wav", value="1"),
            ],
        ),
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        assert isinstance(self.style.component, discord.ui.TextInput)
        assert isinstance(self.voice.component, discord.ui.Select)
        assert isinstance(self.file.component, discord.ui.Select)
        await interaction.response.send_message(
            f"style={self.style.component.value} voice={self.voice.component.values} "
            f"file={self.file.component.values}"
        )


class RewriteModal(discord.ui.Modal, title="Rewrite part of this"):
    start: discord.ui.Label[RewriteModal] = discord.ui.Label(
        text="Start", component=discord.ui.TextInput(custom_id="start")
    )
    end: discord.ui.Label[RewriteModal] = discord.ui.Label(
        text="End", component=discord.ui.TextInput(custom_id="end")
    )

    def __init__(self, task: int, take: int) -> None:
        super().__init__(custom_id=f"rewrite:{task}:{take}")
        self.task, self.take = task, take

    async def on_submit(self, interaction: discord.Interaction) -> None:
        assert isinstance(self.start.component, discord.ui.TextInput)
        assert isinstance(self.end.component, discord.ui.TextInput)
        await interaction.response.edit_message(
            content=f"Rewrite of #{self.task} take {self.take}, "
            f"{self.start.component.value}-{self.end.component.value} by {interaction.user.id}"
        )


class SongButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"song:(?P<action>[a-z]+):(?P<task>\d+):(?P<take>\d+)",
):
    """A persistent button whose custom_id carries what a click needs (issue 11)."""

    def __init__(self, action: str, task: int, take: int) -> None:
        super().__init__(
            discord.ui.Button(label=action.title(), custom_id=f"song:{action}:{task}:{take}")
        )
        self.action, self.task, self.take = action, task, take

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str]
    ) -> SongButton:
        return cls(match["action"], int(match["task"]), int(match["take"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        if self.action == "rewrite":
            await interaction.response.send_modal(RewriteModal(self.task, self.take))
        elif self.action == "again":
            await interaction.response.defer()  # type 6: nothing visible changes
            await interaction.followup.send(f"again #{self.task}", ephemeral=True)
        elif self.action == "delete":
            assert interaction.message is not None
            if not interaction.permissions.manage_messages:
                await interaction.response.send_message("not yours to delete", ephemeral=True)
                return
            await interaction.response.defer(ephemeral=True, thinking=True)  # type 5
            await interaction.message.delete()
            await interaction.followup.send("deleted", ephemeral=True)


class Buttons(discord.ui.View):
    @discord.ui.button(label="Again", custom_id="again")
    async def again(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content="again!", view=None)


def make_bot(guild_id: int, other_id: int, **kwargs) -> commands.Bot:
    bot = commands.Bot(
        command_prefix=commands.when_mentioned,
        intents=discord.Intents.default(),
        guild_ready_timeout=0.05,
        **kwargs,
    )
    bot.errors = []  # type: ignore[attr-defined]

    @bot.tree.command(name="sing", description="Sing over an instrumental")
    @app_commands.describe(prompt="what about", audio="the instrumental", verses="how many")
    async def sing(
        interaction: discord.Interaction, prompt: str, audio: discord.Attachment, verses: int = 1
    ) -> None:
        await interaction.response.send_modal(SongModal(audio, prompt, other_id))

    @bot.tree.command(name="slow", description="Answers too late")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.3)
        await interaction.response.send_message("late")

    @bot.tree.command(name="silent", description="Never answers")
    async def silent(interaction: discord.Interaction) -> None:
        pass

    @bot.tree.command(name="menu", description="A message with a button")
    async def menu(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pick", view=Buttons())

    @bot.tree.command(name="files", description="Files in every interaction route")
    async def files(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            "first", file=discord.File(io.BytesIO(b"1"), "a.txt")
        )
        original = await interaction.original_response()
        await interaction.edit_original_response(
            content="edited",
            attachments=[*original.attachments, discord.File(io.BytesIO(b"2"), "b.txt")],
        )
        extra = await interaction.followup.send(
            "extra", file=discord.File(io.BytesIO(b"3"), "c.txt"), wait=True
        )
        fetched = await interaction.followup.fetch_message(extra.id)
        await fetched.edit(content="extra edited", attachments=[])
        await interaction.followup.send("gone soon", wait=True)
        await (await interaction.original_response()).delete()

    @bot.tree.command(name="where", description="Says where it was run")
    async def where(interaction: discord.Interaction) -> None:
        channel = interaction.channel
        parent = getattr(channel, "parent_id", None)
        await interaction.response.send_message(
            f"{type(channel).__name__} {getattr(channel, 'id', None)} parent={parent}"
        )

    @bot.tree.command(name="voice", description="A modal with selects")
    async def voice(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(VoiceModal())

    @bot.tree.command(name="wave", description="Edits its reply with a picture")
    async def wave(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        embed = discord.Embed(title="Rewriting 0:30-0:45")
        embed.set_image(url="attachment://wave.png")
        await interaction.edit_original_response(
            embed=embed, attachments=[discord.File(io.BytesIO(_png(1200, 300)), "wave.png")]
        )

    @bot.tree.command(name="admin", description="Only for admins")
    @app_commands.default_permissions(administrator=True)
    async def admin(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("admin")

    async def sing_over_this(interaction: discord.Interaction, message: discord.Message) -> None:
        audio = [a for a in message.attachments if (a.content_type or "").startswith("audio/")]
        if not audio:
            await interaction.response.send_message("no audio here", ephemeral=True)
            return
        data = await audio[0].read()
        await interaction.response.send_message(
            f"{message.author.id} {audio[0].filename} {audio[0].size} {len(data)} "
            f"{hashlib.sha256(data).hexdigest()} {message.content}"
        )

    bot.tree.add_command(app_commands.ContextMenu(name="Sing over this", callback=sing_over_this))

    music = app_commands.Group(name="music", description="Music things")

    @music.command(name="play", description="Play a title")
    async def play(interaction: discord.Interaction, title: str, loud: bool = False) -> None:
        await interaction.response.send_message(f"playing {title} loud={loud}", ephemeral=True)

    bot.tree.add_command(music)

    @bot.tree.error
    async def on_error(interaction: discord.Interaction, error: Exception) -> None:
        bot.errors.append(error)  # type: ignore[attr-defined]

    async def setup_hook() -> None:
        bot.add_dynamic_items(SongButton)  # before anything is posted: survives restarts
        bot.tree.copy_global_to(guild=discord.Object(guild_id))
        await bot.tree.sync(guild=discord.Object(guild_id))

    async def before_identify_hook(shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py sleeps 5 s before every re-IDENTIFY; not needed against the stand-in."""

    bot.setup_hook = setup_hook  # type: ignore[method-assign]
    bot.before_identify_hook = before_identify_hook  # type: ignore[method-assign]
    return bot


# --------------------------------------------------------------------------- fixtures


def _guilds() -> list[GuildSpec]:
    return [
        GuildSpec(
            "Tier 0",
            channels=[
                ChannelSpec("general"),
                ChannelSpec("no-files", bot_denied=Perm.ATTACH_FILES),
            ],
            roles=[RoleSpec("singers", mentionable=True), RoleSpec("mods")],
        ),
        GuildSpec("Tier 2", premium_tier=2),
    ]


@pytest.fixture
async def dc() -> AsyncIterator[DiscordStandIn]:
    async with DiscordStandIn(
        token="test-token", guilds=_guilds(), users=[UserSpec("alice"), UserSpec("bob")]
    ) as stand_in:
        with stand_in.patch_discord_py():
            yield stand_in


@contextlib.asynccontextmanager
async def running_bot(dc: DiscordStandIn) -> AsyncIterator[commands.Bot]:
    client = make_bot(dc.guild_id, dc.user("bob").id)
    task = asyncio.create_task(client.start(dc.token))
    try:
        await dc.wait_ready()
        await asyncio.wait_for(client.wait_until_ready(), 10)
        yield client
    finally:
        await client.close()
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def bot(dc: DiscordStandIn) -> AsyncIterator[commands.Bot]:
    async with running_bot(dc) as client:
        yield client


def text_channel(bot: commands.Bot, channel_id: int) -> discord.TextChannel:
    channel = bot.get_channel(channel_id)
    assert isinstance(channel, discord.TextChannel)
    return channel


# --------------------------------------------------------------------------- login and gateway


async def test_login_ready_and_guild_cache(dc: DiscordStandIn, bot: commands.Bot) -> None:
    assert bot.user is not None and bot.user.id == dc.app_id
    assert bot.application_id == dc.app_id
    logins = [r for r in dc.requests if r.route in ("/users/@me", "/oauth2/applications/@me")]
    assert [r.route for r in logins] == ["/users/@me", "/oauth2/applications/@me"]
    assert all(r.authorization == "Bot" and r.status == 200 for r in logins)
    assert logins[0].headers["Authorization"] == "<redacted>"
    assert dc.gateway.connects[0] == {"v": "10", "encoding": "json", "compress": "zlib-stream"}

    tier0, tier2 = (bot.get_guild(g.id) for g in dc.guild_specs)
    assert tier0 is not None and tier2 is not None
    assert tier0.filesize_limit == 10 * MiB and tier2.filesize_limit == 50 * MiB
    assert tier0.me is not None and tier0.me.id == dc.app_id
    assert [c.name for c in tier0.text_channels] == ["general", "no-files"]
    assert {r.name for r in tier0.roles} >= {"@everyone", "singers", "mods", "TestBot"}
    assert text_channel(bot, dc.channel_id).permissions_for(tier0.me).attach_files
    assert not text_channel(bot, dc.channel_ids()[1]).permissions_for(tier0.me).attach_files


@pytest.mark.parametrize(
    "intents",
    [discord.Intents.all(), discord.Intents(guilds=True, members=True)],
    ids=["presences: members in GUILD_CREATE", "members only: chunked via op 8"],
)
async def test_member_cache_with_privileged_intents(
    dc: DiscordStandIn, intents: discord.Intents
) -> None:
    client = commands.Bot(
        command_prefix=commands.when_mentioned, intents=intents, guild_ready_timeout=0.05
    )
    task = asyncio.create_task(client.start(dc.token))
    try:
        await asyncio.wait_for(client.wait_until_ready(), 10)
        guild = client.get_guild(dc.guild_id)
        assert guild is not None and guild.chunked
        assert {m.name for m in guild.members} == {"alice", "bob", "TestBot"}
        assert guild.owner is not None and guild.owner.name == "alice"
    finally:
        await client.close()
        await asyncio.wait_for(task, 10)


async def test_json_content_type_is_exact_and_auth_is_checked(dc: DiscordStandIn) -> None:
    async with aiohttp.ClientSession() as http:
        ok = await http.get(dc.api_base + "/users/@me", headers={"Authorization": "Bot test-token"})
        assert ok.headers["Content-Type"] == "application/json"
        assert ok.headers["X-RateLimit-Remaining"] and ok.headers["X-RateLimit-Reset-After"]
        bad = await http.get(dc.api_base + "/users/@me", headers={"Authorization": "Bot nope"})
        assert bad.status == 401
        assert await bad.json() == {"message": "401: Unauthorized", "code": 0}
    wrong = commands.Bot(command_prefix=commands.when_mentioned, intents=discord.Intents.default())
    with pytest.raises(discord.LoginFailure):
        await wrong.login("nope")
    await wrong.close()


async def test_raw_gateway_zlib_stream(dc: DiscordStandIn) -> None:
    """One compressor per connection, every frame ending in a Z_SYNC_FLUSH."""
    inflaters: dict[int, zlib._Decompress] = {}

    async def receive(ws: aiohttp.ClientWebSocketResponse) -> dict:
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.BINARY
        assert msg.data.endswith(b"\x00\x00\xff\xff")
        inflate = inflaters.setdefault(id(ws), zlib.decompressobj())
        return json.loads(inflate.decompress(msg.data))

    url = dc.gateway_url + "?v=10&encoding=json&compress=zlib-stream"
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url) as ws:
            hello = await receive(ws)
            assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
            await ws.send_json({"op": 1, "d": None})
            assert (await receive(ws))["op"] == 11
            await ws.send_json({"op": 2, "d": {"token": "test-token", "intents": 513}})
            ready = await receive(ws)
            assert ready["t"] == "READY" and ready["s"] == 1
            assert ready["d"]["application"] == {"id": str(dc.app_id), "flags": 0}
            assert ready["d"]["resume_gateway_url"] == dc.gateway_url
            creates = [await receive(ws) for _ in dc.guild_specs]
            assert [c["t"] for c in creates] == ["GUILD_CREATE", "GUILD_CREATE"]
            assert creates[1]["d"]["premium_tier"] == 2
            await ws.send_json(
                {"op": 8, "d": {"guild_id": str(dc.guild_id), "query": "", "limit": 0}}
            )
            chunk = await receive(ws)
            assert chunk["t"] == "GUILD_MEMBERS_CHUNK" and len(chunk["d"]["members"]) == 3
        async with http.ws_connect(url) as ws:
            await receive(ws)
            await ws.send_json({"op": 2, "d": {"token": "wrong", "intents": 513}})
            closed = await ws.receive(timeout=5)
            assert closed.type == aiohttp.WSMsgType.CLOSE and closed.data == 4004


async def test_reconnect_resumes_and_invalid_session_reidentifies(
    dc: DiscordStandIn, bot: commands.Bot
) -> None:
    resumed = asyncio.create_task(bot.wait_for("resumed", timeout=10))
    await dc.gateway_reconnect()
    await resumed
    assert dc.gateway.resume_count == 1 and dc.gateway.identify_count == 1

    await dc.gateway_invalidate()
    await dc.wait_until(lambda: dc.gateway.identify_count == 2 and dc.gateway.session_for(None))
    await dc.wait_ready()
    ix = await dc.invoke_command("menu")  # interactions still reach the bot
    assert (await ix.wait_callback()).type == 4


# --------------------------------------------------------------------------- commands, modal, files


async def test_command_sync_stores_definitions_with_stable_ids(
    dc: DiscordStandIn, bot: commands.Bot
) -> None:
    synced = await dc.wait_commands_synced(dc.guild_id)
    sing = next(c for c in synced if c["name"] == "sing")
    assert [(o["name"], o["type"], o.get("required", False)) for o in sing["options"]] == [
        ("prompt", 3, True),
        ("audio", 11, True),
        ("verses", 4, False),
    ]
    assert sing["guild_id"] == str(dc.guild_id) and sing["application_id"] == str(dc.app_id)
    fetched = await bot.tree.fetch_commands(guild=discord.Object(dc.guild_id))
    assert {c.name: c.id for c in fetched} == {c["name"]: int(c["id"]) for c in synced}
    again = await bot.tree.sync(guild=discord.Object(dc.guild_id))
    assert {c.name: c.id for c in again} == {c.name: c.id for c in fetched}
    assert dc.find_requests(
        "PUT", route="/applications/{application_id}/guilds/{guild_id}/commands"
    )


async def test_slash_command_modal_submit_file_edit_followup(
    dc: DiscordStandIn, bot: commands.Bot
) -> None:
    await dc.wait_commands_synced(dc.guild_id)
    alice, bob = dc.user("alice"), dc.user("bob")
    audio = bytes(range(256)) * 4096  # 1 MiB
    att = dc.add_attachment("beat.mp3", audio)

    ix = await dc.invoke_command(
        "sing", {"prompt": "rain", "audio": att}, user_id=alice.id, channel_id=dc.channel_id
    )
    resolved = ix.payload["data"]["resolved"]["attachments"]
    assert list(resolved) == [att["id"]] == [ix.payload["data"]["options"][1]["value"]]

    cb = await ix.wait_callback()
    assert cb.type == 9 and cb.modal is not None and cb.modal["title"] == "Your song"
    fields = ix.modal_fields()
    assert (fields[0].custom_id, fields[0].label, fields[0].required) == ("lyrics", "Lyrics", True)
    assert fields[0].placeholder == "The words to sing"
    assert fields[1].label == "Mood" and fields[1].value == "happy"
    with pytest.raises(ValueError, match="required"):
        await ix.submit_modal({"mood": "sad"})

    sub = await ix.submit_modal({"lyrics": "la la la"})  # "Mood" keeps its default
    comps = sub.payload["data"]["components"]
    assert comps[0]["type"] == 1 and comps[0]["components"][0]["value"] == "la la la"
    assert comps[1]["type"] == 18 and comps[1]["component"]["value"] == "happy"

    defer = await sub.wait_callback()
    assert defer.type == 5 and defer.ephemeral
    posted = await dc.wait_for_message(
        dc.channel_id, lambda m: m.source == "channel" and bool(m.edits)
    )
    assert posted.content.startswith(f"<@{alice.id}> your happy song about rain: la la la")
    assert posted.content.endswith("[mastered]") and "[mastered]" not in posted.edits[0]["content"]
    assert posted.files == {"sung_song.mp3": audio[::-1]}
    assert posted.attachments[0].content_type == "audio/mpeg"
    assert posted.allowed_mentions == {"parse": [], "users": [alice.id], "replied_user": True}
    assert posted.resolved_mentions.users == [alice.id] and bob.id not in posted.notified.users
    assert not posted.resolved_mentions.everyone and posted.author_id == dc.app_id

    followups = await sub.wait_followups(1)
    # A followup after a deferred reply fills the "thinking" message, ephemeral as deferred.
    assert followups[0] is sub.original_message
    assert followups[0].ephemeral and followups[0].content.startswith("posted https://")
    assert followups[0].notified.empty

    by_route = {r.route: r for r in dc.requests if r.kind == "rest"}
    callback = by_route["/interactions/{interaction_id}/{token}/callback"]
    assert callback.authorization is None and callback.query == {"with_response": "1"}
    assert by_route["/webhooks/{application_id}/{token}"].authorization is None
    send = by_route["/channels/{channel_id}/messages"]
    assert send.authorization == "Bot" and send.files[0].filename == "sung song.mp3"
    assert dc.find_requests("GET", path=r"^/ephemeral-attachments/")[0].status == 200
    assert dc.unhandled_requests == []
    assert dc.internal_errors == []
    if dc.openapi_enabled:  # the bot's requests and the stand-in's answers both fit the spec
        assert [str(v) for v in dc.openapi_violations(responses=True)] == []


async def test_modal_submit_waits_until_the_bot_has_the_modal() -> None:
    """discord.py stores a modal only once the callback's HTTP answer is back, and Discord's
    client can only submit a modal it has shown. A middleware holds every callback answer
    back 0.3 s: a submit sent when the callback arrives would reach the bot first, which
    discards it ("Modal interaction referencing unknown custom_id") and never answers."""
    seen: list[str] = []
    sent: list[int] = []

    @web.middleware
    async def slow_callback_answers(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        seen.append(request.path)
        response = await handler(request)
        if request.path.endswith("/callback"):
            await asyncio.sleep(0.3)
        return response

    async with DiscordStandIn(
        token="test-token",
        guilds=_guilds(),
        middlewares=[slow_callback_answers],
        on_interaction_sent=sent.append,
    ) as dc:
        with dc.patch_discord_py():
            async with running_bot(dc):
                await dc.wait_commands_synced(dc.guild_id)
                att = dc.add_attachment("beat.mp3", b"ID3 beat")
                ix = await dc.invoke_command("sing", {"prompt": "rain", "audio": att})
                modal = await ix.wait_callback()
                sub = await ix.submit_modal({"lyrics": "la la la"})
                assert (await sub.wait_callback(timeout=5)).type == 5  # the bot took it
                await sub.wait_followups(1)
    assert modal.responded_at is not None and ix.sent_at is not None and sub.sent_at is not None
    assert modal.responded_at >= ix.sent_at + 0.3  # the answer was held back
    assert sub.sent_at >= modal.responded_at + MODAL_SHOW_DELAY  # the submit waited for it
    assert sent == [ix.id, sub.id]  # on_interaction_sent, in order
    # The hook's middlewares see every request: REST, CDN and the gateway upgrade.
    assert "/gateway" in seen and any(p.startswith("/ephemeral-attachments/") for p in seen)


async def test_interaction_files_edits_followups_and_deletes(
    dc: DiscordStandIn, bot: commands.Bot
) -> None:
    await dc.wait_commands_synced(dc.guild_id)
    ix = await dc.invoke_command("files")
    await dc.wait_until(lambda: len(ix.messages) == 3 and ix.messages[0].deleted)
    original, extra, _ = ix.messages
    assert original.content == "edited" and original.deleted
    assert original.files == {"a.txt": b"1", "b.txt": b"2"}
    assert original.edits[0]["attachments"] == ["a.txt"]
    assert (
        extra.content == "extra edited" and extra.attachments == [] and extra.source == "followup"
    )
    assert [m.content for m in ix.followups] == ["extra edited", "gone soon"]
    assert ix.callback is not None and [a.filename for a in ix.callback.attachments] == ["a.txt"]
    assert ix.callback.request.files[0].filename == "a.txt"
    routes = [(r.method, r.route) for r in dc.requests if r.route and "{token}" in r.route]
    assert ("PATCH", "/webhooks/{application_id}/{token}/messages/{message_id}") in routes
    assert ("DELETE", "/webhooks/{application_id}/{token}/messages/{message_id}") in routes
    assert ("GET", "/webhooks/{application_id}/{token}/messages/{message_id}") in routes
    assert dc.internal_errors == [] and dc.unhandled_requests == []
    if dc.openapi_enabled:
        assert [str(v) for v in dc.openapi_violations(responses=True)] == []


async def test_subcommands_permissions_and_option_checks(
    dc: DiscordStandIn, bot: commands.Bot
) -> None:
    await dc.wait_commands_synced(dc.guild_id)
    ix = await dc.invoke_command("music play", {"title": "rain", "loud": True})
    assert ix.payload["data"]["options"] == [
        {
            "name": "play",
            "type": 1,
            "options": [
                {"name": "title", "type": 3, "value": "rain"},
                {"name": "loud", "type": 5, "value": True},
            ],
        }
    ]
    reply = await ix.wait_original()
    assert reply.content == "playing rain loud=True" and reply.ephemeral
    assert dc.messages(dc.channel_id, include_ephemeral=False) == []
    with pytest.raises(ValueError, match="required"):
        await dc.invoke_command("music play", {})
    with pytest.raises(ValueError, match="no option"):
        await dc.invoke_command("music play", {"title": "x", "volume": 3})
    with pytest.raises(LookupError, match="not synced"):
        await dc.invoke_command("nope")
    # alice owns the guild; the refusal is in words, as Discord's settings name permissions.
    with pytest.raises(PermissionError, match=r"^bob can't use /admin: it needs Administrator$"):
        await dc.invoke_command("admin", user_id=dc.user("bob").id)
    assert (await (await dc.invoke_command("admin")).wait_original()).content == "admin"


async def test_component_click_updates_message(dc: DiscordStandIn, bot: commands.Bot) -> None:
    await dc.wait_commands_synced(dc.guild_id)
    ix = await dc.invoke_command("menu")
    msg = await ix.wait_original()
    assert msg.content == "pick" and msg.components[0]["components"][0]["custom_id"] == "again"
    click = await dc.click(msg, "again")
    assert (await click.wait_callback()).type == 7
    assert msg.content == "again!" and msg.components == [] and msg.edits[0]["content"] == "pick"


async def test_late_first_response_is_unknown_interaction(
    dc: DiscordStandIn, bot: commands.Bot
) -> None:
    dc.interaction_ack_deadline = 0.1
    await dc.wait_commands_synced(dc.guild_id)
    ix = await dc.invoke_command("slow")
    req = await dc.wait_for_request("POST", r"/callback$")
    assert req.status == 404 and req.response["code"] == 10062
    await dc.wait_until(lambda: bot.errors)  # type: ignore[attr-defined]
    assert ix.callbacks == []


async def test_interaction_token_errors(dc: DiscordStandIn, bot: commands.Bot) -> None:
    await dc.wait_commands_synced(dc.guild_id)
    silent = await dc.invoke_command("silent")
    menu = await dc.invoke_command("menu")
    await menu.wait_callback()
    hook = f"{dc.api_base}/webhooks/{dc.app_id}"
    async with aiohttp.ClientSession() as http:

        async def post(url: str, body: dict) -> tuple[int, int]:
            async with http.post(url, json=body) as resp:
                return resp.status, (await resp.json())["code"]

        callback = f"{dc.api_base}/interactions/{menu.id}/{menu.token}/callback?with_response=1"
        assert await post(callback, {"type": 4, "data": {"content": "again"}}) == (400, 40060)
        assert await post(f"{hook}/{silent.token}?wait=1", {"content": "x"}) == (404, 10015)
        assert await post(f"{hook}/nope?wait=1", {"content": "x"}) == (404, 10015)
        menu.expire()
        assert await post(f"{hook}/{menu.token}?wait=1", {"content": "x"}) == (401, 50027)
        bad_modal = {"type": 9, "data": {"custom_id": "m", "title": "t" * 46, "components": []}}
        url = f"{dc.api_base}/interactions/{silent.id}/{silent.token}/callback?with_response=1"
        assert await post(url, bad_modal) == (400, 50035)
    assert silent.callbacks == [] and len(menu.messages) == 1


# --------------------------------------------------------------------------- channel messages


async def test_429_is_retried_once(dc: DiscordStandIn, bot: commands.Bot) -> None:
    fault = dc.faults.add("POST", r"^/channels/\d+/messages$", 429, retry_after=0.05)
    msg = await text_channel(bot, dc.channel_id).send("hello")
    sends = dc.find_requests("POST", path=r"^/channels/\d+/messages$")
    assert [r.status for r in sends] == [429, 200] and fault.hits == 1
    assert sends[0].response["retry_after"] == 0.05 and sends[0].response["global"] is False
    assert [m.content for m in dc.messages(dc.channel_id)] == ["hello"]
    assert msg.id == dc.messages(dc.channel_id)[0].id


async def test_502_is_retried(dc: DiscordStandIn, bot: commands.Bot) -> None:
    dc.faults.add("GET", r"^/channels/\d+$", 502)
    channel = await bot.fetch_channel(dc.channel_id)
    assert channel.id == dc.channel_id
    assert [r.status for r in dc.find_requests("GET", path=r"^/channels/\d+$")] == [502, 200]


async def test_413_fault(dc: DiscordStandIn, bot: commands.Bot) -> None:
    dc.faults.add("POST", r"/messages$", 413)
    with pytest.raises(discord.HTTPException) as err:
        await text_channel(bot, dc.channel_id).send("tiny")
    assert err.value.status == 413 and err.value.code == 40005


async def test_a_send_with_the_same_nonce_returns_the_first_message(
    dc: DiscordStandIn, bot: commands.Bot
) -> None:
    """discord.py sends `enforce_nonce` with every nonce: Discord makes one message."""
    channel = text_channel(bot, dc.channel_id)
    first = await channel.send("status", nonce="status-7")
    again = await channel.send("status", nonce="status-7")
    other = await channel.send("status", nonce="status-8")
    assert again.id == first.id and other.id != first.id
    assert [m.id for m in dc.messages(include_ephemeral=False) if m.content == "status"] == [
        first.id,
        other.id,
    ]


async def test_dm_and_gateway_messages(dc: DiscordStandIn, bot: commands.Bot) -> None:
    alice = dc.user("alice")
    user = await bot.fetch_user(alice.id)
    dm = await user.send("hello alice")
    assert dc.message(dm.id).guild_id is None and dc.filesize_limit(dm.channel.id) == 10 * MiB

    # Without the message-content intent only messages mentioning the bot carry content.
    seen = asyncio.create_task(bot.wait_for("message", check=lambda m: m.author.id == alice.id))
    await dc.post_user_message("secret", user_id=alice.id)
    assert (await asyncio.wait_for(seen, 10)).content == ""
    seen = asyncio.create_task(bot.wait_for("message", check=lambda m: m.author.id == alice.id))
    att = dc.add_attachment("take 1.ogg", b"OggS")
    await dc.post_user_message(f"<@{dc.app_id}> hi", user_id=alice.id, attachments=[att])
    message = await asyncio.wait_for(seen, 10)
    assert message.content == f"<@{dc.app_id}> hi" and message.mentions[0].id == dc.app_id
    assert await message.attachments[0].read() == b"OggS"


async def test_closed_dms_refuse_the_bots_message_with_50007(
    dc: DiscordStandIn, bot: commands.Bot
) -> None:
    alice, bob = dc.user("alice"), dc.user("bob")
    alice.dms_closed = True
    user = await bot.fetch_user(alice.id)
    # Discord still opens the DM channel; the message is what it refuses.
    channel = await user.create_dm()
    assert channel.id == dc.dm_channel(alice.id).id
    with pytest.raises(discord.Forbidden) as err:
        await channel.send("hello alice")
    assert err.value.status == 403 and err.value.code == 50007
    assert err.value.text == "Cannot send messages to this user"
    assert not dc.messages(channel_id=channel.id)
    # Only her DMs: bob's still take messages, and hers do once she opens them.
    await (await bot.fetch_user(bob.id)).send("hello bob")
    alice.dms_closed = False
    sent = await channel.send("hello again")
    assert [m.id for m in dc.messages(channel_id=channel.id)] == [sent.id]


async def test_missed_events_are_replayed_on_resume(dc: DiscordStandIn, bot: commands.Bot) -> None:
    seen = asyncio.create_task(bot.wait_for("message", check=lambda m: "while away" in m.content))
    await dc.gateway_drop(4000)  # resumable close
    await dc.post_user_message(f"<@{dc.app_id}> while away")  # buffered, not sent live
    assert (await asyncio.wait_for(seen, 10)).content.endswith("while away")
    assert dc.gateway.resume_count == 1 and dc.gateway.identify_count == 1


async def test_upload_limit_follows_premium_tier(dc: DiscordStandIn, bot: commands.Bot) -> None:
    big = b"\0" * (11 * MiB)
    with pytest.raises(discord.HTTPException) as err:
        await text_channel(bot, dc.channel_id).send(file=discord.File(io.BytesIO(big), "big.wav"))
    assert err.value.status == 413 and err.value.code == 40005
    assert dc.messages(dc.channel_id) == []

    tier2 = dc.guild_specs[1]
    msg = await text_channel(bot, dc.channel_ids(tier2.id)[0]).send(
        file=discord.File(io.BytesIO(big), "big.wav")
    )
    assert msg.attachments[0].size == len(big)

    with pytest.raises(discord.Forbidden) as denied:
        await text_channel(bot, dc.channel_ids()[1]).send(file=discord.File(io.BytesIO(b"x"), "a"))
    assert denied.value.code == 50013


async def test_history_before_after_around(dc: DiscordStandIn, bot: commands.Bot) -> None:
    channel = text_channel(bot, dc.channel_id)
    sent = [await channel.send(f"m{i}") for i in range(5)]
    await dc.post_user_message("from alice", user_id=dc.user("alice").id)
    newest = [m.content async for m in channel.history(limit=3)]
    assert newest == ["from alice", "m4", "m3"]
    before = [m.content async for m in channel.history(limit=10, before=sent[2])]
    assert before == ["m1", "m0"]
    after = [m.content async for m in channel.history(limit=2, after=sent[1])]
    assert after == ["m2", "m3"]
    around = [m.content async for m in channel.history(limit=3, around=sent[2])]
    assert around == ["m3", "m2", "m1"]
    fetched = await channel.fetch_message(sent[4].id)
    assert fetched.content == "m4"
    await sent[4].delete()
    with pytest.raises(discord.NotFound):
        await channel.fetch_message(sent[4].id)
    assert [r.query for r in dc.find_requests("GET", path=r"/messages$")][1] == {
        "limit": "10",
        "before": str(sent[2].id),
    }


async def test_reply_and_mentions_as_discord_resolves_them(
    dc: DiscordStandIn, bot: commands.Bot
) -> None:
    alice, bob = dc.user("alice"), dc.user("bob")
    singers, mods = (r for r in dc.guild().roles)
    channel = text_channel(bot, dc.channel_id)
    note = await dc.post_user_message("sing for me", user_id=alice.id)
    content = f"<@{bob.id}> <@&{singers.id}> <@&{mods.id}> @here"

    plain = await channel.send(content)  # no allowed_mentions: everything parsed
    stored = dc.message(plain.id)
    assert stored.resolved_mentions.users == [bob.id]
    assert stored.resolved_mentions.roles == [singers.id, mods.id]  # bot may ping any role
    assert stored.resolved_mentions.here and plain.mention_everyone

    reply = await channel.send(
        content,
        reference=discord.MessageReference(message_id=note.id, channel_id=dc.channel_id),
        allowed_mentions=discord.AllowedMentions(
            users=False, roles=[singers], everyone=False, replied_user=True
        ),
    )
    stored = dc.message(reply.id)
    assert stored.type == 19 and stored.message_reference is not None
    assert stored.message_reference["message_id"] == str(note.id)
    assert stored.resolved_mentions.users == [alice.id]  # the replied-to author only
    assert stored.resolved_mentions.roles == [singers.id] and not stored.resolved_mentions.here
    assert reply.reference is not None and reply.reference.message_id == note.id


def test_resolve_mentions_rules() -> None:
    roles = {1: RoleSpec("open", id=1, mentionable=True), 2: RoleSpec("closed", id=2)}
    users = {10, 11}
    text = "<@10> <@!11> <@99> <@&1> <@&2> @everyone"

    def resolve(allowed, *, everyone_perm=True, replied=None):
        return resolve_mentions(
            text,
            allowed,
            known_users=users,
            roles=roles,
            can_mention_everyone=everyone_perm,
            replied_user_id=replied,
        )

    default = resolve(None)
    assert (default.users, default.roles, default.everyone) == ([10, 11], [1, 2], True)
    weak = resolve(None, everyone_perm=False)
    assert (weak.roles, weak.everyone) == ([1], False)
    assert resolve({"parse": []}).empty
    only = resolve({"parse": ["roles"], "users": ["11", "12"]})
    assert (only.users, only.roles, only.everyone) == ([11], [1, 2], False)
    assert resolve({"parse": []}, replied=12).users == []
    assert resolve({"parse": [], "replied_user": True}, replied=12).users == [12]
    with pytest.raises(DiscordHTTPError) as err:
        resolve({"parse": ["users"], "users": ["10"]})
    assert err.value.status == 400 and err.value.code == 50035


# --------------------------------------------------------------------------- CDN, validation


async def test_cdn_serves_large_files_ranges_and_requires_signature(
    dc: DiscordStandIn, tmp_path
) -> None:
    data = bytes(range(256)) * (26 * 4096)  # 26 MiB
    att = dc.add_attachment("big song.wav", data)
    path = tmp_path / "disk.mp3"
    path.write_bytes(b"abcdef")
    on_disk = dc.add_attachment("disk.mp3", path)
    assert att["filename"] == "big_song.wav" and att["size"] == len(data)
    async with aiohttp.ClientSession() as http:
        async with http.get(att["url"]) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "audio/x-wav"
            assert await resp.read() == data
        async with http.get(att["url"], headers={"Range": "bytes=10-19"}) as resp:
            assert resp.status == 206 and await resp.read() == data[10:20]
        async with http.get(on_disk["url"], headers={"Range": "bytes=2-"}) as resp:
            assert await resp.read() == b"cdef"
        async with http.get(att["url"].split("?")[0]) as resp:
            assert resp.status == 404
    dc.faults.add("GET", r"^/ephemeral-attachments/", 500)
    async with aiohttp.ClientSession() as http, http.get(att["url"]) as resp:
        assert resp.status == 500


async def test_openapi_catches_bad_requests(dc: DiscordStandIn) -> None:
    if not dc.openapi_enabled:
        pytest.skip("Discord's openapi.json is absent (../shared/discord/openapi.json)")
    async with aiohttp.ClientSession() as http:
        url = f"{dc.api_base}/channels/{dc.channel_id}/messages"
        headers = {"Authorization": "Bot test-token"}
        async with http.post(url, json={"content": 5}, headers=headers) as resp:
            assert resp.status == 400
        async with http.post(url, json={"content": "ok"}, headers=headers) as resp:
            assert resp.status == 200
    violations = dc.openapi_violations()
    assert len(violations) == 1 and violations[0].kind == "request"
    assert "content" in violations[0].message
    with pytest.raises(AssertionError, match=r"1 request\(s\) break .*\n  1\. request POST"):
        dc.assert_no_openapi_violations()


def test_openapi_assertion_says_when_nothing_is_checked(tmp_path) -> None:
    off = DiscordStandIn(validate_openapi=False)
    assert "off" in off.assert_no_openapi_violations()
    absent = DiscordStandIn(validate_openapi=True, openapi_path=tmp_path / "none.json")
    assert "absent" in absent.assert_no_openapi_violations()


# --------------------------------------------------------------------------- threads


async def test_threads_from_a_message_and_without_one(
    dc: DiscordStandIn, bot: commands.Bot
) -> None:
    await dc.wait_commands_synced(dc.guild_id)
    channel = text_channel(bot, dc.channel_id)
    status = await channel.send("status of song #1")
    created = asyncio.create_task(bot.wait_for("thread_create", timeout=10))
    thread = await status.create_thread(name="warm soul vocal", auto_archive_duration=1440)
    assert isinstance(thread, discord.Thread) and thread.id == status.id
    assert thread.parent_id == dc.channel_id and thread.type is discord.ChannelType.public_thread
    seen = await created  # THREAD_CREATE with newly_created: on_thread_create, not _join
    assert seen.id == thread.id and seen.name == "warm soul vocal"
    record = dc.thread_of(dc.message(status.id))
    assert record is not None and record is dc.thread(thread.id) and dc.threads() == [record]
    assert (record.type, record.owner_id, record.parent_id) == (11, dc.app_id, dc.channel_id)
    stored_status = dc.message(status.id)
    assert stored_status.flags & (1 << 5) and stored_status.edits == []  # HAS_THREAD, no edit
    assert (await channel.fetch_message(status.id)).thread is not None

    # A thread takes messages, edits, history and deletions like a text channel.
    first = await thread.send("take 1", file=discord.File(io.BytesIO(b"ID3 take"), "take 1.mp3"))
    second = await thread.send("take 2")
    await first.edit(content="take 1 (edited)")
    await dc.post_user_message("nice", channel_id=thread.id, user_id=dc.user("bob").id)
    assert [m.content async for m in thread.history(limit=10)] == [
        "nice",
        "take 2",
        "take 1 (edited)",
    ]
    await second.delete()
    assert [m.content for m in dc.messages(thread.id)] == ["take 1 (edited)", "nice"]
    assert dc.messages(thread.id)[0].files == {"take_1.mp3": b"ID3 take"}
    assert record.message_count == 2 and record.total_message_sent == 3
    assert dc.user("bob").id in record.thread_member_ids
    fetched = await bot.fetch_channel(thread.id)
    assert isinstance(fetched, discord.Thread) and fetched.message_count == 2

    # Interactions run inside the thread carry it as their channel.
    ix = await dc.invoke_command("where", channel_id=thread.id)
    assert ix.payload["channel"]["type"] == 11 and ix.payload["channel_id"] == str(thread.id)
    reply = await ix.wait_original()
    assert reply.content == f"Thread {thread.id} parent={dc.channel_id}"
    assert reply.channel_id == thread.id

    # Without a message: private by default (discord.py's default too), no notice; public
    # ones leave a "thread created" system message (type 18) in the parent.
    private = await channel.create_thread(name="just us")
    public = await channel.create_thread(name="open", type=discord.ChannelType.public_thread)
    assert (dc.thread(private.id).type, dc.thread(public.id).type) == (12, 11)
    notices = [m for m in dc.messages(dc.channel_id) if m.type == 18]
    assert [(m.content, m.message_reference) for m in notices] == [
        ("open", {"type": 0, "channel_id": str(public.id), "guild_id": str(dc.guild_id)})
    ]
    alice, bob = dc.user("alice"), dc.user("bob")
    with pytest.raises(PermissionError):  # a private thread: members only
        await dc.invoke_command("where", channel_id=private.id, user_id=bob.id)
    await private.add_user(discord.Object(bob.id))
    assert bob.id in dc.thread(private.id).thread_member_ids
    assert (await dc.invoke_command("where", channel_id=private.id, user_id=bob.id)).payload
    assert alice.id not in dc.thread(private.id).thread_member_ids  # the owner sees anyway

    # A new session (a restart) learns the active threads from GUILD_CREATE.
    ready = asyncio.create_task(bot.wait_for("ready", timeout=10))
    await dc.gateway_invalidate()
    await ready
    assert dc.gateway.identify_count == 2
    fresh = bot.get_guild(dc.guild_id)
    assert fresh is not None
    assert {t.id for t in fresh.threads} == {thread.id, private.id, public.id}
    assert dc.internal_errors == [] and dc.unhandled_requests == []
    if dc.openapi_enabled:
        assert [str(v) for v in dc.openapi_violations(responses=True)] == []


async def test_thread_refusals(dc: DiscordStandIn, bot: commands.Bot) -> None:
    channel = text_channel(bot, dc.channel_id)
    status = await channel.send("status")
    # The parent's overwrite for the bot applies to threads: no CREATE_PUBLIC_THREADS -> 50013.
    dc.channel(dc.channel_id).bot_denied = Perm.CREATE_PUBLIC_THREADS
    with pytest.raises(discord.Forbidden) as denied:
        await status.create_thread(name="nope")
    assert denied.value.status == 403 and denied.value.code == 50013
    dc.channel(dc.channel_id).bot_denied = 0

    dc.guild().max_active_threads = 1
    thread = await status.create_thread(name="one")
    with pytest.raises(discord.HTTPException) as full:
        await channel.create_thread(name="two", type=discord.ChannelType.public_thread)
    assert (full.value.status, full.value.code) == (400, 160006)
    assert "Maximum number of active threads" in full.value.text
    with pytest.raises(discord.HTTPException) as again:
        await status.create_thread(name="second from the same message")
    assert again.value.code in (160004, 160006)
    dc.guild().max_active_threads = 1000

    # Injected refusals, as the e2e tests use them; the next call goes through again.
    fault = dc.refuse_threads(160006)
    other = await channel.send("other")
    with pytest.raises(discord.HTTPException) as injected:
        await other.create_thread(name="x")
    assert injected.value.code == 160006 and fault.hits == 1
    dc.refuse_threads(50013)
    with pytest.raises(discord.Forbidden):
        await other.create_thread(name="x")
    assert (await other.create_thread(name="x")).id == other.id

    # Sending in a thread needs SEND_MESSAGES_IN_THREADS (SEND_MESSAGES is not enough).
    dc.channel(dc.channel_id).bot_denied = Perm.SEND_MESSAGES_IN_THREADS
    with pytest.raises(discord.Forbidden):
        await thread.send("denied")
    assert (await channel.send("the parent still works")).content
    with pytest.raises(discord.HTTPException) as bad_name:
        await channel.create_thread(name="n" * 101)
    assert bad_name.value.code == 50035
    assert len(dc.threads()) == 2 and dc.internal_errors == []

    # Archived threads free a place; posting in one wakes it; its creator may rename it.
    dc.channel(dc.channel_id).bot_denied = 0
    dc.guild().max_active_threads = 2
    with pytest.raises(discord.HTTPException):
        await channel.create_thread(name="third", type=discord.ChannelType.public_thread)
    updated = asyncio.create_task(bot.wait_for("thread_update", timeout=10))
    await dc.archive_thread(thread.id)
    assert (await updated)[1].archived
    third = await channel.create_thread(name="third", type=discord.ChannelType.public_thread)
    renamed = await third.edit(name="third, renamed", archived=True)
    assert renamed.name == "third, renamed" and dc.thread(third.id).archived
    await thread.send("back again")
    assert not dc.thread(thread.id).archived
    with pytest.raises(discord.Forbidden):  # locking needs MANAGE_THREADS
        await thread.edit(locked=True)


# --------------------------------------------------------------------------- context menus


async def test_message_context_menu_on_members_and_bots_messages(
    dc: DiscordStandIn, bot: commands.Bot
) -> None:
    synced = await dc.wait_commands_synced(dc.guild_id)
    menu = next(c for c in synced if c["name"] == "Sing over this")
    assert menu["type"] == 3 and menu["description"] == "" and "options" not in menu
    bob = dc.user("bob")
    wav = b"RIFF" + bytes(range(256)) * 4  # 1028 bytes

    posted = await dc.post_user_message(
        "my take", user_id=bob.id, files={"my take.wav": wav, "cover.png": _png(640, 120)}
    )
    audio, cover = posted.attachments
    assert (audio.filename, audio.content_type, audio.size) == ("my_take.wav", "audio/x-wav", 1028)
    assert f"/attachments/{dc.channel_id}/{audio.id}/my_take.wav?" in audio.url
    assert (cover.width, cover.height) == (640, 120) and audio.width is None
    assert not audio.ephemeral and "width" not in audio.payload()

    ix = await dc.invoke_message_command("Sing over this", posted, user_id=bob.id)
    data = ix.payload["data"]
    assert (data["type"], data["name"], data["id"]) == (3, "Sing over this", menu["id"])
    assert data["target_id"] == str(posted.id) and data["guild_id"] == str(dc.guild_id)
    resolved = data["resolved"]["messages"][str(posted.id)]
    assert resolved["content"] == "my take" and resolved["author"]["id"] == str(bob.id)
    assert [a["filename"] for a in resolved["attachments"]] == ["my_take.wav", "cover.png"]
    reply = await ix.wait_original()
    digest = hashlib.sha256(wav).hexdigest()
    assert reply.content == f"{bob.id} my_take.wav 1028 1028 {digest} my take"

    # The bot's own result message works the same way.
    result = await text_channel(bot, dc.channel_id).send(
        "your song", file=discord.File(io.BytesIO(wav), "take 2.wav")
    )
    own = await dc.invoke_message_command("Sing over this", result.id)
    assert (await own.wait_original()).content.startswith(f"{dc.app_id} take_2.wav 1028")

    # A message without audio: refused, ephemerally.
    note = await dc.post_user_message("just words", user_id=bob.id)
    refused = await (await dc.invoke_message_command("Sing over this", note)).wait_original()
    assert refused.content == "no audio here" and refused.ephemeral
    with pytest.raises(LookupError, match="type 3"):
        await dc.invoke_message_command("Rewrite part of this", note)
    assert dc.internal_errors == [] and bot.errors == []  # type: ignore[attr-defined]


def _png(width: int, height: int) -> bytes:
    """A valid PNG header (signature + IHDR) of that size: enough to be measured."""
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    chunk = b"IHDR" + ihdr
    crc = zlib.crc32(chunk).to_bytes(4, "big")
    return b"\x89PNG\r\n\x1a\n" + len(ihdr).to_bytes(4, "big") + chunk + crc


# --------------------------------------------------------------------------- modal selects


async def test_modal_with_string_selects_in_labels(dc: DiscordStandIn, bot: commands.Bot) -> None:
    await dc.wait_commands_synced(dc.guild_id)
    ix = await dc.invoke_command("voice")
    modal = (await ix.wait_callback()).modal
    assert modal is not None
    assert [(c["type"], c["component"]["type"]) for c in modal["components"]] == [
        (18, 4),
        (18, 3),
        (18, 3),
    ]
    fields = {f.label: f for f in ix.modal_fields()}
    assert fields["Voice"].option_values == ["male", "female", "neutral"]
    assert (fields["Voice"].required, fields["File"].required) == (False, True)
    with pytest.raises(ValueError, match="required"):
        await ix.submit_modal({"Style": "soul"})  # File left out
    with pytest.raises(ValueError, match="not among the options"):
        await ix.submit_modal({"Style": "soul", "File": "7"})
    with pytest.raises(ValueError, match="at most 1"):
        await ix.submit_modal({"Style": "soul", "File": ["0", "1"]})

    sub = await ix.submit_modal({"Style": "soul", "Voice": "female", "file": "1"})
    comps = sub.payload["data"]["components"]
    assert [c["type"] for c in comps] == [18, 18, 18]
    assert {k: comps[0]["component"][k] for k in ("type", "custom_id", "value")} == {
        "type": 4,
        "custom_id": "style",
        "value": "soul",
    }
    assert {k: comps[1]["component"][k] for k in ("type", "custom_id", "values")} == {
        "type": 3,
        "custom_id": "voice",
        "values": ["female"],
    }
    assert all(isinstance(c["id"], int) and isinstance(c["component"]["id"], int) for c in comps)
    reply = await sub.wait_original()
    assert reply.content == "style=soul voice=['female'] file=['1']"

    # Left out, a select keeps its default option (as the client preselects it).
    again = await dc.invoke_command("voice")
    sub = await again.submit_modal({"Style": "pop", "File": "0"})
    assert sub.payload["data"]["components"][1]["component"]["values"] == ["neutral"]
    assert (await sub.wait_original()).content == "style=pop voice=['neutral'] file=['0']"
    assert dc.internal_errors == [] and bot.errors == []  # type: ignore[attr-defined]


def _label(text: str, component: dict) -> dict:
    return {"type": 18, "label": text, "component": component}


def _select(custom_id: str, n: int, **extra) -> dict:
    options = [{"label": f"o{i}", "value": str(i)} for i in range(n)]
    return {"type": 3, "custom_id": custom_id, "options": options, **extra}


@pytest.mark.parametrize(
    ("components", "where"),
    [
        ([_label(f"L{i}", _select(f"s{i}", 2)) for i in range(6)], "components"),
        ([_label("x" * 46, _select("s", 2))], "label"),
        ([_label("File", _select("s", 26))], "options"),
        ([_label("File", _select("s", 2, max_values=3))], "max_values"),
        ([_label("File", _select("s", 2, min_values=2, max_values=1))], "min_values"),
        ([{"type": 1, "components": [_select("s", 2)]}], "components"),
        ([_label("A", _select("s", 2)), _label("B", _select("s", 2))], "custom_id"),
        ([{"type": 2, "custom_id": "b", "label": "button", "style": 1}], "type"),
        (
            [_label("File", {**_select("s", 2), "options": [{"label": "a", "value": "v"}] * 2})],
            "value",
        ),
    ],
    ids=[
        "6 components",
        "label 46",
        "26 options",
        "max > options",
        "min > max",
        "select in a row",
        "duplicate ids",
        "button",
        "duplicate values",
    ],
)
def test_modal_definitions_are_checked_as_discord_does(components: list, where: str) -> None:
    with pytest.raises(DiscordHTTPError) as err:
        rules.validate_modal(
            {"custom_id": "m", "title": "Sing over this", "components": components}
        )
    assert err.value.status == 400 and err.value.code == 50035
    assert where in json.dumps(err.value.errors)


def test_a_valid_modal_with_selects_passes() -> None:
    components: list[dict] = [
        _label("Start", {"type": 4, "custom_id": "start", "style": 1}),
        _label("File", _select("file", 25, max_values=1)),
        {"type": 10, "content": "Pick the take to rewrite"},
    ]
    modal = {"custom_id": "m", "title": "Rewrite part of this", "components": components}
    rules.validate_modal(modal)  # raises on a refusal
    assert [f.custom_id for f in modal_fields(components)] == ["start", "file"]


# --------------------------------------------------------------------------- uploads on edits


async def test_edits_add_files_keep_old_ones_and_resolve_attachment_urls(
    dc: DiscordStandIn, bot: commands.Bot
) -> None:
    channel = text_channel(bot, dc.channel_id)
    status = await channel.send(
        embed=discord.Embed(title="Rewriting song #3"),
        file=discord.File(io.BytesIO(b"ID3 input"), "input.mp3"),
    )
    [old] = status.attachments
    embed = discord.Embed(title="Rewriting song #3").set_image(url="attachment://wave.png")
    picture = discord.File(io.BytesIO(_png(800, 200)), "wave.png")
    edited = await status.edit(embed=embed, attachments=[*status.attachments, picture])

    patch = dc.find_requests("PATCH", route="/channels/{channel_id}/messages/{message_id}")[-1]
    assert [p.name for p in patch.parts] == ["payload_json", "files[0]"]
    assert [(str(a["id"]), a["filename"]) for a in patch.json["attachments"]] == [
        (str(old.id), "input.mp3"),
        ("0", "wave.png"),
    ]
    stored = dc.message(status.id)
    assert [a.filename for a in stored.attachments] == ["input.mp3", "wave.png"]
    assert stored.attachments[0].id == old.id and stored.edits[0]["attachments"] == ["input.mp3"]
    new = stored.attachments[1]
    image = stored.embeds[0]["image"]
    assert image["url"] == new.url and (image["width"], image["height"]) == (800, 200)
    assert image["content_type"] == "image/png" and (new.width, new.height) == (800, 200)
    assert edited.embeds[0].image.url == new.url and edited.embeds[0].image.width == 800
    assert edited.attachments[1].width == 800

    # Listing only some attachments removes the others; a later edit of the text alone
    # keeps the embed's resolved picture.
    again = await edited.edit(attachments=[edited.attachments[1]])
    assert [a.filename for a in again.attachments] == ["wave.png"]
    await again.edit(content="done")
    assert dc.message(status.id).embeds[0]["image"]["url"] == new.url

    # Adding a file needs ATTACH_FILES, as sending one does.
    no_files = text_channel(bot, dc.channel_ids()[1])
    plain = await no_files.send("text only")
    with pytest.raises(discord.Forbidden) as denied:
        await plain.edit(attachments=[discord.File(io.BytesIO(b"x"), "x.png")])
    assert denied.value.code == 50013

    # The interaction webhook edit (edit_original_response) does the same.
    await dc.wait_commands_synced(dc.guild_id)
    ix = await dc.invoke_command("wave")
    reply = await ix.wait_original(lambda m: bool(m.embeds))
    assert reply.embeds[0]["image"]["url"] == reply.attachments[0].url
    assert reply.embeds[0]["image"]["width"] == 1200 and reply.attachments[0].height == 300
    assert dc.internal_errors == [] and bot.errors == []  # type: ignore[attr-defined]
    if dc.openapi_enabled:
        assert [str(v) for v in dc.openapi_violations(responses=True)] == []


# --------------------------------------------------------------------------- buttons (issue 11)


async def test_dynamic_item_buttons_modal_and_members_permissions() -> None:
    """Persistent buttons clicked by members with and without Manage Messages, a modal
    opened from a button (callback 9) and submitted (callback 7 on the result), 5, 6 and 4
    answers, and a click after a restart on a message the new process never posted."""
    mods = RoleSpec("Moderators", id=new_snowflake(), permissions=Perm.MANAGE_MESSAGES)
    users = [UserSpec(n, id=new_snowflake()) for n in ("alice", "bob", "carol")]
    guild = GuildSpec(roles=[mods], member_roles={users[2].id: [mods.id]})
    async with DiscordStandIn(token="test-token", guilds=[guild], users=users) as dc:
        with dc.patch_discord_py():
            alice, bob, carol = (dc.user(n) for n in ("alice", "bob", "carol"))
            async with running_bot(dc) as bot:
                view = discord.ui.View(timeout=None)
                for action, take in (("rewrite", 1), ("again", 0), ("delete", 0)):
                    view.add_item(SongButton(action, 12, take))
                await text_channel(bot, dc.channel_id).send("your song is ready", view=view)
                result = dc.messages(dc.channel_id)[0]
                await dc.wait_commands_synced(dc.guild_id)
            # A new process, which has posted nothing yet.
            async with running_bot(dc) as bot:
                click = await dc.click(result, "song:rewrite:12:1", user_id=bob.id)
                payload = click.payload
                assert payload["type"] == 3 and payload["data"] == {
                    "custom_id": "song:rewrite:12:1",
                    "component_type": 2,
                }
                shown = payload["message"]["components"][0]["components"]
                assert [b["custom_id"] for b in shown] == [
                    "song:rewrite:12:1",
                    "song:again:12:0",
                    "song:delete:12:0",
                ]
                assert (await click.wait_callback()).type == 9
                assert [f.label for f in click.modal_fields()] == ["Start", "End"]
                submit = await click.submit_modal({"Start": "0:30", "End": "45"}, user_id=bob.id)
                assert submit.payload["message"]["id"] == str(result.id)
                assert (await submit.wait_callback()).type == 7
                assert result.content == f"Rewrite of #12 take 1, 0:30-45 by {bob.id}"
                assert result.components == result.edits[0]["components"]  # buttons stay

                again = await dc.click(result, "song:again:12:0", user_id=bob.id)
                assert (await again.wait_callback()).type == 6
                assert (await again.wait_followups(1))[0].content == "again #12"

                # member.permissions follow roles: bob has no Manage Messages, carol has.
                refused = await dc.click(result, "song:delete:12:0", user_id=bob.id)
                assert not int(refused.payload["member"]["permissions"]) & Perm.MANAGE_MESSAGES
                assert (await refused.wait_original()).content == "not yours to delete"
                assert not result.deleted
                allowed = await dc.click(result, "song:delete:12:0", user_id=carol.id)
                assert int(allowed.payload["member"]["permissions"]) & Perm.MANAGE_MESSAGES
                assert allowed.payload["member"]["roles"] == [str(mods.id)]
                assert (await allowed.wait_callback()).type == 5
                assert (await allowed.wait_followups(1))[0].content == "deleted"
                assert result.deleted and alice.id == dc.guild().owner_id
                assert bot.errors == []
            assert dc.internal_errors == [] and dc.unhandled_requests == []
            if dc.openapi_enabled:
                assert [str(v) for v in dc.openapi_violations(responses=True)] == []
