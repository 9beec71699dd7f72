from __future__ import annotations

import dataclasses

from bot.core.models import Gender, Output, Task, TaskKind, TaskStatus
from bot.core.songs.progress import CANCELLED_BY_STAGE, REFUNDED, progress_bar, status_view

BASE = Task(
    id=7,
    kind=TaskKind.INPAINT,
    status=TaskStatus.QUEUED,
    user_id=1,
    guild_id=2,
    channel_id=3,
    prompt="choir",
    lyrics=None,
    gender=Gender.FEMALE,
    audio_url=None,
    audio_path=None,
    audio_filename="song.mp3",
    audio_duration=30.0,
    replace_start=75.0,
    replace_end=90.5,
    lyrics_section_to_replace=None,
    num_outputs=2,
    upload_limit=None,
    status_message_id=None,
    musicgpt_task_id=None,
    conversion_ids=(),
    eta_seconds=None,
    credit_estimate=None,
    cost=None,
    outputs=(),
    error=None,
    quota_day="2026-11-22",
    quota_refunded=False,
    delivered_message_ids=(),
    delivery_attempts=0,
    webhook_seen=False,
    poll_count=0,
    created_at=1000.0,
    submitted_at=None,
    completed_at=None,
    finished_at=None,
    next_poll_at=None,
    updated_at=1000.0,
)


def test_progress_bar_shape() -> None:
    assert progress_bar(0.5, width=4) == "██░░ 50%"
    assert progress_bar(2.0, width=4) == "████ 100%"


def test_queued_shows_position_and_request() -> None:
    view = status_view(BASE, queue_position=3, now=1000.0)
    assert "#3 in line" in view.stage and view.progress is None
    assert ("Replacing", "1:15 – 1:30.5") in view.details
    assert ("Voice", "female") in view.details


def test_progress_advances_with_time_and_stops_short_of_full() -> None:
    running = dataclasses.replace(
        BASE, status=TaskStatus.SUBMITTED, submitted_at=1000.0, eta_seconds=40
    )
    early = status_view(running, 0, now=1010.0)
    late = status_view(running, 0, now=1100.0)
    assert early.progress is not None and early.progress.endswith(" 25%")
    assert "30 s left" in early.stage
    assert late.progress is not None and late.progress.endswith(" 95%")
    assert "any moment now" in late.stage


def test_finished_and_failed() -> None:
    done = dataclasses.replace(
        BASE, status=TaskStatus.DELIVERED, outputs=(Output("http://x/a"), Output("http://x/b"))
    )
    assert "Posted 2 takes" in status_view(done, 0, 0).stage
    failed = dataclasses.replace(
        BASE, status=TaskStatus.FAILED, error="MusicGPT failed: boom", quota_refunded=True
    )
    view = status_view(failed, 0, 0)
    assert view.failed and view.stage == f"❌ MusicGPT failed: boom {REFUNDED}"
    not_refunded = dataclasses.replace(failed, quota_refunded=False)
    assert status_view(not_refunded, 0, 0).stage == "❌ MusicGPT failed: boom"


def test_an_extension_says_where_its_new_part_starts_and_what_it_extends() -> None:
    extend = dataclasses.replace(BASE, kind=TaskKind.EXTEND, replace_end=None)
    assert extend.extend_after == 75.0 and BASE.extend_after is None
    view = status_view(extend, queue_position=0, now=1000.0)
    assert view.title == "⏩ Extending your song · song #7"
    assert ("New part from", "1:15") in view.details
    assert not any(label in ("Replacing", "Takes") for label, _ in view.details)
    assert view.lineage is None

    from_take = dataclasses.replace(extend, parent_task_id=12, parent_output=2, replace_start=90)
    assert status_view(from_take, 0, 1000.0).lineage == "Extension of #12 take 2 from 1:30"
    again = dataclasses.replace(extend, parent_task_id=12)
    assert status_view(again, 0, 1000.0).lineage == "Again of #12"


def test_a_delivered_song_whose_takes_were_deleted_says_so_and_by_whom() -> None:
    delivered = dataclasses.replace(BASE, status=TaskStatus.DELIVERED)
    view = status_view(delivered, 0, 0.0, deleted_by=42)
    assert view.stage == "🗑️ The takes were deleted." and view.deleted_by == 42
    failed = dataclasses.replace(BASE, status=TaskStatus.FAILED)
    assert status_view(failed, 0, 0.0, deleted_by=42).deleted_by is None


def test_a_song_cancelled_by_someone_else_says_so_and_names_them() -> None:
    cancelled = dataclasses.replace(BASE, status=TaskStatus.CANCELLED)
    view = status_view(cancelled, 0, 0.0, cancelled_by=42)
    assert view.stage == CANCELLED_BY_STAGE and view.cancelled_by == 42
    own = status_view(cancelled, 0, 0.0)
    assert own.cancelled_by is None and "Cancelled before it went" in own.stage
    # Only a cancelled song names a canceller.
    assert status_view(BASE, 1, 0.0, cancelled_by=42).cancelled_by is None
