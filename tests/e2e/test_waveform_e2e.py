"""Waveform pictures on inpaints' status messages, through the real bot process: from an
upload and from a Rewrite button, uploaded once however often the status changes after,
kept across a SIGKILL; none on a /sing, and a song that won't draw still gets sung."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.e2e.test_buttons_e2e import delivered_song, new_task_ids, private_answer, rewrite
from tests.standins.discord import StoredMessage
from tests.standins.discord.model import StoredAttachment
from tests.standins.musicgpt import HOLD, StandInTask
from tests.support.world import (
    RecordingServer,
    World,
    poll_until,
    status_message_of,
    stored,
    wait_status_of,
    wait_status_text,
    wait_task,
    world,
)

LIMITS = {"USER_MAX_ACTIVE": "10", "USER_DAILY_QUOTA": "20"}

# On PostgreSQL a queued upload is no file: its picture is drawn from the database.
pytestmark = pytest.mark.usefixtures("on_both_databases")


def picture_name(task_id: int) -> str:
    return f"waveform-{task_id}.png"


def picture_of(message: StoredMessage, task_id: int) -> StoredAttachment | None:
    found = [a for a in message.attachments if a.filename == picture_name(task_id)]
    assert len(found) <= 1, message.attachments
    return found[0] if found else None


async def wait_picture(w: World, task_id: int) -> StoredMessage:
    """The task's status message once it carries its waveform picture."""

    def check() -> StoredMessage | None:
        if stored(w, task_id).status_message_id is None:
            return None
        message = status_message_of(w, task_id)
        return message if picture_of(message, task_id) is not None else None

    try:
        found: StoredMessage = await w.dc.wait_until(check, 30, "the waveform picture")
    except TimeoutError as error:
        raise AssertionError(f"{error}\n{w.bot.log_text(6000)}") from error
    return found


def assert_shows_picture(message: StoredMessage, task_id: int) -> StoredAttachment:
    attachment = picture_of(message, task_id)
    assert attachment is not None, message.attachments
    image = Image.open(io.BytesIO(attachment.read()))
    image.load()  # decodes the whole PNG: a truncated file raises here
    assert image.format == "PNG"
    assert image.width >= 400
    assert message.embeds[0]["image"]["url"] == attachment.url
    return attachment


def uploads_of(w: World, task_id: int) -> int:
    """Requests to Discord that carried the task's picture as a file."""
    name = picture_name(task_id)
    return sum(
        1
        for request in w.dc.requests
        if request.kind == "rest" and any(part.filename == name for part in request.parts)
    )


async def inpaint_upload(w: World, *, start: str = "1", end: str = "2.5") -> int:
    before = {t.id for t in w.tasks()}
    ix = await w.dc.invoke_command(
        "inpaint",
        {
            "prompt": "gospel choir swell",
            "start": start,
            "end": end,
            "audio": w.attach("song.mp3", "tone.mp3"),
        },
        user_id=w.alice.id,
    )
    assert (await ix.wait_callback()).type == 9
    await ix.submit_modal({"New lyrics for the replaced part": "new"}, user_id=w.alice.id)

    def new_task() -> int | None:
        fresh = new_task_ids(w, before)
        return fresh[0] if fresh else None

    return int(await poll_until(new_task, 30, "the inpaint to be stored", every=0.05))


