"""/history's lines (bot/core/songs/history.py) and the store query behind them."""

from __future__ import annotations

import dataclasses

from bot.core.models import Output, Request, Task, TaskKind, TaskStatus
from bot.core.songs.history import LIMIT, MESSAGE_LIMIT, NOTHING_YET, history_text, message_link
from bot.core.store import Store

NOW = 1_790_000_000.0
GUILD, CHANNEL = 111, 222


def task(task_id: int, **overrides: object) -> Task:
    fields: dict[str, object] = {
        "id": task_id,
        "kind": TaskKind.SING,
        "status": TaskStatus.QUEUED,
        "user_id": 1,
        "guild_id": GUILD,
        "channel_id": CHANNEL,
        "prompt": "soft piano ballad",
        "lyrics": None,
        "gender": None,
        "audio_url": None,
        "audio_path": None,
        "audio_filename": None,
        "audio_duration": None,
        "replace_start": None,
        "replace_end": None,
        "lyrics_section_to_replace": None,
        "num_outputs": 2,
        "upload_limit": None,
        "status_message_id": None,
        "musicgpt_task_id": None,
        "conversion_ids": (),
        "eta_seconds": None,
        "credit_estimate": None,
        "cost": None,
        "outputs": (),
        "error": None,
        "quota_day": "2026-09-21",
        "quota_refunded": False,
        "delivered_message_ids": (),
        "delivery_attempts": 0,
        "webhook_seen": False,
        "poll_count": 0,
        "created_at": NOW + task_id,
        "submitted_at": None,
        "completed_at": None,
        "finished_at": None,
        "next_poll_at": None,
        "updated_at": NOW,
    }
    fields.update(overrides)
    return Task(**fields)  # type: ignore[arg-type]


def test_a_line_has_number_kind_status_time_link_and_prompt() -> None:
    posted = task(
        7,
        kind=TaskKind.INPAINT,
        status=TaskStatus.DELIVERED,
        status_message_id=500,
        delivered_message_ids=(600, 601),
        parent_task_id=3,
    )
    header, line = history_text([posted]).splitlines()
    assert header == "Your last song:"
    assert line == (
        f"**#7** · inpaint · posted · <t:{int(NOW) + 7}:R> · "
        f"[result](https://discord.com/channels/{GUILD}/{CHANNEL}/600) · from #3 · "
        "“soft piano ballad”"
    )


def test_without_a_result_the_link_is_to_the_status_message() -> None:
    line = history_text([task(2, status=TaskStatus.SUBMITTED, status_message_id=500)])
    assert f"[status]({message_link(GUILD, CHANNEL, 500)})" in line
    assert "at MusicGPT" in line and "from #" not in line
    # Before the status message is posted there is nothing to link to.
    assert "](" not in history_text([task(3)])


_SAME = {TaskStatus.FAILED, TaskStatus.CANCELLED}  # already plain words


def test_every_status_reads_in_plain_words() -> None:
    words = {
        status: history_text([task(1, status=status)]).splitlines()[1].split(" · ")[2]
        for status in TaskStatus
    }
    assert words[TaskStatus.QUEUED] == "waiting in my queue"
    assert words[TaskStatus.SUBMITTED] == "at MusicGPT"
    assert words[TaskStatus.DELIVERED] == "posted"
    assert words[TaskStatus.FAILED] == "failed"
    assert words[TaskStatus.CANCELLED] == "cancelled"
    assert all(word != status.value or status in _SAME for status, word in words.items())
    assert len(set(words.values())) == len(TaskStatus)


def test_lines_stay_in_the_order_given_newest_first() -> None:
    text = history_text([task(9), task(5), task(2)])
    assert text.splitlines()[0] == "Your last 3 songs, newest first:"
    assert [line.split(" · ")[0] for line in text.splitlines()[1:]] == [
        "**#9**",
        "**#5**",
        "**#2**",
    ]


def test_no_requests_gets_a_friendly_line() -> None:
    assert history_text([]) == NOTHING_YET
    assert "\n" not in NOTHING_YET and "/sing" in NOTHING_YET


def test_prompts_are_escaped_and_cannot_ping() -> None:
    line = history_text([task(1, prompt="@everyone **loud** <@123> [x](https://evil.example)")])
    assert "@everyone" not in line.replace("@\u200beveryone", "")
    assert "\\*\\*loud\\*\\*" in line
    assert "https://evil" not in line  # the scheme is escaped: shown, not a link
    assert "<@123>" not in line


