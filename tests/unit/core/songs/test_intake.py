"""Intake rules without Discord: a fake tracker stands in for the queue."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from bot.core.errors import AudioRejected, QuotaExceeded, UserFacingError
from bot.core.media.spool import Spool
from bot.core.models import QuotaLimits, TaskKind
from bot.core.servers.guild_settings import GuildSettingsService
from bot.core.songs.forms import AttachmentRef, InpaintRange, Origin, PendingAudio, SongRequest
from bot.core.songs.intake import Intake
from bot.core.songs.quota import QuotaService
from bot.core.timecodes import BadTime
from tests.unit.conftest import FakeClock, submit_song

ORIGIN = Origin(user_id=1, guild_id=2, channel_id=3)
SING, INPAINT = TaskKind.SING, TaskKind.INPAINT


class FakeTracker:
    def __init__(self) -> None:
        self.submitted: list[tuple[Any, Any, Any]] = []

    async def submit(self, request, *, limits, audio_path, audio_duration):
        self.submitted.append((request, audio_path, audio_duration))
        return request


class FakeQuota:
    limits = QuotaLimits(daily=5, active=2)
    checked: list[int]

    def __init__(self) -> None:
        self.checked = []

    async def check(self, user_id: int, **_member: Any) -> None:
        self.checked.append(user_id)

    async def limits_for(self, guild_id: int | None, role_ids: Any = ()) -> Any:
        return SimpleNamespace(limits=self.limits)


@pytest.fixture
async def intake(tmp_path: Path):
    async with aiohttp.ClientSession() as session:
        yield Intake(
            session,
            FakeTracker(),  # type: ignore[arg-type]
            FakeQuota(),  # type: ignore[arg-type]
            audio_dir=tmp_path / "audio",
            max_audio_bytes=1000,
            spool=Spool(tmp_path / "audio", cap_bytes=1024 * 1024),
        )


async def test_lyrics_over_the_limit_are_refused_server_side(intake: Intake) -> None:
    pending = PendingAudio(url="https://e.com/a.mp3")
    with pytest.raises(
        UserFacingError,
        match=r"2001 characters; MusicGPT takes at most 2000, so please shorten",
    ):
        await submit_song(intake, ORIGIN, pending, SongRequest(SING, "p", lyrics="x" * 2001))
    with pytest.raises(UserFacingError, match="New lyrics for the replaced part is 2001"):
        await submit_song(
            intake,
            ORIGIN,
            PendingAudio(url="https://e.com/a.mp3"),
            SongRequest(INPAINT, "p", new_lyrics="x" * 2001, span=InpaintRange(1, 2)),
        )


async def test_blank_lyrics_and_prompt_are_refused(intake: Intake) -> None:
    with pytest.raises(UserFacingError, match="lyrics can't be empty"):
        await submit_song(
            intake,
            ORIGIN,
            PendingAudio(url="https://e.com/a.mp3"),
            SongRequest(SING, "p", lyrics=" \n"),
        )
    with pytest.raises(UserFacingError, match="`prompt` can't be empty"):
        await submit_song(
            intake,
            ORIGIN,
            PendingAudio(url="https://e.com/a.mp3"),
            SongRequest(SING, "  ", lyrics="la"),
        )


async def test_begin_checks_audio_choice_and_size(intake: Intake) -> None:
    big = AttachmentRef(url="http://127.0.0.1:9/a.mp3", filename="a.mp3", size=5000)
    with pytest.raises(AudioRejected, match="Attach an audio file"):
        await intake.begin(1, kind=SING, attachment=None, audio_url="  ")
    with pytest.raises(AudioRejected, match="not both"):
        await intake.begin(1, kind=SING, attachment=big, audio_url="https://e.com/a.mp3")
    with pytest.raises(AudioRejected, match="limit is"):
        await intake.begin(1, kind=SING, attachment=big, audio_url=None)
    pending = await intake.begin(1, kind=SING, attachment=None, audio_url=" https://e.com/a.mp3 ")
    assert pending.url == "https://e.com/a.mp3" and await pending.ready() is None


async def test_a_failed_download_leaves_no_file(intake: Intake, tmp_path: Path) -> None:
    gone = AttachmentRef(url="http://127.0.0.1:9/a.mp3", filename="a.mp3", size=10)
    pending = await intake.begin(1, kind=SING, attachment=gone, audio_url=None)
    with pytest.raises(AudioRejected, match="I couldn't download"):
        await submit_song(intake, ORIGIN, pending, SongRequest(SING, "p", lyrics="la"))
    assert list((tmp_path / "audio").iterdir()) == []


async def test_the_precheck_rejects_reversed_times(intake: Intake) -> None:
    with pytest.raises(BadTime, match="must come before"):
        await intake.precheck(1, guild_id=None, span=InpaintRange(30, 10))


async def test_a_file_plainly_not_audio_is_refused_before_the_form(
    intake: Intake, tmp_path: Path
) -> None:
    quota = intake._quota
    cases = [
        ("cover.png", "image/png", "That file is a PNG image, not audio."),
        ("lyrics.pdf", "application/pdf", "That file is a PDF document, not audio."),
        ("lyrics", "text/plain; charset=utf-8", "That file is a text file, not audio."),
        ("stems.zip", None, "That file is a ZIP archive, not audio."),
    ]
    for filename, content_type, refusal in cases:
        png = AttachmentRef(
            url="https://cdn.discordapp.com/a",
            filename=filename,
            size=10,
            content_type=content_type,
        )
        with pytest.raises(AudioRejected) as refused:
            await intake.begin(1, kind=SING, attachment=png, audio_url=None)
        assert refused.value.user_message.startswith(f"{refusal} Send an audio file")
    assert quota.checked == []  # type: ignore[attr-defined]  # refused before the quota
    assert intake.open_forms() == 0 and list((tmp_path / "audio").iterdir()) == []
    # A video may carry the sound: it goes on to be downloaded and judged.
    video = AttachmentRef(
        url="https://cdn.discordapp.com/v", filename="clip.mp4", size=10, content_type="video/mp4"
    )
    pending = await intake.begin(1, kind=SING, attachment=video, audio_url=None)
    assert pending.download is not None and intake.open_forms() == 1
    pending.abandon()


async def test_an_abandoned_form_leaves_no_unretrieved_download_error(intake: Intake) -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        # Not on Discord's CDN: the download fails at once, as a refused file's check would.
        elsewhere = AttachmentRef(url="http://127.0.0.1:9/a.mp3", filename="a.mp3", size=10)
        pending = await intake.begin(1, kind=SING, attachment=elsewhere, audio_url=None)
        assert pending.download is not None
        await asyncio.wait([pending.download])
        pending.abandon()  # the member closed the form: nobody awaits the download now
        del pending
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert [c.get("message") for c in reported] == []


NOW = 1_800_000_000.0


class LimitsTracker:
    """Charges like the real store would, recording the limits each submit was charged by."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.limits: list[QuotaLimits] = []

    async def submit(self, request, *, limits, audio_path, audio_duration):
        self.limits.append(limits)
        return await self.store.create_task(
            request, now=NOW, daily_quota=limits.daily, max_active=limits.active
        )


