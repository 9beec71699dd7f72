"""The song buttons' handlers (`ButtonHandlers`): a click only ever acts on its own server's
song (another server's, or a DM's, is answered as a missing one), a moderator's Cancel is
judged in the song's channel, and Delete copes with a message that is already gone."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock, MagicMock

import discord
import pytest

from bot.core.errors import UserFacingError
from bot.core.models import Output, TaskKind, TaskStatus
from bot.core.songs import actions
from bot.discord.songs.clicks import ButtonHandlers
from tests.unit.core.songs.test_progress import BASE

SERVER, CHANNEL = 2, BASE.channel_id
assert BASE.guild_id == SERVER
SONG = dataclasses.replace(
    BASE,
    id=12,
    kind=TaskKind.SING,
    lyrics="la la",
    status=TaskStatus.DELIVERED,
    audio_url="https://e.com/in.mp3",
    outputs=(Output("https://e.com/1.mp3", duration=30.0), Output("https://e.com/2.mp3")),
)
QUEUED = dataclasses.replace(SONG, id=13, status=TaskStatus.QUEUED, outputs=())
ELSEWHERE = dataclasses.replace(SONG, id=14, guild_id=SERVER + 1)  # another server's
IN_A_DM = dataclasses.replace(SONG, id=15, guild_id=None)
QUEUED_ELSEWHERE = dataclasses.replace(QUEUED, id=16, guild_id=SERVER + 1)


class FakeStore:
    def __init__(self) -> None:
        self.tasks = {t.id: t for t in (SONG, QUEUED, ELSEWHERE, IN_A_DM, QUEUED_ELSEWHERE)}
        self.values: dict[str, str] = {}

    async def get_task(self, task_id: int) -> Any:
        return self.tasks.get(task_id)

    async def get_value(self, key: str) -> str | None:
        return self.values.get(key)

    async def set_value(self, key: str, value: str) -> None:
        self.values[key] = value


def fake_bot() -> SimpleNamespace:
    door = SimpleNamespace(precheck=AsyncMock(), open=AsyncMock(), send=AsyncMock())
    return SimpleNamespace(
        store=FakeStore(),
        door=door,
        votes=SimpleNamespace(click=AsyncMock()),
        status_renderer=SimpleNamespace(render_now=AsyncMock()),
        tracker=SimpleNamespace(
            cancel=AsyncMock(return_value=QUEUED), events=SimpleNamespace(publish=MagicMock())
        ),
        status_channel_for=lambda task: SimpleNamespace(send=AsyncMock()),
        public_locale=AsyncMock(return_value=None),
    )


def clicked(
    *,
    guild_id: int | None = SERVER,
    channel_id: int = CHANNEL,
    user_id: int = 99,
    manage: bool = False,
    song_channel: Any = None,
) -> MagicMock:
    """A click by member `user_id` in `channel_id` of server `guild_id`, who may manage
    messages there (`manage`); `song_channel` is what the server's cache gives for others."""
    interaction = MagicMock()
    interaction.guild_id, interaction.channel_id = guild_id, channel_id
    interaction.user = MagicMock(spec=discord.Member)
    interaction.user.id = user_id
    interaction.permissions = discord.Permissions(manage_messages=manage)
    interaction.guild.get_channel_or_thread.return_value = song_channel
    interaction.message = SimpleNamespace(id=500, attachments=[], delete=AsyncMock())
    interaction.response.is_done.return_value = True
    interaction.followup.send = AsyncMock()
    interaction.response.defer = AsyncMock()
    interaction.response.send_message = AsyncMock()
    return interaction


def answered(interaction: MagicMock) -> str:
    [call] = interaction.followup.send.await_args_list
    assert call.kwargs["ephemeral"] is True
    return str(call.args[0])