async def test_upload_inpaint_shows_its_waveform_once(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        w.mg.script_delays(HOLD)
        task_id = await inpaint_upload(w)
        message = await wait_picture(w, task_id)
        first = assert_shows_picture(message, task_id)
        edits_before = len(message.edits)
        # The status keeps changing after the picture came: finished, posted.
        [held] = await poll_until(lambda: list(w.mg.tasks), 30, "the submit")
        w.mg.complete_task(held)
        await wait_status_of(w, task_id, "delivered")
        final = await wait_picture(w, task_id)
        await wait_status_text(w, task_id, "Posted")
        assert len(final.edits) >= edits_before + 1
        again = assert_shows_picture(final, task_id)
        assert again.id == first.id  # the same attachment, kept by the edits
        assert uploads_of(w, task_id) == 1
        assert stored(w, task_id).waveform_state == "posted"
        # Final and posted: Discord keeps the picture, the bot's copy is gone.
        assert not (tmp_path / "waveforms" / picture_name(task_id)).exists()


async def test_rewrite_button_inpaint_shows_its_waveform(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        parent, result = await delivered_song(w, prompt="warm soul vocal", lyrics="la la la")
        before = {t.id for t in w.tasks()}
        submit = await rewrite(
            w,
            result,
            f"song:rewrite:{parent}:1",
            w.bob.id,
            {"Start": "0.5", "End": "1.5", "Style": "gospel choir"},
        )
        await private_answer(submit)
        [child] = new_task_ids(w, before)
        assert stored(w, child).audio_url  # MusicGPT's link to the take, not a file
        message = await wait_picture(w, child)
        assert_shows_picture(message, child)
        await wait_status_of(w, child, "delivered")
        assert uploads_of(w, child) == 1


async def test_sing_gets_no_picture(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        task_id, _ = await delivered_song(w)
        status = await wait_status_text(w, task_id, "Posted")
        assert status
        message = status_message_of(w, task_id)
        assert message.attachments == []
        assert "image" not in message.embeds[0]
        assert stored(w, task_id).waveform_state is None
        assert uploads_of(w, task_id) == 0


async def test_a_song_that_wont_draw_is_still_sung(tmp_path: Path) -> None:
    # The parent's takes are not audio at all: MusicGPT's link serves them, a Rewrite sends
    # the link as it is, and only the picture can't be drawn.
    garbage = b"this is not audio at all " * 400

    def outputs(task: StandInTask) -> list[bytes]:
        return [garbage] * len(task.conversion_ids)

    async with world(tmp_path, mg_options={"outputs": outputs}, **LIMITS) as w:
        parent, result = await delivered_song(w)
        before = {t.id for t in w.tasks()}
        submit = await rewrite(
            w,
            result,
            f"song:rewrite:{parent}:1",
            w.alice.id,
            {"Start": "0.5", "End": "1.5", "Style": "gospel choir"},
        )
        await private_answer(submit)
        [child] = new_task_ids(w, before)
        await wait_task(w, child, lambda r: r.waveform_state == "none", "no picture")
        await wait_status_of(w, child, "delivered")
        assert picture_of(status_message_of(w, child), child) is None
        assert uploads_of(w, child) == 0
        assert "no waveform for task" in w.bot.log_text(20000)


async def test_picture_survives_a_sigkill_and_is_not_uploaded_again(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        w.mg.script_delays(HOLD)
        task_id = await inpaint_upload(w)
        first = assert_shows_picture(await wait_picture(w, task_id), task_id)
        await wait_task(w, task_id, lambda r: r.waveform_state == "posted", "posted")
        [held] = await poll_until(lambda: list(w.mg.tasks), 30, "the submit")
        await w.restart_bot(kill=True)
        w.mg.complete_task(held)
        await wait_status_of(w, task_id, "delivered")
        await wait_status_text(w, task_id, "Posted")
        final = status_message_of(w, task_id)
        assert assert_shows_picture(final, task_id).id == first.id
        assert uploads_of(w, task_id) == 1


async def inpaint_link(w: World, url: str) -> int:
    before = {t.id for t in w.tasks()}
    ix = await w.dc.invoke_command(
        "inpaint",
        {"prompt": "opera", "start": "1", "end": "2", "audio_url": url},
        user_id=w.alice.id,
    )
    assert (await ix.wait_callback()).type == 9
    await ix.submit_modal({}, user_id=w.alice.id)

    def new_task() -> int | None:
        fresh = new_task_ids(w, before)
        return fresh[0] if fresh else None

    return int(await poll_until(new_task, 30, "the inpaint to be stored", every=0.05))


async def test_a_link_to_discords_cdn_gets_its_picture(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        w.mg.script_delays(HOLD)
        url = w.attach("song.mp3", "tone.mp3")["url"]
        task_id = await inpaint_link(w, url)
        assert_shows_picture(await wait_picture(w, task_id), task_id)
        [sent] = w.mg.submits
        assert sent.fields["audio_url"] == url  # MusicGPT still gets the link as it is


async def test_a_link_elsewhere_gets_no_picture_and_is_not_fetched(tmp_path: Path) -> None:
    async with RecordingServer() as trap, world(tmp_path, **LIMITS) as w:
        task_id = await inpaint_link(w, trap.url("/song.mp3"))
        await wait_task(w, task_id, lambda r: r.waveform_state == "none", "no picture")
        await wait_status_of(w, task_id, "delivered")
        assert picture_of(status_message_of(w, task_id), task_id) is None
        assert uploads_of(w, task_id) == 0
        assert trap.requests == []  # the bot never reached the member's host
