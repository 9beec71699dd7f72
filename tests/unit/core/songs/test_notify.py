"""DM copies (/notify) without Discord: the store's guarded copy states, the delivery worker's
copy step (claim, find after a crash, refusal, retries), the status note and the DM's text."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.core.models import Output, SubmitReceipt, Task, TaskStatus
from bot.core.songs.notify import (
    DMS_CLOSED,
    CopyImpossible,
    CopyRefused,
    CopyState,
    copy_failure,
    dm_note,
    post_link,
)
from bot.core.songs.outputs import Attachable
from bot.core.songs.progress import status_view
from bot.core.store import Store
from bot.core.tracker.context import MusicGPTHealth, Timing, TrackerContext
from bot.core.tracker.delivery import COPY_ATTEMPTS, DeliveryWorker
from bot.core.tracker.events import TaskEvents
from bot.core.tracker.leases import ClaimKeeper
from bot.discord.songs.poster import copy_text
from tests.unit.conftest import FakeClock, drive
from tests.unit.core.songs.test_progress import BASE
from tests.unit.core.store.conftest import NOW, create
from tests.unit.test_voice import voice_problems

OUTPUTS = (Output("http://mg/a.mp3", "c1", 61.0, "Take A"), Output("http://mg/b.mp3", "c2", 62.0))


async def completed(store: Store, user_id: int = 1) -> Task:
    task = await create(store, user_id)
    assert await store.claim_next_queued(NOW)
    receipt = SubmitReceipt(f"mg-{task.id}", ("c1", "c2"), 10, 1.0)
    assert await store.mark_submitted(task.id, receipt, next_poll_at=NOW, now=NOW)
    done = await store.mark_completed(task.id, OUTPUTS, 1.0, NOW)
    assert done is not None
    return done


async def delivered(store: Store, user_id: int = 1) -> Task:
    task = await completed(store, user_id)
    assert await store.claim_delivery(task.id, NOW)
    done = await store.mark_delivered(task.id, [900 + task.id], NOW)
    assert done is not None and done.status is TaskStatus.DELIVERED
    return done


# --- the store ---------------------------------------------------------------------------


async def test_the_choice_is_kept_per_member(store: Store) -> None:
    assert not await store.dm_copies(1)
    await store.set_dm_copies(1, True, NOW)
    assert await store.dm_copies(1) and not await store.dm_copies(2)
    await store.set_dm_copies(1, False, NOW + 1)
    assert not await store.dm_copies(1)


async def test_a_copy_is_wanted_at_delivery_only_by_members_who_asked(store: Store) -> None:
    await store.set_dm_copies(1, True, NOW)
    wanting, not_asked = await delivered(store, 1), await delivered(store, 2)
    assert wanting.dm_state == CopyState.PENDING and wanting.dm_attempts == 0
    assert not_asked.dm_state is None
    await store.set_dm_copies(1, False, NOW)
    assert (await delivered(store, 1)).dm_state is None  # turned off: no more copies
    assert [t.id for t in await store.tasks_awaiting_copy()] == [wanting.id]


async def test_only_one_claim_of_a_copy_wins_and_each_outcome_is_final(store: Store) -> None:
    await store.set_dm_copies(1, True, NOW)
    task = await delivered(store)
    claimed = await store.claim_copy(task.id, NOW)
    assert claimed is not None and claimed.dm_state == CopyState.SENDING
    assert claimed.dm_attempts == 1
    assert await store.claim_copy(task.id, NOW) is None  # already claimed
    assert await store.record_copy(task.id, CopyState.SENT, 555, NOW) is not None
    sent = await store.get_task(task.id)
    assert sent is not None and (sent.dm_state, sent.dm_message_id) == ("sent", 555)
    # Sent is final: nothing claims, records, releases or gives it up again.
    assert await store.claim_copy(task.id, NOW) is None
    assert await store.release_copy(task.id, NOW) is None
    assert await store.record_copy(task.id, CopyState.REFUSED, None, NOW) is None
    assert await store.give_up_copy(task.id, NOW) is None
    assert await store.tasks_awaiting_copy() == []


async def test_a_released_claim_can_be_claimed_again_then_given_up(store: Store) -> None:
    await store.set_dm_copies(1, True, NOW)
    task = await delivered(store)
    assert await store.claim_copy(task.id, NOW)
    released = await store.release_copy(task.id, NOW)
    assert released is not None and released.dm_state == CopyState.PENDING
    again = await store.claim_copy(task.id, NOW)
    assert again is not None and again.dm_attempts == 2
    given_up = await store.give_up_copy(task.id, NOW)
    assert given_up is not None and given_up.dm_state == CopyState.FAILED


async def test_a_task_not_delivered_has_no_copy_to_claim(store: Store) -> None:
    await store.set_dm_copies(1, True, NOW)
    task = await completed(store)
    assert await store.claim_copy(task.id, NOW) is None
    assert await store.tasks_awaiting_copy() == []


async def test_the_migration_leaves_older_tasks_without_copies(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "db.sqlite3") as store:
        task = await delivered(store)
        assert task.dm_state is None and task.dm_message_id is None


# --- the delivery worker's copy step -------------------------------------------------------


class FakeDiscord:
    """The Discord side: a ResultPoster and a CopySender."""

    def __init__(self) -> None:
        self.posted: list[int] = []
        self.copies: list[int] = []
        self.finds: list[int] = []
        self.already_sent: dict[int, int] = {}
        self.copy_errors: list[Exception] = []

    async def deliver(self, task: Task) -> Sequence[int]:
        self.posted.append(task.id)
        return [900 + task.id]

    async def find_delivery(self, task: Task) -> Sequence[int] | None:
        return None

    async def send_copy(self, task: Task) -> int:
        # The channel post is recorded before any copy is sent.
        assert task.status is TaskStatus.DELIVERED and task.delivered_message_ids
        if self.copy_errors:
            raise self.copy_errors.pop(0)
        self.copies.append(task.id)
        return 700 + task.id

    async def find_copy(self, task: Task) -> int | None:
        self.finds.append(task.id)
        return self.already_sent.get(task.id)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


def worker_for(store: Store, clock: FakeClock, discord: FakeDiscord) -> DeliveryWorker:
    context = TrackerContext(store, TaskEvents(), clock, Timing(), MusicGPTHealth(clock))
    worker = DeliveryWorker(context)
    worker.attach(discord)
    worker.attach_copies(discord)
    return worker


async def settled(store: Store, clock: FakeClock, worker: DeliveryWorker, task_id: int) -> Task:
    async def done() -> bool:
        task = await store.get_task(task_id)
        return task is not None and task.id not in worker.copying and task.id not in worker.active

    await drive(clock, done, step=1.0)
    task = await store.get_task(task_id)
    assert task is not None
    return task


async def test_delivery_then_one_copy_for_a_member_who_asked(store: Store, clock) -> None:
    discord = FakeDiscord()
    worker = worker_for(store, clock, discord)
    await store.set_dm_copies(1, True, NOW)
    wanting, not_asked = await completed(store, 1), await completed(store, 2)
    for task in (wanting, not_asked):
        worker.start(task.id)
    first = await settled(store, clock, worker, wanting.id)
    second = await settled(store, clock, worker, not_asked.id)
    assert sorted(discord.posted) == [wanting.id, not_asked.id]
    assert discord.copies == [wanting.id]
    assert (first.dm_state, first.dm_message_id) == (CopyState.SENT, 700 + wanting.id)
    assert second.dm_state is None
    assert discord.finds == []  # a first claim has nothing to look for


async def test_closed_dms_are_recorded_once_and_never_retried(store: Store, clock) -> None:
    discord = FakeDiscord()
    discord.copy_errors = [CopyRefused("50007")]
    events = TaskEvents()
    context = TrackerContext(store, events, clock, Timing(), MusicGPTHealth(clock))
    worker = DeliveryWorker(context)
    worker.attach(discord)
    worker.attach_copies(discord)
    await store.set_dm_copies(1, True, NOW)
    task = await delivered(store)  # posted and recorded; nothing published yet
    assert events.pending() == 0
    await worker.resume_copies()
    done = await settled(store, clock, worker, task.id)
    assert done.status is TaskStatus.DELIVERED  # the channel post stands
    assert (done.dm_state, done.dm_attempts) == (CopyState.REFUSED, 1)
    assert discord.copies == [] and discord.copy_errors == []
    assert await events.take() == [task.id]  # the status is told to note it
    clock.advance(3600)
    worker.start_copy(task.id)  # asked again (a restart, say): nothing is sent
    assert (await settled(store, clock, worker, task.id)).dm_attempts == 1


async def test_other_failures_are_retried_then_given_up_quietly(store: Store, clock) -> None:
    discord = FakeDiscord()
    discord.copy_errors = [OSError("reset")] * COPY_ATTEMPTS
    worker = worker_for(store, clock, discord)
    await store.set_dm_copies(1, True, NOW)
    task = await completed(store)
    worker.start(task.id)
    done = await settled(store, clock, worker, task.id)
    assert (done.status, done.dm_state) == (TaskStatus.DELIVERED, CopyState.FAILED)
    assert done.dm_attempts == COPY_ATTEMPTS and discord.copies == []
    # Each retry first looked for a copy the failed attempt might have sent.
    assert discord.finds == [task.id] * (COPY_ATTEMPTS - 1)


async def test_a_failure_then_success_sends_one_copy(store: Store, clock) -> None:
    discord = FakeDiscord()
    discord.copy_errors = [OSError("reset")]
    worker = worker_for(store, clock, discord)
    await store.set_dm_copies(1, True, NOW)
    task = await completed(store)
    worker.start(task.id)
    done = await settled(store, clock, worker, task.id)
    assert (done.dm_state, done.dm_attempts) == (CopyState.SENT, 2)
    assert discord.copies == [task.id]


async def test_an_impossible_copy_is_given_up_at_once(store: Store, clock) -> None:
    discord = FakeDiscord()
    discord.copy_errors = [CopyImpossible("unknown user")]
    worker = worker_for(store, clock, discord)
    await store.set_dm_copies(1, True, NOW)
    task = await completed(store)
    worker.start(task.id)
    done = await settled(store, clock, worker, task.id)
    assert (done.dm_state, done.dm_attempts) == (CopyState.FAILED, 1)


async def test_after_a_crash_mid_copy_the_sent_copy_is_found_not_sent_again(
    store: Store, clock
) -> None:
    await store.set_dm_copies(1, True, NOW)
    task = await delivered(store)
    assert await store.claim_copy(task.id, NOW)  # the dead run's claim; it sent the DM
    discord = FakeDiscord()
    discord.already_sent[task.id] = 4242
    context = TrackerContext(store, TaskEvents(), clock, Timing(), MusicGPTHealth(clock))
    worker = DeliveryWorker(context)
    worker.attach(discord)
    worker.attach_copies(discord)
    await worker.resume_copies()  # a claim is not resumed: it is taken over
    assert discord.finds == [] and discord.copies == []
    keeper = ClaimKeeper(context, worker, sending=list, look_again=lambda: None)
    await keeper.sweep(every_claim=True)  # as a start-up on SQLite does
    done = await settled(store, clock, worker, task.id)
    assert (done.dm_state, done.dm_message_id) == (CopyState.SENT, 4242)
    assert discord.finds == [task.id] and discord.copies == []


async def test_after_a_crash_before_any_claim_the_copy_is_sent(store: Store, clock) -> None:
    await store.set_dm_copies(1, True, NOW)
    task = await delivered(store)  # recorded, with the copy wanted; then the run died
    discord = FakeDiscord()
    worker = worker_for(store, clock, discord)
    await worker.resume_copies()
    done = await settled(store, clock, worker, task.id)
    assert done.dm_state == CopyState.SENT and discord.copies == [task.id]
    assert discord.finds == []


async def test_without_a_sender_a_wanted_copy_waits(store: Store, clock) -> None:
    discord = FakeDiscord()
    context = TrackerContext(store, TaskEvents(), clock, Timing(), MusicGPTHealth(clock))
    worker = DeliveryWorker(context)
    worker.attach(discord)
    await store.set_dm_copies(1, True, NOW)
    task = await completed(store)
    worker.start(task.id)
    done = await settled(store, clock, worker, task.id)
    assert done.status is TaskStatus.DELIVERED and done.dm_state == CopyState.PENDING


# --- what Discord's answers mean, what members read ----------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "meaning"),
    [
        (403, 50007, CopyRefused),
        (403, 50001, CopyImpossible),
        (404, 10013, CopyImpossible),
        (400, 50035, CopyImpossible),
        (429, 0, None),
        (500, 0, None),
        (503, 0, None),
    ],
)
def test_what_a_discord_error_means_for_a_copy(status: int, code: int, meaning: object) -> None:
    assert copy_failure(status, code) is meaning


def test_the_status_notes_closed_dms_once_the_song_is_posted() -> None:
    posted = dataclasses.replace(BASE, status=TaskStatus.DELIVERED, outputs=OUTPUTS)
    refused = dataclasses.replace(posted, dm_state=CopyState.REFUSED)
    assert status_view(refused, 0, NOW).stage.endswith(DMS_CLOSED)
    for state in (None, *(s for s in CopyState if s is not CopyState.REFUSED)):
        shown = status_view(dataclasses.replace(posted, dm_state=state), 0, NOW).stage
        assert DMS_CLOSED not in shown
    assert dm_note(CopyState.FAILED) is None  # given up quietly


def test_the_copy_carries_the_takes_the_marker_and_a_link_back(tmp_path: Path) -> None:
    task = dataclasses.replace(BASE, id=12, user_id=4242, outputs=OUTPUTS)
    items = [Attachable(OUTPUTS[0], tmp_path / "a.mp3"), Attachable(OUTPUTS[1], None)]
    link = post_link(2, 3, 99)
    text = copy_text(task, items, link)
    assert "(song #12)" in text and link == "https://discord.com/channels/2/3/99"
    assert f"Posted here: {link}" in text
    assert "<@" not in text  # nobody is mentioned in a DM
    assert "**1. Take A**" in text and "**2. Take 2**" in text
    assert "too big to attach here, download: <http://mg/b.mp3>" in text
    assert "**1. Take A** · 1:01\n" in text  # the attached one has no link
    assert post_link(None, 3, 99) == "https://discord.com/channels/@me/3/99"
    assert not voice_problems(text), text


def test_the_copy_is_in_the_servers_language_with_its_marker_in_english(tmp_path: Path) -> None:
    task = dataclasses.replace(BASE, id=12, user_id=4242, outputs=OUTPUTS)
    items = [Attachable(OUTPUTS[0], tmp_path / "a.mp3"), Attachable(OUTPUTS[1], None)]
    link = post_link(2, 3, 99)
    text = copy_text(task, items, link, "es-ES")
    first, posted, *_ = text.splitlines()
    assert first == "¡Aquí tienes una copia de tu canción! (song #12)"  # find_copy's marker
    assert posted == f"Publicada aquí: {link}"
    assert "**2. Toma 2**" in text
    assert copy_text(task, items, link, "ko") == copy_text(task, items, link)  # English
