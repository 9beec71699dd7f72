"""A thread per song (`thread` on /sing and /inpaint), through the real bot and the stand-ins.

The thread is started from the song's status message (so it has the status message's id); the
status stays the thread's starter in the channel and is edited there, and the takes are posted
inside the thread, once. A refused thread (160006, 403) leaves the song in the channel, with
its status saying why. Kills between Discord making the thread and the bot recording it, and
after a refusal, change none of that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.standins.discord import Perm
from tests.standins.musicgpt import HOLD
from tests.support.world import (
    DatabaseLock,
    World,
    embed_text,
    mg_id,
    poll_until,
    results_for,
    status_message_of,
    status_messages_for,
    stored,
    wait_status_of,
    wait_status_text,
    wait_task,
    world,
)

THREAD_POSTS = r"^/channels/\d+/messages/\d+/threads$"
ANY_THREAD_ROUTE = r"^/channels/\d+(/messages/\d+)?/threads$"
WHY = "I couldn't open a thread here"
CONTINUES = "so this song continues in the channel."


async def ask(
    w: World,
    command: str = "sing",
    *,
    thread: bool | None = True,
    prompt: str = "warm soul vocal",
    channel_id: int | None = None,
    values: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[int, Any]:
    """/sing (or /inpaint) as alice with an attachment and, unless None, `thread`; the new
    song's id once its status message exists, and the modal submit (for its answer)."""
    before = {t.id for t in w.tasks()}
    options: dict[str, Any] = {"prompt": prompt, "audio": w.attach("beat.mp3", "tone.mp3")}
    if thread is not None:
        options["thread"] = thread
    options.update(extra or {})
    ix = await w.dc.invoke_command(command, options, user_id=w.alice.id, channel_id=channel_id)
    assert (await ix.wait_callback()).type == 9
    submit = await ix.submit_modal(values or {"Lyrics": "la la la"}, user_id=w.alice.id)

    def new_task() -> int | None:
        fresh = [t.id for t in w.tasks() if t.id not in before]
        return fresh[0] if fresh else None

    task_id = int(await poll_until(new_task, 30, "the song to be stored", every=0.05))
    await wait_task(w, task_id, lambda r: r.status_message_id is not None, "a status")
    return task_id, submit


def bot_posts(w: World, channel_id: int) -> list[Any]:
    return [
        m
        for m in w.dc.messages(channel_id, include_ephemeral=False)
        if m.author_id == w.dc.bot_user.id
    ]


def thread_requests(w: World) -> list[Any]:
    return w.dc.find_requests("POST", path=ANY_THREAD_ROUTE)


async def test_the_thread_option_puts_status_and_takes_in_one_thread(tmp_path: Path) -> None:
    # A long prompt with a direction override: the name is cut at a word and made safe.
    words = "dreamy synth pop with an airy female vocal and a slow build" * 3
    prompt = f"\u202e{words}"
    async with world(tmp_path) as w:
        channel = w.dc.channel_id
        task_id, submit = await ask(w, prompt=prompt)
        thread = await w.dc.wait_for_thread()
        await wait_status_of(w, task_id, "delivered")
        await wait_status_text(w, task_id, "Posted 2 takes")

        status = status_message_of(w, task_id)
        # Started from the status message, which stays in the channel as its starter.
        assert (thread.id, thread.starter_message_id, thread.parent_id) == (
            status.id,
            status.id,
            channel,
        )
        assert status.channel_id == channel and status.thread_id == thread.id
        assert w.dc.threads() == [thread]
        assert len(thread_requests(w)) == 1
        # Named from the prompt: no bidi override, at most 100 characters, cut between words.
        assert "\u202e" not in thread.name and len(thread.name) <= 100
        assert thread.name.endswith("…")
        assert words.startswith(thread.name.removesuffix("…"))
        assert words[len(thread.name) - 1] == " "

        # The takes are in the thread, once, with no reply across channels.
        [result] = results_for(w, task_id)
        assert result.channel_id == thread.id and len(result.files) == 2
        assert result.message_reference is None
        assert result.notified.users == [w.alice.id]
        assert bot_posts(w, channel) == [status]
        assert len(status_messages_for(w, task_id)) == 1
        assert WHY not in embed_text(status)

        row = stored(w, task_id)
        assert (row.thread_wanted, row.thread_id, row.thread_refusal) == (
            1,
            status.id,
            None,
        )
        # The private answer links the thread.
        [answer] = await submit.wait_followups(1)
        assert answer.ephemeral
        assert f"https://discord.com/channels/{w.dc.guild_id}/{thread.id}" in answer.content
        assert "thread" in answer.content


