"""A thread per song without Discord: the decision, the name, refusals and their words, the
store's one decision per song, and the opener's handling of each answer Discord gives."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import discord
import pytest

from bot.core.models import Request, Task, TaskKind, TaskStatus
from bot.core.servers.guild_settings import GuildSettings, ThreadsMode
from bot.core.servers.threads import (
    ThreadRefusal,
    refusal_for,
    refusal_of,
    thread_name,
    wants_thread,
)
from bot.core.songs.actions import Clicker, posted_in
from bot.core.songs.history import task_link
from bot.core.songs.progress import status_view
from bot.core.store import Store
from bot.core.store.migrate import migrations
from bot.core.tracker.events import TaskEvents
from bot.discord.options import role_ids_of
from bot.discord.songs.door import SongDoor, follow
from bot.discord.songs.threads import ThreadOpener
from tests.unit.core.songs.test_progress import BASE
from tests.unit.test_voice import ENDS, voice_problems

# --- deciding and naming -------------------------------------------------------------------


def test_the_option_alone_decides_outside_threads() -> None:
    assert wants_thread(True, in_thread=False)
    assert not wants_thread(False, in_thread=False)
    assert not wants_thread(None, in_thread=False)
    # Asked inside a thread: the song is in one already, and Discord nests no threads.
    assert not wants_thread(True, in_thread=True)


@pytest.mark.parametrize(
    ("mode", "asked", "in_thread", "wanted"),
    [
        (ThreadsMode.OFF, True, False, False),  # off ignores the option
        (ThreadsMode.OPTIONAL, True, False, True),
        (ThreadsMode.OPTIONAL, False, False, False),
        (ThreadsMode.ALWAYS, False, False, True),  # always opens one without asking
        (ThreadsMode.ALWAYS, None, True, False),  # never a thread inside a thread
    ],
)
def test_the_servers_threads_mode_decides_with_the_option(
    mode: ThreadsMode, asked: bool | None, in_thread: bool, wanted: bool
) -> None:
    settings = GuildSettings(threads_mode=mode)
    assert wants_thread(asked, in_thread=in_thread, settings=settings) is wanted


@pytest.mark.parametrize(
    ("prompt", "name"),
    [
        ("warm soul vocal", "warm soul vocal"),
        # A name shows no markdown: nothing escaped, nothing to render.
        ("**loud** _punk_ <@123>", "**loud** _punk_ <@123>"),
        ("\u202egospel\u200b choir", "gospel choir"),
        ("two\nlines\tand  gaps", "two lines and gaps"),
        ("x" * 100, "x" * 100),
    ],
)
def test_the_name_is_the_prompt_made_safe(prompt: str, name: str) -> None:
    assert thread_name(prompt, "song #1") == name


def test_a_long_prompt_is_cut_at_a_word() -> None:
    prompt = " ".join(["dreamy", "synth-pop", "airy", "vocal"] * 10)
    name = thread_name(prompt, "song #1")
    assert len(name) <= 100 and name.endswith("…")
    kept = name.removesuffix("…")
    assert prompt.startswith(kept) and prompt[len(kept)] == " "
    assert len(kept) > 80  # cut at the last word that fits, not much earlier


def test_one_long_word_is_cut_and_nothing_readable_falls_back() -> None:
    name = thread_name("a" * 300, "song #1")
    assert name == "a" * 99 + "…"
    assert thread_name("\u200b\u202e", "song #4") == "song #4"


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "refusal"),
    [
        (400, 160006, ThreadRefusal.TOO_MANY),
        (403, 50013, ThreadRefusal.NOT_ALLOWED),
        (403, 50001, ThreadRefusal.NOT_ALLOWED),
        (400, 50024, ThreadRefusal.OTHER),  # not a channel that takes threads
        (404, 10008, ThreadRefusal.OTHER),  # the status message was deleted
        (503, 0, ThreadRefusal.OTHER),
        (None, None, ThreadRefusal.OTHER),
    ],
)
def test_what_a_refusal_means(status: int | None, code: int | None, refusal: ThreadRefusal) -> None:
    assert refusal_for(status, code) is refusal


def test_stored_refusals_read_back() -> None:
    assert refusal_of(None) is None and refusal_of("") is None
    assert refusal_of("too_many") is ThreadRefusal.TOO_MANY
    assert refusal_of("from a later version") is ThreadRefusal.OTHER


@pytest.mark.parametrize("refusal", list(ThreadRefusal))
def test_each_why_is_one_short_sentence_in_the_one_voice(refusal: ThreadRefusal) -> None:
    why = refusal.why
    assert not voice_problems(why) and why.endswith(ENDS) and why[0].isupper()
    assert "\n" not in why and len(why) <= 120
    assert why.count(".") == 1 and "continues in the channel" in why


def test_the_status_says_why_while_the_song_goes_on() -> None:
    refused = dataclasses.replace(BASE, thread_wanted=True, thread_refusal="too_many")
    assert ThreadRefusal.TOO_MANY.why in status_view(refused, 1, 1000.0).stage
    delivered = dataclasses.replace(refused, status=TaskStatus.DELIVERED)
    assert status_view(delivered, 0, 1000.0).stage.endswith(ThreadRefusal.TOO_MANY.why)
    for quiet in (
        dataclasses.replace(BASE, thread_wanted=True),  # undecided yet
        dataclasses.replace(BASE, thread_wanted=True, thread_id=99),  # in its thread
        dataclasses.replace(refused, status=TaskStatus.FAILED, error="MusicGPT refused it."),
    ):
        assert "thread" not in status_view(quiet, 1, 1000.0).stage


def test_the_answer_links_the_thread_when_there_is_one() -> None:
    in_thread = dataclasses.replace(BASE, status_message_id=99, thread_id=99)
    assert follow(in_thread) == "Follow it in its thread: https://discord.com/channels/2/99"
    in_channel = dataclasses.replace(BASE, status_message_id=99, thread_refusal="other")
    assert follow(in_channel) == "Follow it here: https://discord.com/channels/2/3/99"


# --- the store: one decision per song ------------------------------------------------------


async def wanted(store: Store, *, thread: bool = True, status_message: int | None = 50) -> Task:
    request = Request(TaskKind.SING, 1, 10, 20, "ballad", "la", thread_wanted=thread)
    task = await store.create_task(request, now=1.0, daily_quota=99, max_active=99)
    assert isinstance(task, Task) and task.thread_wanted is thread
    if status_message is not None:
        await store.set_status_message(task.id, status_message)
    found = await store.get_task(task.id)
    assert found is not None
    return found


async def test_a_thread_is_decided_once(store: Store) -> None:
    opened, refused = await wanted(store), await wanted(store, status_message=51)
    recorded = await store.record_thread(opened.id, 50)
    assert recorded is not None and (recorded.thread_id, recorded.thread_refusal) == (50, None)
    assert await store.record_thread_refusal(opened.id, "too_many") is None
    assert await store.record_thread(opened.id, 77) is None
    said = await store.record_thread_refusal(refused.id, "not_allowed")
    assert said is not None and (said.thread_id, said.thread_refusal) == (None, "not_allowed")
    assert await store.record_thread(refused.id, 51) is None
    again = await store.get_task(opened.id)
    assert again is not None and again.thread_id == 50 and again.thread_refusal is None


async def test_a_song_that_asked_for_none_gets_no_decision(store: Store) -> None:
    task = await wanted(store, thread=False)
    assert await store.record_thread(task.id, 50) is None
    assert await store.record_thread_refusal(task.id, "other") is None


async def test_waiting_for_a_thread_means_asked_undecided_unfinished_with_a_status(
    store: Store,
) -> None:
    waiting = await wanted(store)
    await wanted(store, thread=False)
    await wanted(store, status_message=None)  # nothing to start it from yet
    decided = await wanted(store, status_message=52)
    await store.record_thread(decided.id, 52)
    finished = await wanted(store, status_message=53)
    await store.mark_failed(finished.id, "gone", now=2.0)
    assert [t.id for t in await store.tasks_awaiting_thread()] == [waiting.id]


async def test_migration_4_keeps_older_songs_threadless(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as raw:
        for migration in migrations()[:3]:
            raw.executescript(f"{migration.sql}\nPRAGMA user_version = {migration.version};")
        raw.execute(
            "INSERT INTO tasks (kind, status, user_id, channel_id, prompt, created_at,"
            " updated_at) VALUES ('sing', 'submitted', 1, 20, 'old', 1.0, 1.0)"
        )
    async with Store.open(path) as store:
        assert await store.schema_version() == len(migrations())
        old = await store.get_task(1)
        assert old is not None
        assert (old.thread_wanted, old.thread_id, old.thread_refusal) == (False, None, None)
        assert await store.tasks_awaiting_thread() == []


# --- the opener: each answer Discord gives -------------------------------------------------


def http_error(status: int, code: int, message: str = "refused") -> discord.HTTPException:
    response = SimpleNamespace(status=status, reason="refused")
    cls = discord.Forbidden if status == 403 else discord.HTTPException
    return cls(response, {"code": code, "message": message})


class ScriptedThreads(ThreadOpener):
    """The opener with Discord's answers to "start a thread from this message" scripted."""

    def __init__(self, store: Store, answers: list[Any]) -> None:
        self.events = TaskEvents()
        bot = SimpleNamespace(
            store=store,
            tracker=SimpleNamespace(events=self.events),
            get_channel=lambda channel_id: None,  # unknown to the cache: Discord decides
        )
        super().__init__(bot)  # type: ignore[arg-type]
        self.answers = answers
        self.asked: list[int] = []

    async def _start_from_status(self, task: Task, message_id: int) -> int:
        self.asked.append(message_id)
        await asyncio.sleep(0)  # let a concurrent opener run meanwhile
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return int(answer)