async def test_a_members_roles_decide_the_limits_they_are_charged_by(
    tmp_path: Path, store: Any
) -> None:
    settings = GuildSettingsService(store)
    await settings.set_quota(2, daily=1, active=None)  # the server: 1 a day
    await settings.set_quota(2, daily=3, active=None, role_id=77)  # role 77: 3 a day
    tracker = LimitsTracker(store)
    quota = QuotaService(
        store,
        QuotaLimits(daily=5, active=5),
        clock=FakeClock(start=NOW),
        guild_settings=settings,
    )
    async with aiohttp.ClientSession() as session:
        intake = Intake(
            session,
            tracker,  # type: ignore[arg-type]
            quota,
            audio_dir=tmp_path / "audio",
            max_audio_bytes=1000,
            spool=Spool(tmp_path / "audio", cap_bytes=1024 * 1024),
        )
        singer = Origin(user_id=1, guild_id=2, channel_id=3, role_ids=(5, 77))
        plain = Origin(user_id=9, guild_id=2, channel_id=3, role_ids=(5,))
        for origin in (singer, plain):
            pending = await intake.begin(
                origin.user_id,
                kind=SING,
                attachment=None,
                audio_url="https://e.com/a.mp3",
                guild_id=2,
                role_ids=origin.role_ids,
            )
            await submit_song(intake, origin, pending, SongRequest(SING, "p", lyrics="la"))
        assert tracker.limits == [QuotaLimits(daily=3, active=5), QuotaLimits(daily=1, active=5)]
        # The plain member's one song is spent: refused at the command, before any form.
        with pytest.raises(QuotaExceeded, match="You've made today's song\\."):
            await intake.begin(
                9, kind=SING, attachment=None, audio_url="https://e.com/b.mp3", guild_id=2
            )


