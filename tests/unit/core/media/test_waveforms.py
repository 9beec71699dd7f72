"""bot.core.media.waveform_jobs: which audio an inpaint's picture is drawn from, and the picture's
states.

The store is real (a temporary SQLite file); the drawing is faked at its seam (`render=`),
so these tests say what is drawn from where, not how it looks (test_waveform.py does)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.core.config import origin_of
from bot.core.media.blobs import DatabaseAudio
from bot.core.media.waveform import WaveformFailed
from bot.core.media.waveform_jobs import Source, Waveforms, sources_for, wants_picture
from bot.core.media.worker import MediaWorker
from bot.core.models import (
    Output,
    Request,
    SubmitReceipt,
    Task,
    TaskKind,
    TaskStatus,
    WaveformState,
)
from bot.core.store import Store

CDN = "https://cdn.discordapp.com/attachments/1/2/song.mp3"
CDN_ORIGINS = frozenset({origin_of("https://cdn.discordapp.com")})
PNG = b"\x89PNG\r\n\x1a\n fake picture"


class FakeRender:
    """Records what it was asked to draw (the bytes of the file it got) and answers."""

    def __init__(self, answer: bytes | Exception = PNG) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, path: Path, **kwargs: Any) -> bytes:
        self.calls.append({"bytes": path.read_bytes(), **kwargs})
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with Store.open(tmp_path / "bot.db") as opened:
        yield opened


def inpaint(**changes: Any) -> Request:
    base = Request(
        TaskKind.INPAINT,
        user_id=1,
        guild_id=10,
        channel_id=20,
        prompt="choir",
        replace_start=1.0,
        replace_end=2.5,
    )
    return dataclasses.replace(base, **changes)


async def create(store: Store, request: Request, **kwargs: Any) -> Task:
    task = await store.create_task(request, now=1.0, daily_quota=99, max_active=99, **kwargs)
    assert isinstance(task, Task)
    return task


def make_waveforms(
    store: Store,
    tmp_path: Path,
    render: FakeRender,
    session: Any = None,
    origins: Any = None,
    blobs: DatabaseAudio | None = None,
) -> Waveforms:
    return Waveforms(
        store,
        tmp_path / "waveforms",
        session=session,
        worker=MediaWorker(),  # never started: the fake render doesn't use it
        inputs_dir=tmp_path / "inputs",
        max_bytes=1024 * 1024,
        allowed_origins=CDN_ORIGINS if origins is None else origins,
        render=render,
        blobs=blobs,
    )


async def fake_task(store: Store, **changes: Any) -> Task:
    """A task as the store returns it, with fields changed (for the pure functions)."""
    task = await create(store, inpaint())
    return dataclasses.replace(task, **changes)


# --- choosing the audio -----------------------------------------------------------------


async def test_sources_in_order_file_then_kept_input_then_link(store: Store) -> None:
    task = await fake_task(store, audio_path="/a/b.mp3", input_sha256="ab" * 32)
    assert sources_for(task, None, allowed_origins=CDN_ORIGINS) == [
        Source(path=Path("/a/b.mp3")),
        Source(kept="ab" * 32),
    ]


async def test_a_members_link_is_read_only_on_attachment_origins(store: Store) -> None:
    on_cdn = await fake_task(store, audio_url=CDN)
    assert sources_for(on_cdn, None, allowed_origins=CDN_ORIGINS) == [Source(url=CDN, guarded=True)]
    for url in ("http://127.0.0.1:8080/admin", "https://example.com/song.mp3", "http://x:99999/"):
        elsewhere = await fake_task(store, audio_url=url)
        assert sources_for(elsewhere, None, allowed_origins=CDN_ORIGINS) == []


async def test_a_rewrites_link_is_read_when_it_is_the_parents_take(store: Store) -> None:
    take = "https://musicgpt.example/files/take2.mp3"
    parent = await fake_task(
        store, outputs=(Output("https://musicgpt.example/files/take1.mp3"), Output(take))
    )
    child = await fake_task(store, audio_url=take, parent_task_id=parent.id, parent_output=2)
    assert sources_for(child, parent, allowed_origins=CDN_ORIGINS) == [Source(url=take)]
    # The same link claimed for another take, or with no parent, is a member's link.
    wrong_take = dataclasses.replace(child, parent_output=1)
    assert sources_for(wrong_take, parent, allowed_origins=CDN_ORIGINS) == []
    no_take = dataclasses.replace(child, parent_output=3)
    assert sources_for(no_take, parent, allowed_origins=CDN_ORIGINS) == []
    assert sources_for(child, None, allowed_origins=CDN_ORIGINS) == []


async def test_only_unfinished_inpaints_and_extends_with_no_picture_want_one(store: Store) -> None:
    task = await fake_task(store)
    assert wants_picture(task)
    assert not wants_picture(dataclasses.replace(task, kind=TaskKind.SING))
    assert wants_picture(dataclasses.replace(task, kind=TaskKind.EXTEND, replace_end=None))
    assert not wants_picture(dataclasses.replace(task, status=TaskStatus.DELIVERED))
    assert not wants_picture(dataclasses.replace(task, status=TaskStatus.CANCELLED))
    for state in WaveformState:
        assert not wants_picture(dataclasses.replace(task, waveform_state=state))
    assert wants_picture(dataclasses.replace(task, status=TaskStatus.SUBMITTED))


# --- making the picture -----------------------------------------------------------------


async def test_drawn_from_the_tasks_file_and_kept_private(store: Store, tmp_path: Path) -> None:
    song = tmp_path / "audio" / "x.mp3"
    song.parent.mkdir()
    song.write_bytes(b"the upload")
    task = await create(store, inpaint(), audio_path=str(song))
    render = FakeRender()
    waveforms = make_waveforms(store, tmp_path, render)
    assert await waveforms.make(task.id)
    [call] = render.calls
    assert call["bytes"] == b"the upload"
    assert (call["start"], call["end"], call["member"]) == (1.0, 2.5, None)
    picture = waveforms.path_for(task.id)
    assert picture.read_bytes() == PNG
    assert stat.S_IMODE(picture.stat().st_mode) == 0o600
    assert song.read_bytes() == b"the upload"  # the task's own file is untouched
    # Only the picture is left in the folder: the job's copy of the song went.
    assert [p.name for p in waveforms.directory.iterdir()] == [picture.name]
    fresh = await store.get_task(task.id)
    assert fresh is not None and fresh.waveform_state is WaveformState.READY
    assert await waveforms.picture(fresh) == picture
    assert not await waveforms.make(task.id)  # made once
    assert len(render.calls) == 1


async def test_the_kept_input_once_the_file_went(store: Store, tmp_path: Path) -> None:
    data = b"kept bytes"
    digest = hashlib.sha256(data).hexdigest()
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / f"{digest}.mp3").write_bytes(data)
    await store.put_input(digest, ".mp3", len(data), 1.0)
    gone = tmp_path / "audio" / "submitted.mp3"  # the dispatcher deleted it already
    task = await create(store, inpaint(), audio_path=str(gone), input_sha256=digest)
    render = FakeRender()
    assert await make_waveforms(store, tmp_path, render).make(task.id)
    assert [c["bytes"] for c in render.calls] == [data]
    assert (tmp_path / "inputs" / f"{digest}.mp3").read_bytes() == data


async def test_no_audio_to_read_means_no_picture(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    task = await create(store, inpaint(audio_url="http://127.0.0.1:1/secret"))
    render = FakeRender()
    with caplog.at_level(logging.INFO, "bot.core.media.waveform_jobs"):
        assert await make_waveforms(store, tmp_path, render).make(task.id)
    assert render.calls == []
    fresh = await store.get_task(task.id)
    assert fresh is not None and fresh.waveform_state is WaveformState.NONE
    assert [r.getMessage() for r in caplog.records] == [
        f"no waveform for task {task.id}: no copy of its audio I may read"
    ]


@pytest.mark.parametrize("error", [WaveformFailed("it may be damaged"), RuntimeError("bug")])
async def test_a_song_that_wont_draw_gets_none(
    store: Store, tmp_path: Path, error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    song = tmp_path / "song.mp3"
    song.write_bytes(b"noise")
    task = await create(store, inpaint(), audio_path=str(song))
    waveforms = make_waveforms(store, tmp_path, FakeRender(error))
    with caplog.at_level(logging.INFO, "bot.core.media.waveform_jobs"):
        assert await waveforms.make(task.id)  # never raises
    fresh = await store.get_task(task.id)
    assert fresh is not None and fresh.waveform_state is WaveformState.NONE
    assert list(waveforms.directory.iterdir()) == []
    assert len(caplog.records) == 1  # one line
    assert f"no waveform for task {task.id}" in caplog.records[0].getMessage()


async def test_a_sing_is_never_drawn(store: Store, tmp_path: Path) -> None:
    song = tmp_path / "song.mp3"
    song.write_bytes(b"beat")
    task = await create(store, inpaint(kind=TaskKind.SING), audio_path=str(song))
    render = FakeRender()
    assert not await make_waveforms(store, tmp_path, render).make(task.id)
    assert render.calls == []


async def test_posted_once_then_discarded_when_final(store: Store, tmp_path: Path) -> None:
    song = tmp_path / "song.mp3"
    song.write_bytes(b"beat")
    task = await create(store, inpaint(), audio_path=str(song))
    waveforms = make_waveforms(store, tmp_path, FakeRender())
    await waveforms.make(task.id)
    ready = await store.get_task(task.id)
    assert ready is not None
    await waveforms.posted(ready)
    posted = await store.get_task(task.id)
    assert posted is not None and posted.waveform_state is WaveformState.POSTED
    assert await waveforms.picture(posted) is None  # nothing more to upload
    assert not await store.set_waveform_state(task.id, WaveformState.POSTED, was=None)
    assert not await waveforms.discard_if_posted(task.id)  # still under way: kept
    assert waveforms.path_for(task.id).exists()
    await store.mark_failed(task.id, "boom", now=2.0)
    assert await waveforms.discard_if_posted(task.id)
    assert not waveforms.path_for(task.id).exists()


async def test_sweep_keeps_only_unfinished_tasks_pictures(store: Store, tmp_path: Path) -> None:
    waveforms = make_waveforms(store, tmp_path, FakeRender())
    running = await create(store, inpaint())
    finished = await create(store, inpaint())
    await store.mark_failed(finished.id, "boom", now=2.0)
    for name in (
        f"waveform-{running.id}.png",
        f"waveform-{finished.id}.png",
        f"waveform-{running.id}.png.part",  # a crash mid-write
        f"source-{running.id}-abc",  # a crash mid-drawing
        "waveform-999.png",  # no such task
    ):
        (waveforms.directory / name).write_bytes(b"x")
    assert await waveforms.sweep() == 4
    assert [p.name for p in waveforms.directory.iterdir()] == [f"waveform-{running.id}.png"]


@pytest.mark.postgres
async def test_on_postgres_one_process_draws_from_the_database_and_another_posts_it(
    postgres_url: str, tmp_path: Path
) -> None:
    """A queued upload on PostgreSQL is no file: the picture is drawn from its blob, and a
    process that didn't draw it (another folder) uploads it, from the database."""
    song = b"beat" * 1000
    source = tmp_path / "song.mp3"
    source.write_bytes(song)
    async with Store.open(postgres_url) as store_a, Store.open(postgres_url) as store_b:
        audio_a = DatabaseAudio(store_a, tmp_path / "a" / "audio")
        task = await create(store_a, inpaint(), input_sha256=await audio_a.hold(source))
        render = FakeRender()
        drawing = make_waveforms(store_a, tmp_path / "a", render, blobs=audio_a)
        assert await drawing.make(task.id)
        assert [call["bytes"] for call in render.calls] == [song]
        audio_b = DatabaseAudio(store_b, tmp_path / "b" / "audio")
        posting = make_waveforms(store_b, tmp_path / "b", FakeRender(), blobs=audio_b)
        ready = await store_b.get_task(task.id)
        assert ready is not None and ready.waveform_state is WaveformState.READY
        picture = await posting.picture(ready)
        assert picture == posting.path_for(task.id) and picture.read_bytes() == PNG
        assert stat.S_IMODE(picture.stat().st_mode) == 0o600
        await posting.posted(ready)
        assert not await posting.discard_if_posted(task.id)  # still under way
        assert await store_b.waveform_png(task.id) == PNG
        await store_b.mark_failed(task.id, "boom", now=2.0)
        assert await posting.discard_if_posted(task.id)
        assert await store_b.waveform_png(task.id) is None
        assert not picture.exists()