@pytest.mark.parametrize(
    ("answers", "thread_id", "refusal"),
    [
        ([50], 50, None),
        ([http_error(400, 160004)], 50, None),  # made by a run that died: adopted
        ([http_error(400, 160006)], None, "too_many"),
        ([http_error(403, 50013)], None, "not_allowed"),
        ([http_error(404, 10008)], None, "other"),
        ([OSError("reset"), http_error(400, 160004)], 50, None),  # no answer, then "exists"
        ([TimeoutError(), TimeoutError()], None, "other"),
    ],
)
async def test_each_answer_is_recorded_as_one_outcome(
    store: Store, answers: list[Any], thread_id: int | None, refusal: str | None
) -> None:
    task = await wanted(store)
    tries = len(answers)
    threads = ScriptedThreads(store, answers)
    settled = await threads.settle(task)
    assert (settled.thread_id, settled.thread_refusal) == (thread_id, refusal)
    assert threads.answers == [] and set(threads.asked) == {50}
    assert await threads.events.take() == [task.id]  # the status is told to show it
    # Decided: asking to settle it again asks Discord nothing more.
    assert (await threads.settle(settled)) == settled and len(threads.asked) == tries


async def test_a_server_held_by_another_process_gets_its_thread_by_ids(store: Store) -> None:
    """Shards: no guild in this process's cache, so the thread is started by channel and
    message id alone (discord.py's PartialMessage.create_thread would raise ValueError)."""
    task = await wanted(store)
    requests: list[tuple[Any, dict[str, Any]]] = []

    async def request(route: Any, **kwargs: Any) -> dict[str, Any]:
        requests.append((route, kwargs))
        return {"id": "77", "type": 11}

    async def english(guild_id: int | None) -> None:
        return None  # the server's language: English here

    events = TaskEvents()
    bot = SimpleNamespace(
        store=store,
        tracker=SimpleNamespace(events=events),
        get_channel=lambda channel_id: None,
        status_channel_for=lambda task: SimpleNamespace(id=task.channel_id, guild=None),
        http=SimpleNamespace(request=request),
        public_locale=english,
    )
    settled = await ThreadOpener(bot).settle(task)  # type: ignore[arg-type]
    assert (settled.thread_id, settled.thread_refusal) == (77, None)
    [(route, kwargs)] = requests
    assert (route.method, route.path) == (
        "POST",
        "/channels/{channel_id}/messages/{message_id}/threads",
    )
    assert route.url.endswith(f"/channels/{task.channel_id}/messages/50/threads")
    assert set(kwargs["json"]) == {"name"}  # the channel's own inactivity default applies


