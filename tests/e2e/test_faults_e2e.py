"""MusicGPT and Discord failing in the ways the issue lists: still delivered once, or a clear
failure with the song not counted against the quota."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from bot.core.songs.progress import REFUNDED
from tests.standins.musicgpt import HOLD
from tests.support.world import (
    World,
    marker,
    mg_id,
    request_song,
    results_for,
    status_messages_for,
    stored,
    wait_results_for,
    wait_status_of,
    wait_status_text,
    world,
)

LIMITS = {"USER_MAX_ACTIVE": "10", "USER_DAILY_QUOTA": "20"}


def posts_for(w: World, task_id: int) -> list:
    """The bot's POSTs of a request's result to the channel, whatever Discord answered."""
    return [
        r
        for r in w.dc.find_requests("POST", route="/channels/{channel_id}/messages")
        if marker(task_id) in ((r.json or {}).get("content") or "")
    ]


def output_urls(w: World, mg_task: str) -> list[str]:
    return [f"{w.mg.origin}/files/{o.file_name}" for o in w.mg.task(mg_task).outputs]


async def wait_health(w: World, check: Callable[[int, dict], bool], timeout: float = 30) -> dict:
    """/readyz's body once `check(status, body)` holds (it is re-read every 50 ms)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        with contextlib.suppress(aiohttp.ClientError):
            status, body = await w.healthz()
            if check(status, body):
                return body
        if loop.time() > deadline:
            raise AssertionError(f"/readyz never satisfied the check\n{w.bot.log_text(4000)}")
        await asyncio.sleep(0.05)


async def test_musicgpt_429_500_and_dropped_answers_still_deliver(tmp_path: Path) -> None:
    async with world(tmp_path, webhooks=False, **LIMITS) as w:
        mg = w.mg
        mg.faults.add("submit", "rate_limit", retry_after=1)
        mg.faults.add("byId", "server_error")
        mg.faults.add("byId", "rate_limit", retry_after=1)
        mg.faults.add("byId", "drop")  # connection closed without an answer
        mg.faults.add("byId", "unavailable", count=None)  # 503 until cleared
        task_id = await request_song(w)

        # One whole status check failed (the client tried 4 times): that is not an outage
        # yet, so /readyz stays 200 and only counts it.
        body = await wait_health(w, lambda _, b: b["musicgpt_consecutive_failures"] >= 1)
        assert body["ok"] is True and body["musicgpt_reachable"] is True, body
        assert stored(w, task_id).status == "submitted"
        mg.faults.clear()
        [result] = (await wait_results_for(w, [task_id]))[task_id]
        await wait_status_text(w, task_id, "Posted 2 takes")
        await wait_health(w, lambda status, b: status == 200 and b["musicgpt_last_contact"])

        # The 429'd submit waited in the queue for its Retry-After, then went once.
        assert [s.status for s in mg.submits] == [429, 200]
        assert mg.submits[1].at - mg.submits[0].at >= 1.0
        mg_task = mg.submits[1].task_id
        polls = [p for p in mg.by_id_requests if p.query.get("task_id") == mg_task]
        statuses = [p.status for p in polls]
        # The 429 was not retried at once: the poll came back later, within the budget.
        assert statuses[:3] == [500, 429, None] and statuses[-1] == 200, statuses
        assert polls[2].at - polls[1].at >= 1.0  # Retry-After honoured by the poll budget
        assert set(statuses[3:-1]) == {503}, statuses
        assert sorted(result.files.values()) == sorted(mg.output_bytes(mg_task))
        assert len(results_for(w, task_id)) == 1


