"""The intake enforces a server's blocked words and daily budget on every request path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.core.media.spool import Spool
from bot.core.models import Request, SubmitReceipt, Task, TaskKind
from bot.core.servers.guild_settings import GuildSettingsService
from bot.core.songs.blocked_words import BlockedWord
from bot.core.songs.budget import Budget, BudgetReached
from bot.core.songs.forms import AttachmentRef, InpaintRange, Origin, PendingAudio, SongRequest
from bot.core.songs.intake import Intake
from bot.core.store import Store
from tests.unit.conftest import FakeClock, submit_song
from tests.unit.core.songs.test_intake import FakeQuota, FakeTracker

GUILD = 2
ORIGIN = Origin(user_id=1, guild_id=GUILD, channel_id=3)
LINK = "https://e.com/a.mp3"


@pytest.fixture
async def parts(
    tmp_path: Path, store: Store
) -> AsyncIterator[tuple[Intake, FakeTracker, GuildSettingsService]]:
    settings = GuildSettingsService(store)
    tracker = FakeTracker()
    async with aiohttp.ClientSession() as session:
        yield (
            Intake(
                session,
                tracker,  # type: ignore[arg-type]
                FakeQuota(),  # type: ignore[arg-type]
                audio_dir=tmp_path / "audio",
                max_audio_bytes=1000,
                spool=Spool(tmp_path / "audio", cap_bytes=1024 * 1024),
                guild_settings=settings,
                budget=Budget(store, settings, clock=FakeClock(start=store_now())),
            ),
            tracker,
            settings,
        )


def store_now() -> float:
    return 1_800_000_000.0


def derived(**fields: str | None) -> Request:
    return Request(
        kind=TaskKind.INPAINT,
        user_id=1,
        guild_id=GUILD,
        channel_id=3,
        prompt=fields.get("prompt") or "opera",
        lyrics=fields.get("lyrics"),
        lyrics_section_to_replace=fields.get("new"),
        audio_url=LINK,
        replace_start=1,
        replace_end=2,
    )


async def test_an_again_with_a_blocked_word_is_refused_and_its_file_goes(
    parts, tmp_path: Path
) -> None:
    intake, tracker, settings = parts
    await settings.set_blocked_words(GUILD, ["darn"])
    kept = tmp_path / "audio" / "copy.mp3"
    kept.write_bytes(b"x")
    pending = Intake.kept_file(kept, filename="a.mp3", duration=3.0)
    with pytest.raises(BlockedWord, match="which is in the new lyrics for the replaced part"):
        await intake.submit(derived(new="Darn it"), pending)
    assert tracker.submitted == [] and not kept.exists()


async def test_every_form_field_is_checked(parts) -> None:
    intake, tracker, settings = parts
    await settings.set_blocked_words(GUILD, ["darn"])
    with pytest.raises(BlockedWord, match="prompt"):
        await submit_song(
            intake,
            ORIGIN,
            PendingAudio(url=LINK),
            SongRequest(TaskKind.SING, "darn pop", lyrics="la"),
        )
    with pytest.raises(BlockedWord, match="lyrics of the whole song"):
        await submit_song(
            intake,
            ORIGIN,
            PendingAudio(url=LINK),
            SongRequest(TaskKind.INPAINT, "p", lyrics="oh darn", span=InpaintRange(1, 2)),
        )
    assert tracker.submitted == []
    await submit_song(
        intake,
        ORIGIN,
        PendingAudio(url=LINK),
        SongRequest(TaskKind.SING, "p", lyrics="darned good"),
    )
    assert len(tracker.submitted) == 1


async def spend_credits(store: Store, amount: float) -> None:
    task = await store.create_task(
        Request(TaskKind.SING, 1, GUILD, 3, "p", "la"),
        now=store_now(),
        daily_quota=9,
        max_active=9,
    )
    assert isinstance(task, Task) and await store.claim_next_queued(store_now())
    receipt = SubmitReceipt("mg", ("c",), 1, amount)
    assert await store.mark_submitted(task.id, receipt, next_poll_at=0, now=store_now())


async def test_a_spent_budget_refuses_at_command_time_and_at_submit(
    parts, store: Store, tmp_path: Path
) -> None:
    intake, tracker, settings = parts
    await settings.set_budget(GUILD, 50)
    attachment = AttachmentRef("https://cdn.discordapp.com/a.mp3", "a.mp3", 10)
    pending = await intake.begin(
        1, kind=TaskKind.SING, attachment=None, audio_url=LINK, guild_id=GUILD
    )
    await spend_credits(store, 50)
    with pytest.raises(BudgetReached):
        await intake.begin(
            1, kind=TaskKind.SING, attachment=attachment, audio_url=None, guild_id=GUILD
        )
    # The refused one opened nothing and downloaded nothing (its URL is never fetched).
    assert intake.open_forms() == 1 and list((tmp_path / "audio").iterdir()) == []
    # A form opened before the budget was spent is refused when sent, before the tracker.
    with pytest.raises(BudgetReached):
        await submit_song(intake, ORIGIN, pending, SongRequest(TaskKind.SING, "p", lyrics="la"))
    with pytest.raises(BudgetReached):
        await intake.submit(derived(), PendingAudio(url=LINK))
    assert tracker.submitted == []
    # Another server's budget is its own.
    await intake.begin(1, kind=TaskKind.SING, attachment=None, audio_url=LINK, guild_id=GUILD + 1)
