"""The status renderer and an inpaint's waveform picture: drawn in the background from the
first show, uploaded with exactly one send or edit, named (not uploaded) by every edit after,
and sent again only with a status message that had to be posted anew."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import discord

from bot.core.media.waveform_jobs import Waveforms
from bot.core.media.worker import MediaWorker
from bot.core.models import Request, SubmitReceipt, Task, TaskKind, WaveformState
from bot.core.store import Store
from bot.core.tracker.events import TaskEvents
from bot.discord.songs.status import StatusRenderer

PNG = b"\x89PNG\r\n\x1a\n picture"


class Channel:
    """Records each send and edit: its embed's image and the files it uploaded."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.deleted: set[int] = set()
        self._ids = iter(range(500, 600))

    async def history(self, **_: Any) -> Any:
        nothing: tuple[Any, ...] = ()
        for message in nothing:
            yield message

    def _record(self, kind: str, message_id: int, embed: discord.Embed, files: list[Any]) -> None:
        self.calls.append(
            {
                "kind": kind,
                "id": message_id,
                "image": embed.image.url,
                "files": [(f.filename, f.fp.read()) for f in files],
            }
        )

    async def send(self, *, embed: discord.Embed, file: Any = None, **_: Any) -> Any:
        message_id = next(self._ids)
        self._record("send", message_id, embed, [file] if file else [])
        return SimpleNamespace(id=message_id)

    def get_partial_message(self, message_id: int) -> Any:
        channel = self

        class Partial:
            async def edit(self, *, embed: discord.Embed, **kwargs: Any) -> None:
                if message_id in channel.deleted:
                    response = SimpleNamespace(status=404, reason="Not Found")
                    raise discord.NotFound(response, {"code": 10008, "message": "Unknown"})
                channel._record("edit", message_id, embed, kwargs.get("attachments", []))

        return Partial()


class Render:
    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.calls = 0

    async def __call__(self, path: Path, **_: Any) -> bytes:
        self.calls += 1
        await self.go.wait()
        return PNG


async def ready() -> None:
    return None


async def english(guild_id: int | None) -> str | None:
    return None


def renderer_for(
    store: Store, tmp_path: Path, channel: Channel
) -> tuple[StatusRenderer, Waveforms, Render]:
    render = Render()
    waveforms = Waveforms(
        store,
        tmp_path / "waveforms",
        session=None,  # type: ignore[arg-type]  # no links in these tests
        worker=MediaWorker(),
        inputs_dir=tmp_path / "inputs",
        max_bytes=1 << 20,
        allowed_origins=frozenset(),
        render=render,
    )
    idle = asyncio.Event()
    idle.set()
    bot = SimpleNamespace(
        store=store,
        tracker=SimpleNamespace(events=TaskEvents(), delivery=SimpleNamespace(idle=idle)),
        wait_until_ready=ready,
        public_locale=english,
        channel_for=lambda task: channel,
        status_channel_for=lambda task: channel,
        waveforms=waveforms,
        user=SimpleNamespace(id=99),
    )
    return StatusRenderer(bot), waveforms, render  # type: ignore[arg-type]


async def inpaint(store: Store, tmp_path: Path, kind: TaskKind = TaskKind.INPAINT) -> Task:
    song = tmp_path / f"song-{kind}.mp3"
    song.write_bytes(b"song")
    request = Request(kind, 1, 10, 20, "choir", replace_start=1.0, replace_end=2.0)
    task = await store.create_task(
        request, now=1.0, daily_quota=9, max_active=9, audio_path=str(song)
    )
    assert isinstance(task, Task)
    return task


async def settle(renderer: StatusRenderer) -> None:
    for _ in range(1000):
        if not renderer._drawing:
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the waveform job never finished")


async def state_of(store: Store, task_id: int) -> WaveformState | None:
    task = await store.get_task(task_id)
    assert task is not None
    return task.waveform_state


async def test_uploaded_once_when_it_arrives_and_named_by_every_edit_after(
    store: Store, tmp_path: Path
) -> None:
    channel = Channel()
    renderer, waveforms, render = renderer_for(store, tmp_path, channel)
    task = await inpaint(store, tmp_path)
    name = f"waveform-{task.id}.png"
    await renderer.render_now(task.id)  # the status goes out at once, the picture is being drawn
    assert channel.calls == [{"kind": "send", "id": 500, "image": None, "files": []}]
    for _ in range(1000):
        if render.calls:
            break
        await asyncio.sleep(0.001)
    assert render.calls == 1 and len(channel.calls) == 1  # drawing, status already out
    render.go.set()
    await settle(renderer)
    assert await state_of(store, task.id) is WaveformState.READY
    assert renderer.bot.tracker.events.pending() == 1  # the picture is a change
    await renderer.render_now(task.id)
    assert channel.calls[1] == {
        "kind": "edit",
        "id": 500,
        "image": f"attachment://{name}",
        "files": [(name, PNG)],
    }
    assert await state_of(store, task.id) is WaveformState.POSTED
    await renderer.render_now(task.id)  # nothing changed: no edit
    assert len(channel.calls) == 2
    await store.claim_next_queued(2.0)
    await renderer.render_now(task.id)
    await store.mark_submitted(
        task.id, SubmitReceipt("mg", ("c",), 60, 1.0), next_poll_at=9.0, now=3.0
    )
    await renderer.render_now(task.id)
    later = channel.calls[2:]
    assert len(later) == 2
    assert all(c["files"] == [] and c["image"] == f"attachment://{name}" for c in later)
    assert render.calls == 1
    # Final: Discord keeps the picture; the bot's copy goes.
    assert waveforms.path_for(task.id).exists()
    await store.mark_failed(task.id, "boom", now=4.0)
    await renderer.render_now(task.id)
    assert channel.calls[-1]["files"] == [] and channel.calls[-1]["image"]
    assert not waveforms.path_for(task.id).exists()


async def test_a_picture_ready_before_the_first_send_goes_with_it(
    store: Store, tmp_path: Path
) -> None:
    channel = Channel()
    renderer, waveforms, render = renderer_for(store, tmp_path, channel)
    render.go.set()
    task = await inpaint(store, tmp_path)
    assert await waveforms.make(task.id)
    await renderer.render_now(task.id)
    name = f"waveform-{task.id}.png"
    assert channel.calls == [
        {"kind": "send", "id": 500, "image": f"attachment://{name}", "files": [(name, PNG)]}
    ]
    assert render.calls == 1  # not drawn again
    # The status message was deleted: the new one carries the picture again.
    channel.deleted.add(500)
    await store.claim_next_queued(2.0)
    await renderer.render_now(task.id)
    assert channel.calls[-1] == {
        "kind": "send",
        "id": 501,
        "image": f"attachment://{name}",
        "files": [(name, PNG)],
    }


async def test_a_sing_is_not_drawn(store: Store, tmp_path: Path) -> None:
    channel = Channel()
    renderer, _, render = renderer_for(store, tmp_path, channel)
    task = await inpaint(store, tmp_path, TaskKind.SING)
    await renderer.render_now(task.id)
    assert render.calls == 0 and not renderer._drawing
    assert channel.calls == [{"kind": "send", "id": 500, "image": None, "files": []}]