# --- links ------------------------------------------------------------------------------


async def test_a_parents_take_is_downloaded(store: Store, tmp_path: Path) -> None:
    async def take(request: web.Request) -> web.Response:
        return web.Response(body=b"the take", content_type="audio/wav")

    app = web.Application()
    app.router.add_get("/files/take.wav", take)
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        url = str(server.make_url("/files/take.wav"))
        parent = await create(store, inpaint())
        claimed = await store.claim_next_queued(1.0)
        assert claimed is not None and claimed.id == parent.id
        receipt = SubmitReceipt("mg", ("c",), None, None)
        await store.mark_submitted(parent.id, receipt, next_poll_at=9.0, now=1.0)
        await store.mark_completed(parent.id, (Output(url),), None, now=2.0)
        child = await create(
            store, inpaint(audio_url=url, parent_task_id=parent.id, parent_output=1)
        )
        render = FakeRender()
        assert await make_waveforms(store, tmp_path, render, session).make(child.id)
    assert [c["bytes"] for c in render.calls] == [b"the take"]


async def test_a_members_link_may_not_redirect_off_the_cdn(store: Store, tmp_path: Path) -> None:
    secrets: list[str] = []

    async def hop(request: web.Request) -> web.Response:
        # The same server under another name: another origin, which the link may not reach.
        raise web.HTTPFound(f"http://localhost:{request.url.port}/internal")

    async def internal(request: web.Request) -> web.Response:
        secrets.append(request.path)
        return web.Response(body=b"internal")

    app = web.Application()
    app.router.add_get("/song.mp3", hop)
    app.router.add_get("/internal", internal)
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        url = str(server.make_url("/song.mp3"))
        task = await create(store, inpaint(audio_url=url))
        render = FakeRender()
        waveforms = make_waveforms(store, tmp_path, render, session, frozenset({origin_of(url)}))
        assert await waveforms.make(task.id)
    assert render.calls == [] and secrets == []
    fresh = await store.get_task(task.id)
    assert fresh is not None and fresh.waveform_state is WaveformState.NONE