async def test_two_openers_at_once_ask_discord_once(store: Store) -> None:
    task = await wanted(store)
    threads = ScriptedThreads(store, [50])
    first, second = await asyncio.gather(threads.settle(task), threads.settle(task))
    assert first.thread_id == second.thread_id == 50 and threads.asked == [50]


async def test_nothing_is_asked_without_a_status_message_until_the_last_chance(
    store: Store,
) -> None:
    task = await wanted(store, status_message=None)
    threads = ScriptedThreads(store, [])
    assert (await threads.settle(task)).thread_refusal is None and threads.asked == []
    last = await threads.settle(task, last_chance=True)  # the takes are being posted now
    assert last.thread_refusal == "other" and threads.asked == []


async def test_a_finished_song_or_one_that_wants_none_is_left_alone(store: Store) -> None:
    none_wanted = await wanted(store, thread=False)
    finished = await wanted(store)
    await store.mark_failed(finished.id, "gone", now=2.0)
    threads = ScriptedThreads(store, [])
    assert (await threads.settle(none_wanted)).thread_id is None
    done = await threads.settle(finished)
    assert (done.thread_id, done.thread_refusal) == (None, None) and threads.asked == []


def test_history_links_a_thread_songs_takes_in_its_thread() -> None:
    posted = dataclasses.replace(
        BASE, status_message_id=99, thread_id=99, delivered_message_ids=(120,)
    )
    assert task_link(posted) == "[result](https://discord.com/channels/2/99/120)"
    waiting = dataclasses.replace(posted, delivered_message_ids=())
    assert task_link(waiting) == "[status](https://discord.com/channels/2/3/99)"


