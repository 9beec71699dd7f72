"""What a member's forms may hold: one open form per command, one submit per form, a global
cap on the audio held, a clear answer when the disk is full, private files. Against a real
attachment server on a socket; a fake tracker stands in for the queue."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock

import aiohttp
import pytest
from aiohttp import web

from bot.core.config import origin_of
from bot.core.errors import DiskFull, FormClosed, QuotaExceeded, SpoolFull
from bot.core.media.spool import Spool
from bot.core.models import QuotaLimits, TaskKind
from bot.core.songs.forms import AttachmentRef, Origin, PendingAudio, SongRequest
from bot.core.songs.intake import Intake
from bot.core.store.sqlite import storage_error
from tests.unit.conftest import submit_song

ORIGIN = Origin(user_id=1, guild_id=2, channel_id=3)
SING, INPAINT = TaskKind.SING, TaskKind.INPAINT
TONE = (Path(__file__).parents[3] / "fixtures" / "audio" / "tone.wav").read_bytes()
MB = 1024 * 1024


class FakeTracker:
    """Queues requests as numbered tasks; `gate` holds submits; `error` fails them."""

    def __init__(self) -> None:
        self.submitted: list[tuple[Any, Path | None]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.error: Exception | None = None

    async def submit(self, request, *, limits, audio_path, audio_duration):
        await self.gate.wait()
        if self.error:
            raise self.error
        self.submitted.append((request, audio_path))
        return SimpleNamespace(id=len(self.submitted) + 11, request=request)


class FakeQuota:
    limits = QuotaLimits(daily=5, active=2)

    async def check(self, user_id: int, **_member: Any) -> None:
        return None

    async def limits_for(self, guild_id: int | None, role_ids: Any = ()) -> Any:
        return SimpleNamespace(limits=self.limits)


class AttachmentServer:
    def __init__(self) -> None:
        self.base = ""
        self.hold = asyncio.Event()  # /held answers only once this is set
        self.hold.set()
        self.served = 0

    def ref(self, path: str = "/tone.wav", size: int = len(TONE)) -> AttachmentRef:
        return AttachmentRef(url=f"{self.base}{path}", filename="tone.wav", size=size)


@pytest.fixture
async def cdn() -> AsyncIterator[AttachmentServer]:
    server = AttachmentServer()

    async def tone(request: web.Request) -> web.Response:
        server.served += 1
        return web.Response(body=TONE, content_type="audio/wav")

    async def held(request: web.Request) -> web.Response:
        await server.hold.wait()
        return await tone(request)

    app = web.Application()
    app.router.add_get("/tone.wav", tone)
    app.router.add_get("/held", held)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.base = f"http://{host}:{port}"
    try:
        yield server
    finally:
        server.hold.set()
        await runner.cleanup()


@pytest.fixture
def tracker() -> FakeTracker:
    return FakeTracker()


@pytest.fixture
async def make_intake(tmp_path: Path, cdn: AttachmentServer, tracker: FakeTracker):
    async with aiohttp.ClientSession() as session:

        def make(cap_bytes: int = 100 * MB, **spool: Any) -> Intake:
            audio = tmp_path / "audio"
            return Intake(
                session,
                tracker,  # type: ignore[arg-type]
                FakeQuota(),  # type: ignore[arg-type]
                audio_dir=audio,
                max_audio_bytes=10 * MB,
                spool=Spool(audio, cap_bytes=cap_bytes, **spool),
                attachment_origins={origin_of(cdn.base)},
            )

        yield make


async def settle(*pendings: PendingAudio) -> None:
    """Wait until every download has finished or was cancelled."""
    for pending in pendings:
        if pending.download:
            with contextlib.suppress(BaseException):
                await pending.download


def files(intake: Intake, tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "audio").iterdir())


async def sing(intake: Intake, pending: PendingAudio, lyrics: str = "la") -> Any:
    return await submit_song(intake, ORIGIN, pending, SongRequest(SING, "p", lyrics=lyrics))


# --- one open form per member per command --------------------------------------------------


async def test_forty_unsubmitted_forms_hold_one_download(
    make_intake, cdn: AttachmentServer, tracker: FakeTracker, tmp_path: Path
) -> None:
    intake = make_intake()
    pendings = [
        await intake.begin(1, kind=SING, attachment=cdn.ref(), audio_url=None) for _ in range(40)
    ]
    await settle(*pendings)
    [held] = files(intake, tmp_path)
    assert held == pendings[-1].path and held.suffix == ".wav"
    assert intake.open_forms() == 1
    assert intake.spool.held() == len(TONE)
    assert sum(1 for p in pendings if p.download and not p.download.cancelled()) <= 3

    # The older form answers that it was replaced and queues nothing; the newest works.
    with pytest.raises(FormClosed, match="newer `/sing` form after this one"):
        await sing(intake, pendings[0])
    assert tracker.submitted == []
    task = await sing(intake, pendings[-1])
    assert tracker.submitted == [(task.request, held)]
    assert intake.open_forms() == 0


async def test_forms_of_other_commands_and_members_are_their_own(
    make_intake, cdn: AttachmentServer, tmp_path: Path
) -> None:
    intake = make_intake()
    mine = await intake.begin(1, kind=SING, attachment=cdn.ref(), audio_url=None)
    my_inpaint = await intake.begin(1, kind=INPAINT, attachment=cdn.ref(), audio_url=None)
    theirs = await intake.begin(2, kind=SING, attachment=cdn.ref(), audio_url=None)
    await settle(mine, my_inpaint, theirs)
    assert len(files(intake, tmp_path)) == 3 and intake.open_forms() == 3
    # A form once submitted is no longer open: a new command replaces nothing of it.
    await sing(intake, mine)
    again = await intake.begin(1, kind=SING, attachment=None, audio_url="https://e.com/a.mp3")
    assert mine.path is not None and mine.path.exists()
    assert (await sing(intake, again)).id == 13


async def test_a_timed_out_form_drops_its_file_but_a_sent_one_keeps_it(
    make_intake, cdn: AttachmentServer, tmp_path: Path
) -> None:
    intake = make_intake()
    sent = await intake.begin(1, kind=SING, attachment=cdn.ref(), audio_url=None)
    forgotten = await intake.begin(2, kind=SING, attachment=cdn.ref(), audio_url=None)
    await settle(sent, forgotten)
    await sing(intake, sent)
    sent.abandon()  # the modal's timeout comes after a submit too: the task owns the file
    forgotten.abandon()
    assert files(intake, tmp_path) == [sent.path]
    assert intake.open_forms() == 0
    with pytest.raises(FormClosed, match="expired"):
        await sing(intake, forgotten)


# --- one submit per form ---------------------------------------------------------------------


async def test_a_form_sent_twice_makes_one_task(make_intake, tracker: FakeTracker) -> None:
    intake = make_intake()
    pending = await intake.begin(1, kind=SING, attachment=None, audio_url="https://e.com/a.mp3")
    task = await sing(intake, pending)
    with pytest.raises(FormClosed) as repeat:
        await sing(intake, pending, lyrics="other words")
    assert repeat.value.user_message == f"You already sent this form: song #{task.id}."
    assert len(tracker.submitted) == 1


async def test_a_form_sent_twice_at_once_makes_one_task(
    make_intake, cdn: AttachmentServer, tracker: FakeTracker
) -> None:
    intake = make_intake()
    pending = await intake.begin(1, kind=SING, attachment=cdn.ref(), audio_url=None)
    tracker.gate.clear()  # the first submit is still being queued when the second comes
    first = asyncio.create_task(sing(intake, pending))
    second = asyncio.create_task(sing(intake, pending))
    await asyncio.sleep(0.05)
    tracker.gate.set()
    task = await first
    with pytest.raises(FormClosed, match=f"already sent this form: song #{task.id}\\."):
        await second
    assert len(tracker.submitted) == 1


async def test_a_repeat_of_a_refused_form_repeats_the_refusal(
    make_intake, tracker: FakeTracker
) -> None:
    intake = make_intake()
    pending = await intake.begin(1, kind=SING, attachment=None, audio_url="https://e.com/a.mp3")
    with pytest.raises(Exception, match="lyrics can't be empty"):
        await sing(intake, pending, lyrics=" ")
    with pytest.raises(FormClosed, match="already sent this form, and I couldn't take it: The"):
        await sing(intake, pending, lyrics="la")
    assert tracker.submitted == []


async def test_a_file_picked_in_the_form_is_downloaded_at_its_one_submit(
    make_intake, cdn: AttachmentServer, tracker: FakeTracker, tmp_path: Path
) -> None:
    """A message menu on a message with several files: the form holds no audio until the
    member picks one; the first submit downloads it, a repeat answers with that song."""
    intake = make_intake()
    pending = PendingAudio()
    request = SongRequest(SING, "p", lyrics="la").request(ORIGIN, pending)
    tracker.gate.clear()
    first = asyncio.create_task(intake.submit(request, pending, fetch=cdn.ref()))
    second = asyncio.create_task(intake.submit(request, pending, fetch=cdn.ref()))
    await asyncio.sleep(0.05)
    tracker.gate.set()
    task = await first
    with pytest.raises(FormClosed, match=f"already sent this form: song #{task.id}\\."):
        await second
    [(queued, path)] = tracker.submitted
    assert cdn.served == 1 and path == pending.path and files(intake, tmp_path) == [path]
    assert (queued.audio_url, queued.audio_filename) == (None, "tone.wav")


async def test_a_picked_file_is_not_downloaded_for_a_member_out_of_songs(
    make_intake, cdn: AttachmentServer, tracker: FakeTracker, tmp_path: Path
) -> None:
    intake = make_intake()
    refused = QuotaExceeded("You've made all 1 of today's songs.")
    intake._quota.check = AsyncMock(side_effect=refused)
    pending = PendingAudio()
    request = SongRequest(SING, "p", lyrics="la").request(ORIGIN, pending)
    with pytest.raises(QuotaExceeded):
        await intake.submit(request, pending, fetch=cdn.ref())
    assert cdn.served == 0 and files(intake, tmp_path) == [] and intake.spool.held() == 0


# --- the global spool cap --------------------------------------------------------------------


async def test_uploads_past_the_spool_cap_are_refused_at_command_time(
    make_intake, cdn: AttachmentServer, tmp_path: Path
) -> None:
    clock = [0.0]
    intake = make_intake(cap_bytes=5 * MB, monotonic=lambda: clock[0])
    cdn.hold.clear()  # downloads in progress: held by their declared size
    first = await intake.begin(1, kind=SING, attachment=cdn.ref("/held", 3 * MB), audio_url=None)
    with pytest.raises(SpoolFull, match="I'm holding too much audio right now; try again"):
        await intake.begin(2, kind=SING, attachment=cdn.ref("/held", 3 * MB), audio_url=None)
    # A member's new form isn't refused for the bytes of the form it replaces.
    mine = await intake.begin(1, kind=SING, attachment=cdn.ref("/held", 4 * MB), audio_url=None)
    assert first.download is not None and first.download.cancelled() is False
    cdn.hold.set()
    await settle(first, mine)
    assert first.download.cancelled()
    # Files in the audio folder count too, whoever holds them (a queued task here).
    await sing(intake, mine)
    (tmp_path / "audio" / "queued.mp3").write_bytes(b"\0" * (5 * MB))
    clock[0] += 2  # the folder is scanned again after a second
    with pytest.raises(SpoolFull):
        await intake.begin(3, kind=SING, attachment=cdn.ref(), audio_url=None)


async def test_a_nearly_full_disk_refuses_before_downloading(
    make_intake, cdn: AttachmentServer
) -> None:
    free = {"bytes": 10 * MB}

    def usage(path: Path) -> Any:
        return SimpleNamespace(total=100 * MB, used=0, free=free["bytes"])

    intake = make_intake(disk_margin=8 * MB, disk_usage=usage)
    with pytest.raises(DiskFull, match="My disk is full, so I can't take audio right now"):
        await intake.begin(1, kind=SING, attachment=cdn.ref(size=3 * MB), audio_url=None)
    assert cdn.served == 0
    free["bytes"] = 20 * MB
    pending = await intake.begin(1, kind=SING, attachment=cdn.ref(), audio_url=None)
    await settle(pending)
    assert cdn.served == 1


# --- disk full -------------------------------------------------------------------------------


async def test_disk_full_while_downloading_is_said_plainly(
    make_intake, cdn: AttachmentServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    intake = make_intake()

    async def full(*args: Any, **kwargs: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("bot.core.songs.intake.download_to_file", full)
    pending = await intake.begin(1, kind=SING, attachment=cdn.ref(), audio_url=None)
    with pytest.raises(DiskFull) as refused:
        await sing(intake, pending)
    assert refused.value.user_message == (
        "My disk is full, so I can't take audio right now; nothing was charged."
    )
    assert files(intake, tmp_path) == [] and intake.spool.held() == 0


async def test_a_full_database_is_said_plainly(
    make_intake, cdn: AttachmentServer, tracker: FakeTracker, tmp_path: Path
) -> None:
    intake = make_intake()
    tracker.error = storage_error(sqlite3.OperationalError("database or disk is full"))
    pending = await intake.begin(1, kind=SING, attachment=cdn.ref(), audio_url=None)
    with pytest.raises(DiskFull, match="nothing was charged"):
        await sing(intake, pending)
    assert files(intake, tmp_path) == [] and intake.spool.held() == 0


# --- file modes ------------------------------------------------------------------------------


async def test_audio_files_and_their_folder_are_private(
    make_intake, cdn: AttachmentServer, tmp_path: Path
) -> None:
    (tmp_path / "audio").mkdir(mode=0o755)
    (tmp_path / "audio").chmod(0o755)  # as an older version left it
    intake = make_intake()
    assert (tmp_path / "audio").stat().st_mode & 0o777 == 0o700
    pending = await intake.begin(1, kind=SING, attachment=cdn.ref(), audio_url=None)
    await settle(pending)
    assert pending.path is not None and pending.path.stat().st_mode & 0o777 == 0o600


async def test_a_repeat_of_a_submit_cut_short_says_it_was_sent(
    make_intake, tracker: FakeTracker
) -> None:
    intake = make_intake()
    pending = await intake.begin(1, kind=SING, attachment=None, audio_url="https://e.com/a.mp3")
    tracker.gate.clear()
    first = asyncio.create_task(sing(intake, pending))
    await asyncio.sleep(0.01)
    first.cancel()  # the bot shutting down mid-submit
    with pytest.raises(FormClosed) as repeat:
        await sing(intake, pending)
    assert repeat.value.user_message == "You already sent this form."
    assert first.cancelled() and tracker.submitted == []