async def test_inpaint_with_thread_posts_in_its_thread(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        task_id, _ = await ask(
            w,
            "inpaint",
            prompt="gospel choir swell",
            values={"Lyrics of the whole song": "la la", "New lyrics for the replaced part": "oh"},
            extra={"start": "0:01", "end": "0:02", "outputs": 1},
        )
        thread = await w.dc.wait_for_thread()
        await wait_status_of(w, task_id, "delivered")
        [result] = results_for(w, task_id)
        assert thread.name == "gospel choir swell" and thread.id == stored(w, task_id).thread_id
        assert result.channel_id == thread.id and len(result.files) == 1


async def test_without_the_option_nothing_changes(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        task_id, submit = await ask(w, thread=None)
        other_id, _ = await ask(w, thread=False, prompt="second")
        for song in (task_id, other_id):
            await wait_status_of(w, song, "delivered")
        assert w.dc.threads() == [] and thread_requests(w) == []
        for song in (task_id, other_id):
            [result] = results_for(w, song)
            status = status_message_of(w, song)
            assert result.channel_id == w.dc.channel_id
            assert result.message_reference["message_id"] == str(status.id)
            assert stored(w, song).thread_wanted == 0
        [answer] = await submit.wait_followups(1)
        assert "Follow it here:" in answer.content and "thread" not in answer.content


async def refused_thread_goes_on_in_the_channel(w: World, reason: str) -> int:
    """The song asks for a thread that Discord refuses: one try, the status says why, the
    takes are posted once in the channel as a reply to the status."""
    channel = w.dc.channel_id
    task_id, submit = await ask(w)
    row = await wait_task(w, task_id, lambda r: r.thread_refusal is not None, "a refusal")
    assert row.thread_id is None
    text = await wait_status_text(w, task_id, WHY)
    assert reason in text and CONTINUES in text
    await wait_status_of(w, task_id, "delivered")
    await wait_status_text(w, task_id, "Posted 2 takes")
    [result] = results_for(w, task_id)
    status = status_message_of(w, task_id)
    assert result.channel_id == channel
    assert result.message_reference["message_id"] == str(status.id)
    assert bot_posts(w, channel) == [status, result]
    assert w.dc.threads() == []
    assert len(thread_requests(w)) == 1  # refused once, never asked again
    [answer] = await submit.wait_followups(1)
    assert "Follow it here:" in answer.content
    return task_id


async def test_too_many_active_threads_keeps_the_song_in_the_channel(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.dc.guild().max_active_threads = 0  # Discord answers 160006
        task_id = await refused_thread_goes_on_in_the_channel(w, "too many active threads")
        assert stored(w, task_id).thread_refusal == "too_many"
        [request] = thread_requests(w)
        assert request.status == 400


async def test_no_permission_for_threads_keeps_the_song_in_the_channel(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.dc.channel(w.dc.channel_id).bot_denied = Perm.CREATE_PUBLIC_THREADS  # a real 403
        task_id = await refused_thread_goes_on_in_the_channel(w, "not allowed")
        assert stored(w, task_id).thread_refusal == "not_allowed"
        [request] = thread_requests(w)
        assert request.status == 403


async def test_killed_after_a_refusal_the_song_stays_in_the_channel(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.mg.script_delays(HOLD)
        w.dc.refuse_threads(160006, count=1)  # once: a second try would be let through
        task_id, _ = await ask(w)
        await wait_task(w, task_id, lambda r: r.thread_refusal == "too_many", "a refusal")
        row = await wait_status_of(w, task_id, "submitted")
        await w.restart_bot(kill=True)
        w.mg.complete_task(mg_id(row))
        await wait_status_of(w, task_id, "delivered")
        [result] = results_for(w, task_id)
        assert result.channel_id == w.dc.channel_id
        assert w.dc.threads() == [] and len(thread_requests(w)) == 1
        assert WHY in embed_text(status_message_of(w, task_id))


async def test_killed_between_making_the_thread_and_recording_it(tmp_path: Path) -> None:
    """Discord makes the thread, the bot dies before its database says so: after the restart
    the bot asks again, is told 160004, adopts the thread (the status message's id) and posts
    the takes there once; no second thread, nothing in the channel."""
    async with world(tmp_path) as w:
        channel = w.dc.channel_id
        w.mg.script_delays(HOLD)
        # Discord holds the thread creation a moment: time to freeze the bot's database first.
        w.dc.faults.add("POST", THREAD_POSTS, None, count=1, delay=3.0)
        task_id, _ = await ask(w)

        def asked() -> bool:
            return bool(w.dc.find_requests("POST", path=THREAD_POSTS))

        await poll_until(asked, 15, "the bot to ask for the thread")
        # With MusicGPT's answer recorded (a kill mid-submit would fail the song instead).
        row = await wait_status_of(w, task_id, "submitted")
        assert not w.dc.threads(), "Discord made the thread before the test could hold it"
        async with DatabaseLock(w.bot_database) as lock:
            thread = await w.dc.wait_for_thread(timeout=15)  # Discord made it
            await w.bot.stop(kill=True)
            at_kill = lock.rows()[task_id]
        assert at_kill["thread_id"] is None and at_kill["thread_refusal"] is None

        await w.restart_bot(kill=True)
        row = await wait_task(w, task_id, lambda r: r.thread_id is not None, "the thread")
        assert row.thread_id == thread.id == row.status_message_id
        again = thread_requests(w)
        assert len(again) == 2 and again[1].status == 400
        assert w.dc.threads() == [thread]

        w.mg.complete_task(mg_id(row))
        await wait_status_of(w, task_id, "delivered")
        [result] = results_for(w, task_id)
        assert result.channel_id == thread.id
        assert bot_posts(w, channel) == [status_message_of(w, task_id)]
        assert len(status_messages_for(w, task_id)) == 1
        assert WHY not in embed_text(status_message_of(w, task_id))


async def test_a_song_asked_inside_a_thread_stays_in_that_thread(tmp_path: Path) -> None:
    """The interaction's channel is the thread: the new song's status and takes go there, and
    `thread` opens no thread inside it (Discord nests none)."""
    async with world(tmp_path) as w:
        first, _ = await ask(w)
        thread = await w.dc.wait_for_thread()
        await wait_status_of(w, first, "delivered")
        second, submit = await ask(w, prompt="second verse", channel_id=thread.id)
        await wait_status_of(w, second, "delivered")
        status = status_message_of(w, second)
        [result] = results_for(w, second)
        assert status.channel_id == result.channel_id == thread.id
        assert result.message_reference["message_id"] == str(status.id)  # same channel
        assert w.dc.threads() == [thread] and len(thread_requests(w)) == 1
        row = stored(w, second)
        assert (row.channel_id, row.thread_wanted, row.thread_id) == (thread.id, 0, None)
        assert bot_posts(w, w.dc.channel_id) == [status_message_of(w, first)]
        [answer] = await submit.wait_followups(1)
        link = f"https://discord.com/channels/{w.dc.guild_id}/{thread.id}/{status.id}"
        assert link in answer.content


async def test_a_thread_it_could_not_post_in_is_not_started(tmp_path: Path) -> None:
    """The bot may start threads but not send in them (known from its cache at start): it
    starts none, rather than one whose takes it couldn't post, and says why."""
    async with world(tmp_path, start=False) as w:
        w.dc.channel(w.dc.channel_id).bot_denied = Perm.SEND_MESSAGES_IN_THREADS
        await w.start_bot()
        task_id, _ = await ask(w)
        await wait_status_of(w, task_id, "delivered")
        assert stored(w, task_id).thread_refusal == "not_allowed"
        assert thread_requests(w) == [] and w.dc.threads() == []
        [result] = results_for(w, task_id)
        assert result.channel_id == w.dc.channel_id
        assert "not allowed" in embed_text(status_message_of(w, task_id))


async def test_an_archived_thread_still_gets_its_takes(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        w.mg.script_delays(HOLD)
        task_id, _ = await ask(w)
        thread = await w.dc.wait_for_thread()
        await wait_task(w, task_id, lambda r: r.thread_id is not None, "the thread")
        row = await wait_status_of(w, task_id, "submitted")
        await w.dc.archive_thread(thread.id)  # quiet for its auto-archive time
        await w.restart_bot(kill=True)  # a fresh cache: the archived thread is not in it
        w.mg.complete_task(mg_id(row))
        await wait_status_of(w, task_id, "delivered")
        [result] = results_for(w, task_id)
        assert result.channel_id == thread.id and not w.dc.thread(thread.id).archived
        assert w.dc.threads() == [thread] and len(thread_requests(w)) == 1


async def test_a_rewrite_clicked_inside_the_thread_lands_in_that_thread(tmp_path: Path) -> None:
    """The take's buttons are on its result, inside the thread: the Rewrite's status and its
    takes go to the same thread, which is not asked for again."""
    async with world(tmp_path, USER_MAX_ACTIVE="10", USER_DAILY_QUOTA="20") as w:
        parent, _ = await ask(w)
        thread = await w.dc.wait_for_thread()
        await wait_status_of(w, parent, "delivered")
        [result] = results_for(w, parent)
        assert result.channel_id == thread.id
        before = {t.id for t in w.tasks()}
        ix = await w.dc.click(result, f"song:rewrite:{parent}:2", user_id=w.bob.id)
        assert (await ix.wait_callback()).type == 9
        submit = await ix.submit_modal(
            {"Start": "0.5", "End": "0:01.5", "Style": "gospel choir"}, user_id=w.bob.id
        )
        child = int(
            await poll_until(
                lambda: next((t.id for t in w.tasks() if t.id not in before), None),
                30,
                "the Rewrite to be stored",
            )
        )
        await wait_status_of(w, child, "delivered")
        status = status_message_of(w, child)
        [posted] = results_for(w, child)
        assert status.channel_id == posted.channel_id == thread.id
        assert posted.message_reference["message_id"] == str(status.id)
        row = stored(w, child)
        assert (row.parent_task_id, row.channel_id, row.thread_wanted) == (
            parent,
            thread.id,
            0,
        )
        assert w.dc.threads() == [thread] and len(thread_requests(w)) == 1
        assert bot_posts(w, w.dc.channel_id) == [status_message_of(w, parent)]
        callback = await submit.wait_callback()
        if callback.type == 5:  # thinking, then the answer
            [answer] = await submit.wait_followups(1, timeout=30)
            text = answer.content
        else:
            text = str((callback.data or {}).get("content"))
        assert f"/{thread.id}/{status.id}" in text