@pytest.mark.parametrize(
    ("channel_type", "mode", "asked", "wanted"),
    [
        (discord.ChannelType.text, ThreadsMode.OPTIONAL, True, True),
        (discord.ChannelType.text, ThreadsMode.OPTIONAL, None, False),
        (discord.ChannelType.public_thread, ThreadsMode.OPTIONAL, True, False),
        (discord.ChannelType.private_thread, ThreadsMode.OPTIONAL, True, False),
        (discord.ChannelType.text, ThreadsMode.OFF, True, False),
        (discord.ChannelType.text, ThreadsMode.ALWAYS, None, True),
        (discord.ChannelType.public_thread, ThreadsMode.ALWAYS, None, False),
    ],
)
async def test_the_origin_is_the_interactions_channel_and_says_whether_a_thread_is_wanted(
    channel_type: discord.ChannelType, mode: ThreadsMode, asked: bool | None, wanted: bool
) -> None:
    interaction = SimpleNamespace(
        user=SimpleNamespace(id=1, roles=[SimpleNamespace(id=2), SimpleNamespace(id=7)]),
        guild_id=2,
        channel_id=3,
        channel=SimpleNamespace(type=channel_type),
        filesize_limit=10,
    )
    settings = GuildSettings(threads_mode=mode)

    async def get(guild_id: int | None) -> GuildSettings:
        assert guild_id == 2
        return settings

    bot = SimpleNamespace(guild_settings=SimpleNamespace(get=get))
    door = SongDoor(bot)  # type: ignore[arg-type]
    origin = await door.origin(interaction, thread=asked)  # type: ignore[arg-type]
    assert (origin.channel_id, origin.thread_wanted) == (3, wanted)
    assert origin.role_ids == (2, 7)  # the member's roles travel with the song


async def test_a_dm_user_has_no_roles() -> None:
    interaction = SimpleNamespace(user=SimpleNamespace(id=1))
    assert role_ids_of(interaction) == ()  # type: ignore[arg-type]


def test_a_song_started_from_a_button_goes_where_it_was_clicked() -> None:
    parent = dataclasses.replace(BASE, channel_id=3, status_message_id=99, thread_id=99)
    assert posted_in(parent, Clicker(1, channel_id=99)) == 99  # clicked inside the thread
    assert posted_in(parent, Clicker(1)) == 99  # not said: where the parent's takes went
    assert posted_in(dataclasses.replace(parent, thread_id=None), Clicker(1)) == 3


async def test_one_process_at_a_time_sweeps_for_threads(postgres_url: str) -> None:
    """Two processes on one PostgreSQL database: while one sweeps, the other skips its round."""
    async with Store.open(postgres_url) as store, Store.open(postgres_url) as other:
        task = await wanted(store)
        requests: list[Any] = []

        async def request(route: Any, **kwargs: Any) -> dict[str, Any]:
            requests.append(route)
            return {"id": "77", "type": 11}

        async def english(guild_id: int | None) -> None:
            return None

        bot = SimpleNamespace(
            store=store,
            tracker=SimpleNamespace(events=TaskEvents()),
            get_channel=lambda channel_id: None,
            status_channel_for=lambda task: SimpleNamespace(id=task.channel_id, guild=None),
            http=SimpleNamespace(request=request),
            public_locale=english,
        )
        opener = ThreadOpener(bot)  # type: ignore[arg-type]
        async with other.exclusively("threads-sweep") as theirs:
            assert theirs
            await opener.sweep()
        assert requests == []
        await opener.sweep()
        settled = await store.get_task(task.id)
        assert len(requests) == 1 and settled is not None and settled.thread_id == 77