async def test_discord_429_and_5xx_on_the_result_post_deliver_once(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        mg, dc = w.mg, w.dc
        mg.script_delays(HOLD)
        task_id = await request_song(w)
        row = await wait_status_of(w, task_id, "submitted")
        # Status messages exist by now (later changes are edits), so these hit the result.
        path = r"/channels/\d+/messages$"
        dc.faults.add("POST", path, 429, count=1, retry_after=0.3)
        dc.faults.add("POST", path, 500, count=1)
        dc.faults.add("POST", path, 502, count=1)
        mg.complete_task(mg_id(row))

        [result] = (await wait_results_for(w, [task_id]))[task_id]
        await wait_status_text(w, task_id, "Posted 2 takes")
        assert [r.status for r in posts_for(w, task_id)] == [429, 500, 502, 200]
        assert sorted(result.files.values()) == sorted(mg.output_bytes(mg_id(row)))
        assert len(results_for(w, task_id)) == 1
        assert len(status_messages_for(w, task_id)) == 1


async def test_upload_too_large_falls_back_to_links(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        mg, dc = w.mg, w.dc
        mg.script_delays(HOLD)
        task_id = await request_song(w)
        row = await wait_status_of(w, task_id, "submitted")
        dc.faults.add("POST", r"/channels/\d+/messages$", 413, count=1)
        mg.complete_task(mg_id(row))

        [result] = (await wait_results_for(w, [task_id]))[task_id]
        await wait_status_text(w, task_id, "Posted 2 takes")
        posts = posts_for(w, task_id)
        assert [r.status for r in posts] == [413, 200]
        assert len(posts[0].files) == 2 and posts[1].files == []
        assert result.attachments == []
        for url in output_urls(w, mg_id(row)):
            assert f"<{url}>" in result.content
        assert len(results_for(w, task_id)) == 1


@pytest.mark.parametrize("failures", [1, None])  # once: retried; for good: linked
async def test_result_file_download_failure_is_retried_then_linked(
    tmp_path: Path, failures: int | None
) -> None:
    async with world(tmp_path, **LIMITS) as w:
        mg = w.mg
        mg.script_delays(HOLD)
        task_id = await request_song(w)
        row = await wait_status_of(w, task_id, "submitted")
        mg_task = mg_id(row)
        mg.faults.add("files", "server_error", count=failures)
        mg.complete_task(mg_task)

        [result] = (await wait_results_for(w, [task_id]))[task_id]
        await wait_status_text(w, task_id, "Posted 2 takes")
        urls = output_urls(w, mg_task)
        attached = sorted(result.files.values())
        if failures == 1:
            # The one failed download was tried again: both versions attached, no links.
            assert attached == sorted(mg.output_bytes(mg_task))
            assert not any(f"<{url}>" in result.content for url in urls)
            assert len(mg.file_requests) == 3
        else:
            # It never worked: nothing is lost, every version is posted as a link.
            assert attached == []
            assert all(f"<{url}>" in result.content for url in urls)
        assert len(results_for(w, task_id)) == 1


async def test_discord_refusing_the_post_fails_clearly_with_a_refund(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w:
        mg = w.mg
        mg.script_delays(HOLD)
        task_id = await request_song(w)
        row = await wait_status_of(w, task_id, "submitted")
        w.dc.faults.add("POST", r"/channels/\d+/messages$", 403, count=None)
        mg.complete_task(mg_id(row))

        text = await wait_status_text(w, task_id, "not allowed to post")
        assert text.count(REFUNDED) == 1, text  # once, though the error text once said it too
        assert (await wait_status_of(w, task_id, "failed")).error
        assert stored(w, task_id).quota_refunded
        assert results_for(w, task_id) == []


async def test_musicgpt_failures_are_explained_and_refunded(tmp_path: Path) -> None:
    async with world(tmp_path, USER_DAILY_QUOTA="3") as w:
        mg = w.mg
        # MusicGPT runs the task and reports FAILED (webhook, then the confirming byId).
        mg.fail_next_task("The vocals could not be generated")
        failed = await request_song(w, prompt="will fail at MusicGPT")
        text = await wait_status_text(w, failed, "The vocals could not be generated")
        assert "MusicGPT couldn't make this song: The vocals could not be generated." in text
        assert text.count(REFUNDED) == 1, text

        # A submit answered with 500 may have been accepted: never retried, refunded.
        mg.faults.add("submit", "server_error")
        uncertain = await request_song(w, prompt="uncertain submit")
        text = await wait_status_text(w, uncertain, "didn't confirm")
        assert text.count(REFUNDED) == 1, text
        assert len(mg.submits) == 2  # the 500 was not retried

        for task_id in (failed, uncertain):
            row = await wait_status_of(w, task_id, "failed")
            assert row.error
            assert stored(w, task_id).quota_refunded
            assert results_for(w, task_id) == []
            assert len(status_messages_for(w, task_id)) == 1

        ix = await w.dc.invoke_command("quota", {}, user_id=w.alice.id)
        reply = (await ix.wait_callback()).data["content"]
        assert "**3 of 3**" in reply, reply
