"""/extend and the Extend buttons end to end: the song goes on after a point in it, from an
attachment, a link or one take of a result, through the real bot between the stand-ins."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.standins.discord.api import InteractionHandle
from tests.support import state
from tests.support.env import FIXTURES
from tests.support.world import (
    World,
    poll_until,
    results_for,
    status_message_of,
    wait_results_for,
    wait_status_of,
    wait_status_text,
    world,
)

LIMITS = {"USER_MAX_ACTIVE": "10", "USER_DAILY_QUOTA": "20"}
SONG = "long30.mp3"  # 30 s
SONG_SECONDS = 30.0


async def private_answer(ix: InteractionHandle) -> str:
    """What the bot answered privately: at once (4) or after thinking (5)."""
    callback = await ix.wait_callback()
    if callback.type == 4:
        assert callback.data is not None and callback.data.get("flags", 0) & 64, callback
        return str(callback.data["content"])
    assert callback.type == 5, callback
    [answer] = await ix.wait_followups(1, timeout=30)
    assert answer.ephemeral
    return answer.content


def new_task_ids(w: World, before: set[int]) -> list[int]:
    return [t.id for t in w.tasks() if t.id not in before]


async def song_link(w: World) -> str:
    """A link to a song a member posted in the chat (a file on Discord's CDN)."""
    message = await w.post_member_file("song.mp3", SONG)
    return message.attachments[0].url


@pytest.mark.parametrize(("source", "after"), [("audio", "0:10.5"), ("audio_url", None)])
async def test_extend_sends_the_song_and_where_the_new_part_starts(
    tmp_path: Path, source: str, after: str | None
) -> None:
    async with world(tmp_path, **LIMITS) as w:
        options: dict[str, Any] = {"prompt": "a big final chorus", "gender": "female"}
        if source == "audio":
            options["audio"] = w.attach("song.mp3", SONG)
        else:
            options["audio_url"] = await song_link(w)
        if after is not None:
            options["after"] = after
        ix = await w.dc.invoke_command("extend", options, user_id=w.alice.id)
        assert (await ix.wait_callback()).type == 9
        [field] = ix.modal_fields()
        assert field.label is not None and "lyrics" in field.label.lower()
        assert not field.required and field.max_length == 2000
        submit = await ix.submit_modal({field.label: "and on we go"}, user_id=w.alice.id)
        answer = await private_answer(submit)
        [task] = await poll_until(lambda: new_task_ids(w, set()), 10, "the task")
        assert f"song #{task}" in answer.lower()
        [result] = (await wait_results_for(w, [task]))[task]

        [sent] = w.mg.submits
        assert sent.endpoint == "extend"
        # The very bytes of the song, also behind a link (downloaded, measured, sent).
        assert sent.upload is not None and "audio_url" not in sent.fields
        expected = hashlib.sha256((FIXTURES / SONG).read_bytes()).hexdigest()
        assert sent.upload.sha256 == expected
        if after is not None:
            assert float(sent.fields["extend_after"]) == 10.5
        else:  # left out: the song's measured end
            assert abs(float(sent.fields["extend_after"]) - SONG_SECONDS) <= 0.5
        assert sent.fields["prompt"] == "a big final chorus"
        assert sent.fields["lyrics"] == "and on we go"
        assert sent.fields["gender"] == "female"
        expected_takes = w.mg.output_bytes(sent.task_id)
        assert sorted(result.files.values()) == sorted(expected_takes)
        stored = state.task(w.database, task)
        assert stored.kind == "extend" and stored.user_id == w.alice.id
        assert stored.quota_day is not None and not stored.quota_refunded
        await wait_status_text(w, task, "Posted")
        status = status_message_of(w, task)
        shown = {f["name"]: f["value"] for f in status.embeds[0]["fields"]}
        assert shown["New part from"].startswith(after or "0:30")  # measured: 0:30.2
        # The waveform picture, shaded from where the new part starts.
        assert f"waveform-{task}.png" in [a.filename for a in status.attachments]


async def test_a_link_elsewhere_goes_to_musicgpt_as_it_is_with_after(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        url = "http://127.0.0.1:9/song.mp3"  # not a host the bot fetches (nor anyone: closed)
        ix = await w.dc.invoke_command(
            "extend", {"prompt": "outro", "audio_url": url, "after": "1:15"}, user_id=w.alice.id
        )
        assert (await ix.wait_callback()).type == 9
        await private_answer(await ix.submit_modal({}, user_id=w.alice.id))
        [sent] = await poll_until(lambda: w.mg.submits or None, 10, "the submit")
        assert sent.endpoint == "extend" and sent.upload is None
        assert sent.fields["audio_url"] == url
        assert float(sent.fields["extend_after"]) == 75
        assert "lyrics" not in sent.fields


@pytest.mark.parametrize("after", ["1:75", "soon", "-3"])
async def test_an_after_that_isnt_a_time_is_refused_at_once(tmp_path: Path, after: str) -> None:
    async with world(tmp_path, **LIMITS) as w:
        ix = await w.dc.invoke_command(
            "extend",
            {"prompt": "x", "after": after, "audio": w.attach("song.mp3", SONG)},
            user_id=w.alice.id,
        )
        answer = await private_answer(ix)
        assert "`after`" in answer
        assert ix.modal is None
        assert w.tasks() == [] and w.mg.submits == []  # nothing stored, so nothing charged


async def test_refusals_past_the_end_and_a_link_it_cant_measure_charge_nothing(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, **LIMITS) as w:
        # Past the end of the song: known once the file is measured, before the charge.
        for options in (
            {"audio": w.attach("song.mp3", SONG), "after": "0:45"},
            {"audio_url": await song_link(w), "after": "31"},
        ):
            ix = await w.dc.invoke_command("extend", {"prompt": "x", **options}, user_id=w.alice.id)
            assert (await ix.wait_callback()).type == 9
            answer = await private_answer(await ix.submit_modal({}, user_id=w.alice.id))
            assert "0:30" in answer and "Nothing was charged" in answer, answer
        # A link elsewhere goes to MusicGPT as it is: without `after`, nothing to start from.
        ix = await w.dc.invoke_command(
            "extend",
            {"prompt": "x", "audio_url": "https://example.com/song.mp3"},
            user_id=w.alice.id,
        )
        answer = await private_answer(ix)
        assert "`after`" in answer and ix.modal is None
        assert w.tasks() == [] and w.mg.submits == []  # nothing stored, so nothing charged


async def test_extend_take_2_of_a_result(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        ix = await w.dc.invoke_command(
            "sing",
            {"prompt": "warm soul", "audio": w.attach("beat.mp3", "tone.mp3"), "gender": "male"},
            user_id=w.alice.id,
        )
        assert (await ix.wait_callback()).type == 9
        await ix.submit_modal({"Lyrics": "la la la"}, user_id=w.alice.id)
        [parent] = await poll_until(lambda: new_task_ids(w, set()), 10, "the song")
        [posted] = (await wait_results_for(w, [parent]))[parent]
        await wait_status_of(w, parent, "delivered")
        result = w.dc.message(posted.id)
        labels = [c.get("label") for row in result.components for c in row["components"]]
        assert "Extend 1" in labels and "Extend 2" in labels
        take_2 = state.task(w.database, parent).outputs[1]
        assert take_2.duration == 2.5

        # Bob extends take 2 from 0:01.5.
        before = {t.id for t in w.tasks()}
        click = await w.dc.click(result, f"song:extend:{parent}:2", user_id=w.bob.id)
        assert (await click.wait_callback()).type == 9
        fields = {f.label: f for f in click.modal_fields()}
        assert list(fields) == ["After", "Style", "Lyrics"]
        assert fields["After"].value == "0:02.5" and not fields["After"].required
        assert fields["Style"].required and not fields["Lyrics"].required
        submit = await click.submit_modal(
            {"After": "0:01.5", "Style": "folk", "Lyrics": "the next verse"}, user_id=w.bob.id
        )
        answer = await private_answer(submit)
        [child] = new_task_ids(w, before)
        assert f"song #{child}" in answer.lower()
        [child_post] = (await wait_results_for(w, [child]))[child]
        sung, sent = w.mg.submits
        assert sent.endpoint == "extend" and sent.upload is None
        assert sent.fields["audio_url"] == take_2.audio_url  # exactly as MusicGPT gave it
        assert float(sent.fields["extend_after"]) == 1.5
        assert sent.fields["gender"] == sung.fields["gender"] == "male"
        assert sent.fields["prompt"] == "folk" and sent.fields["lyrics"] == "the next verse"
        stored = state.task(w.database, child)
        assert (stored.kind, stored.parent_task_id, stored.parent_output, stored.user_id) == (
            "extend",
            parent,
            2,
            w.bob.id,
        )
        assert stored.quota_day is not None  # charged to Bob, who clicked
        lineage = f"Extension of #{parent} take 2 from 0:01.5"
        assert lineage in child_post.content
        assert child_post.channel_id == result.channel_id
        assert results_for(w, child) == [child_post]
        assert lineage in await wait_status_text(w, child, "Posted")

        # After left as prefilled: the take's length; past the end: refused, nothing charged.
        before = {t.id for t in w.tasks()}
        click = await w.dc.click(result, f"song:extend:{parent}:2", user_id=w.bob.id)
        assert (await click.wait_callback()).type == 9
        past = await click.submit_modal({"After": "0:04", "Style": "folk"}, user_id=w.bob.id)
        assert "past the end of take 2" in await private_answer(past)
        assert new_task_ids(w, before) == [] and len(w.mg.submits) == 2
        click = await w.dc.click(result, f"song:extend:{parent}:2", user_id=w.alice.id)
        assert (await click.wait_callback()).type == 9
        await private_answer(await click.submit_modal({"Style": "folk"}, user_id=w.alice.id))
        [end] = new_task_ids(w, before)
        await wait_results_for(w, [end])
        assert abs(float(w.mg.submits[-1].fields["extend_after"]) - 2.5) <= 0.05
        assert f"Extension of #{parent} take 2 from 0:02.5" in results_for(w, end)[0].content