def long_requests(first_id: int, prompt: str) -> list[Task]:
    snowflake = 1_234_567_890_123_456_789  # Discord ids are 18-19 digits
    return [
        task(
            first_id - i,
            kind=TaskKind.INPAINT,
            status=TaskStatus.SUBMITTING,  # the longest status words
            guild_id=snowflake + 1,
            channel_id=snowflake + 2,
            status_message_id=snowflake + 3,
            delivered_message_ids=(snowflake + 4,),
            parent_task_id=first_id - i - 1,
            prompt=prompt,
        )
        for i in range(LIMIT)
    ]


def test_ten_long_requests_fit_in_one_message_prompts_cut() -> None:
    # 500 characters of markdown each: escaping doubles them.
    text = history_text(long_requests(4321, "*_`|" * 125))
    assert len(text) <= MESSAGE_LIMIT
    lines = text.splitlines()
    assert len(lines) == LIMIT + 1  # every request is there, its prompt cut to fit
    assert all(line.endswith("…”") and "“\\*\\_" in line for line in lines[1:])
    assert all(f"from #{4320 - i}" in lines[1 + i] for i in range(LIMIT))


def test_with_absurd_ids_prompts_give_way_then_the_oldest_lines() -> None:
    text = history_text(long_requests(10**6, "x" * 500))
    assert len(text) <= MESSAGE_LIMIT
    lines = text.splitlines()
    assert len(lines) == LIMIT + 1 and "xxx" not in text  # no room left for prompts
    assert all("[result](" in line and "from #" in line for line in lines[1:])
    # Ids of 16 digits don't leave room for ten lines at all: the newest stay.
    text = history_text(long_requests(10**15, "x"))
    assert len(text) <= MESSAGE_LIMIT
    ids = [line.split(" · ")[0] for line in text.splitlines()[1:]]
    assert 5 <= len(ids) < LIMIT
    assert text.startswith(f"Your last {len(ids)} songs, newest first:\n")
    assert ids == [f"**#{10**15 - i}**" for i in range(len(ids))]


def test_short_prompts_are_shown_whole() -> None:
    text = history_text([task(i, prompt=f"style number {i}") for i in range(10, 0, -1)])
    assert all(f"“style number {i}”" in text for i in range(1, 11))


# --------------------------------------------------------------------------------------------
# The store


def request(user_id: int, prompt: str) -> Request:
    return Request(
        kind=TaskKind.SING,
        user_id=user_id,
        guild_id=GUILD,
        channel_id=CHANNEL,
        prompt=prompt,
        lyrics="la",
    )


async def test_recent_tasks_are_the_members_newest_first(store: Store) -> None:
    made = []
    for i in range(14):
        user = 1 if i % 3 else 2
        created = await store.create_task(
            request(user, f"p{i}"), now=NOW + i, daily_quota=100, max_active=100
        )
        assert isinstance(created, Task)
        made.append((user, created.id))
    mine = [task_id for user, task_id in made if user == 1]
    recent = await store.recent_tasks(1, LIMIT)
    assert [t.id for t in recent] == sorted(mine, reverse=True)[:LIMIT]
    assert all(t.user_id == 1 for t in recent)
    theirs = await store.recent_tasks(2, LIMIT)
    assert [t.id for t in theirs] == sorted((i for u, i in made if u == 2), reverse=True)
    assert await store.recent_tasks(3, LIMIT) == []
    assert len(await store.recent_tasks(1, 2)) == 2


async def test_recent_tasks_carry_what_the_lines_need(store: Store) -> None:
    parent = await store.create_task(request(1, "a"), now=NOW, daily_quota=9, max_active=9)
    child = await store.create_task(
        dataclasses.replace(request(1, "b"), parent_task_id=1, parent_output=2),
        now=NOW + 1,
        daily_quota=9,
        max_active=9,
    )
    assert isinstance(parent, Task) and isinstance(child, Task)
    await store.set_status_message(child.id, 555)
    newest, oldest = await store.recent_tasks(1, LIMIT)
    assert (newest.id, newest.parent_task_id, newest.status_message_id) == (child.id, 1, 555)
    assert oldest.id == parent.id and oldest.parent_task_id is None
    assert newest.outputs == () or isinstance(newest.outputs[0], Output)


async def test_recent_tasks_uses_the_tasks_by_user_index(store: Store) -> None:
    """The plan SQLite picks for the statement the store really runs (traced)."""
    statements: list[str] = []
    connection = store._db._conn  # type: ignore[attr-defined]  # the SQLite adapter's
    await connection.set_trace_callback(statements.append)
    await store.recent_tasks(1, LIMIT)
    await connection.set_trace_callback(None)
    [query] = [s for s in statements if s.lstrip().startswith("SELECT")]
    plan = await connection.execute_fetchall(f"EXPLAIN QUERY PLAN {query}")
    details = " ".join(str(row[-1]) for row in plan)
    assert "INDEX tasks_by_user" in details, details
    assert "TEMP B-TREE" not in details, details  # no sort: the index gives the order