# --- /extend and Extend: where the new part starts -------------------------------------------

EXTEND = TaskKind.EXTEND


async def test_an_extend_starts_after_as_typed_or_at_the_songs_measured_end(
    intake: Intake,
) -> None:
    tracker: Any = intake._tracker
    typed = SongRequest(EXTEND, "p", lyrics=" more ", after=75.5)
    await submit_song(intake, ORIGIN, PendingAudio(url="https://e.com/a.mp3"), typed)
    at_end = SongRequest(EXTEND, "p")
    measured = PendingAudio(url="https://e.com/b.mp3", duration=90.2)
    await submit_song(intake, ORIGIN, measured, at_end)
    [(first, _, _), (second, _, _)] = tracker.submitted
    assert (first.kind, first.extend_after, first.lyrics, first.replace_end) == (
        EXTEND,
        75.5,
        "more",
        None,
    )
    assert second.extend_after == 90.2


async def test_an_extend_past_the_end_or_of_unknown_length_is_refused_before_the_charge(
    intake: Intake,
) -> None:
    tracker: Any = intake._tracker
    past = SongRequest(EXTEND, "p", after=95)
    with pytest.raises(BadTime, match=r"can't start at 1:35: the song is 1:30 long"):
        await submit_song(intake, ORIGIN, PendingAudio(url="https://e.com/a", duration=90), past)
    with pytest.raises(BadTime, match="tell me where the new part starts"):
        unknown = PendingAudio(url="https://e.com/a")
        await submit_song(intake, ORIGIN, unknown, SongRequest(EXTEND, "p"))
    # A hair past a measured end is the end (lengths differ by a frame or two).
    at_end = SongRequest(EXTEND, "p", after=90.04)
    await submit_song(intake, ORIGIN, PendingAudio(url="https://e.com/a", duration=90), at_end)
    assert [r.extend_after for r, _, _ in tracker.submitted] == [90.04]


async def test_an_extends_link_is_downloaded_when_on_discords_cdn_else_needs_after(
    intake: Intake,
) -> None:
    with pytest.raises(BadTime, match="`after`"):
        await intake.begin(1, kind=EXTEND, attachment=None, audio_url="https://e.com/a.mp3")
    elsewhere = await intake.begin(
        1, kind=EXTEND, attachment=None, audio_url="https://e.com/a.mp3", after=12
    )
    assert elsewhere.url == "https://e.com/a.mp3" and elsewhere.download is None
    cdn = "https://cdn.discordapp.com/attachments/1/2/my%20song.mp3?ex=1"
    pending = await intake.begin(1, kind=EXTEND, attachment=None, audio_url=cdn)
    try:
        assert pending.url is None and pending.download is not None
        assert pending.filename == "my song.mp3"
        assert pending.reservation is not None and pending.reservation.size == 1000  # the most
    finally:
        pending.discard()
    # Other kinds keep giving any link to MusicGPT as it is.
    sing = await intake.begin(1, kind=SING, attachment=None, audio_url=cdn)
    assert sing.url == cdn and sing.download is None


async def test_a_refusal_of_what_was_typed_holds_the_file_for_edit_and_retry(
    intake: Intake, tmp_path: Path
) -> None:
    kept = tmp_path / "audio" / "kept.mp3"
    kept.write_bytes(b"x")
    pending = PendingAudio(path=kept, filename="kept.mp3", duration=3.0, retryable=True)
    too_long = SongRequest(SING, "p", lyrics="x" * 2001)
    with pytest.raises(UserFacingError, match="2001 characters"):
        await submit_song(intake, ORIGIN, pending, too_long)
    assert pending.held and kept.exists()  # waits for the retry
    pending.reopen()
    with pytest.raises(UserFacingError, match="past the end of the song"):
        song = SongRequest(INPAINT, "p", span=InpaintRange(1, 5))
        await submit_song(intake, ORIGIN, pending, song)
    assert pending.held and kept.exists()
    pending.release()  # the retry expired: the file goes
    assert not kept.exists() and not pending.held


async def test_a_form_without_edit_and_retry_drops_its_file_when_refused(
    intake: Intake, tmp_path: Path
) -> None:
    kept = tmp_path / "audio" / "kept.mp3"
    kept.write_bytes(b"x")
    pending = PendingAudio(path=kept, filename="kept.mp3", duration=3.0)
    with pytest.raises(UserFacingError):
        await submit_song(intake, ORIGIN, pending, SongRequest(SING, "p", lyrics="x" * 2001))
    assert not pending.held and not kept.exists()