Click = Callable[[ButtonHandlers, discord.Interaction, int], Awaitable[None]]
CLICKS: dict[str, Click] = {
    "rewrite": lambda h, i, t: h.rewrite(i, t, 1),
    "extend": lambda h, i, t: h.extend(i, t, 1),
    "again": lambda h, i, t: h.again(i, t),
    "again with changes": lambda h, i, t: h.again_with_changes(i, t),
    "try again": lambda h, i, t: h.try_again(i, t),
    "lyrics": lambda h, i, t: h.lyrics(i, t),
    "cancel": lambda h, i, t: h.cancel(i, t),
    "delete": lambda h, i, t: h.delete(i, t),
}


async def refusal(click: Click, task_id: int, interaction: MagicMock) -> str:
    bot = fake_bot()
    with pytest.raises(UserFacingError) as refused:
        await click(ButtonHandlers(bot), interaction, task_id)  # type: ignore[arg-type]
    for step in (bot.door.precheck, bot.door.open, bot.door.send, bot.tracker.cancel):
        step.assert_not_awaited()  # nothing charged, nothing changed
    interaction.response.send_message.assert_not_awaited()  # no lyrics either
    interaction.message.delete.assert_not_awaited()
    assert bot.store.values == {}
    return refused.value.user_message


@pytest.mark.parametrize("name", CLICKS)
@pytest.mark.parametrize(
    ("task_id", "guild_id"),
    [(ELSEWHERE.id, SERVER), (IN_A_DM.id, SERVER), (SONG.id, None), (QUEUED_ELSEWHERE.id, SERVER)],
    ids=["another server's", "a DM's, from a server", "a server's, from a DM", "queued elsewhere"],
)
async def test_a_song_of_somewhere_else_is_answered_as_a_missing_one(
    name: str, task_id: int, guild_id: int | None
) -> None:
    click = CLICKS[name]
    moderator = dict(guild_id=guild_id, manage=True, user_id=SONG.user_id + 1)
    missing = await refusal(click, 404, clicked(**moderator))  # type: ignore[arg-type]
    said = await refusal(click, task_id, clicked(**moderator))  # type: ignore[arg-type]
    assert said == missing.replace("404", str(task_id))
    assert said.startswith("I can't find")


async def test_a_vote_on_another_servers_song_finds_no_song() -> None:
    bot = fake_bot()
    interaction = clicked()
    await ButtonHandlers(bot).vote(interaction, ELSEWHERE.id, 1)  # type: ignore[arg-type]
    bot.votes.click.assert_awaited_once_with(interaction, ELSEWHERE.id, 1, None)
    await ButtonHandlers(bot).vote(interaction, SONG.id, 2)  # type: ignore[arg-type]
    assert bot.votes.click.await_args.args == (interaction, SONG.id, 2, SONG)


async def test_a_moderators_delete_of_another_servers_song_changes_nothing() -> None:
    bot = fake_bot()
    moderator = clicked(manage=True)
    with pytest.raises(UserFacingError, match="I can't find"):
        await ButtonHandlers(bot).delete(moderator, ELSEWHERE.id)  # type: ignore[arg-type]
    moderator.message.delete.assert_not_awaited()
    assert bot.store.values == {}  # its status never says "deleted"
    bot.status_renderer.render_now.assert_not_awaited()


async def test_the_song_of_the_clicked_server_still_works() -> None:
    bot = fake_bot()
    interaction = clicked()
    await ButtonHandlers(bot).lyrics(interaction, SONG.id)  # type: ignore[arg-type]
    assert "la la" in interaction.response.send_message.await_args.args[0]
    await ButtonHandlers(bot).again(clicked(), SONG.id)  # type: ignore[arg-type]
    bot.door.send.assert_awaited_once()


def song_channel(*, manage: bool) -> MagicMock:
    channel = MagicMock()
    channel.permissions_for.return_value = discord.Permissions(manage_messages=manage)
    return channel


@pytest.mark.parametrize(
    ("where", "may"),
    [
        (dict(channel_id=CHANNEL, manage=True), True),  # in the song's channel: Discord's word
        (dict(channel_id=CHANNEL, manage=False), False),
        (dict(channel_id=77, manage=True, song_channel=song_channel(manage=False)), False),
        (dict(channel_id=77, manage=False, song_channel=song_channel(manage=True)), True),
        (dict(channel_id=77, manage=True, song_channel=None), False),  # not in the cache
    ],
    ids=[
        "here, moderator",
        "here, member",
        "moderator elsewhere only",
        "moderator there",
        "unseen",
    ],
)
async def test_a_moderators_cancel_is_judged_in_the_songs_channel(
    where: dict[str, Any], may: bool
) -> None:
    bot = fake_bot()
    interaction = clicked(**where)
    handlers = ButtonHandlers(bot)  # type: ignore[arg-type]
    if not may:
        with pytest.raises(UserFacingError, match="Only the member who asked"):
            await handlers.cancel(interaction, QUEUED.id)
        bot.tracker.cancel.assert_not_awaited()
        return
    await handlers.cancel(interaction, QUEUED.id)
    bot.tracker.cancel.assert_awaited_once_with(QUEUED.id, QUEUED.user_id)
    if song := where.get("song_channel"):
        song.permissions_for.assert_called_once_with(interaction.user)


async def test_the_requester_cancels_from_anywhere() -> None:
    bot = fake_bot()
    interaction = clicked(channel_id=77, user_id=QUEUED.user_id)
    await ButtonHandlers(bot).cancel(interaction, QUEUED.id)  # type: ignore[arg-type]
    bot.tracker.cancel.assert_awaited_once()


def not_found() -> discord.NotFound:
    return discord.NotFound(MagicMock(status=404, reason="Not Found"), "Unknown Message")


async def test_delete_records_who_then_copes_with_a_message_already_gone() -> None:
    bot = fake_bot()
    handlers = ButtonHandlers(bot)  # type: ignore[arg-type]
    first = clicked(user_id=SONG.user_id)
    await handlers.delete(first, SONG.id)
    first.message.delete.assert_awaited_once()
    assert answered(first) == actions.deleted_text(SONG.id)
    assert bot.store.values == {actions.deleted_key(SONG.id): str(SONG.user_id)}
    # A second click (a moderator's, say) finds the message gone: answered all the same, and
    # the first deleter stays named.
    second = clicked(user_id=5, manage=True)
    second.message.delete.side_effect = not_found()
    await handlers.delete(second, SONG.id)
    assert answered(second) == actions.deleted_text(SONG.id)
    assert bot.store.values == {actions.deleted_key(SONG.id): str(SONG.user_id)}
    assert bot.status_renderer.render_now.await_count == 2


async def test_a_message_deleted_by_hand_still_records_the_delete() -> None:
    bot = fake_bot()
    interaction = clicked(user_id=SONG.user_id)
    interaction.message.delete.side_effect = not_found()
    await ButtonHandlers(bot).delete(interaction, SONG.id)  # type: ignore[arg-type]
    assert answered(interaction) == actions.deleted_text(SONG.id)
    assert bot.store.values == {actions.deleted_key(SONG.id): str(SONG.user_id)}


async def test_a_delete_discord_refuses_is_not_recorded() -> None:
    bot = fake_bot()
    interaction = clicked(user_id=SONG.user_id)
    interaction.message.delete.side_effect = discord.Forbidden(
        MagicMock(status=403, reason="Forbidden"), "Missing Permissions"
    )
    with pytest.raises(discord.Forbidden):
        await ButtonHandlers(bot).delete(interaction, SONG.id)  # type: ignore[arg-type]
    assert not bot.store.values.get(actions.deleted_key(SONG.id))


async def test_a_delete_without_its_message_is_answered() -> None:
    bot = fake_bot()
    interaction = clicked(user_id=SONG.user_id)
    interaction.message = None
    with pytest.raises(UserFacingError, match="I can't find"):  # answered by the buttons' _run
        await ButtonHandlers(bot).delete(interaction, SONG.id)  # type: ignore[arg-type]
    assert bot.store.values == {}
