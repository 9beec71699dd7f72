"""The webhook receiver of the real bot: repeats, disorder, wrong paths, forgeries, /healthz.

MusicGPT signs nothing, so a webhook is only a hint that makes its task due for a confirming
`byId` poll; these tests send what a stranger could and check nothing is fetched or posted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from tests.standins.musicgpt import HOLD
from tests.support.world import (
    RecordingServer,
    World,
    mg_id,
    poll_until,
    request_song,
    results_for,
    status_messages_for,
    stored,
    wait_results_for,
    wait_status_of,
    wait_status_text,
    webhook_secret,
    world,
)

LIMITS = {"USER_MAX_ACTIVE": "10", "USER_DAILY_QUOTA": "20"}
WEBHOOK_GRACE = 30.0  # TrackerConfig.webhook_grace: with webhooks, the first poll waits this


async def post(w: World, path: str, body: Any) -> tuple[int, str]:
    url = f"http://127.0.0.1:{w.webhook_port}{path}"
    kwargs = {"data": body} if isinstance(body, bytes | str) else {"json": body}
    async with aiohttp.ClientSession() as session, session.post(url, **kwargs) as response:
        return response.status, await response.text()


async def test_every_webhook_twice_and_out_of_order_delivers_once(tmp_path: Path) -> None:
    options = {"webhook_repeat": 2, "webhook_shuffle": True, "seed": 4, "delay": 1.0}
    async with world(tmp_path, mg_options=options, MUSICGPT_MAX_PARALLEL="3", **LIMITS) as w:
        mg = w.mg
        # The second request's submit answer is held 3 s, so its webhooks (the task takes 1 s)
        # arrive before the bot has stored the MusicGPT task id.
        first = await request_song(w, prompt="first")
        mg.faults.add("submit", "slow", seconds=3.0)
        second = await request_song(w, prompt="second")
        results = await wait_results_for(w, [first, second], timeout=WEBHOOK_GRACE - 5)
        shuffled: list[bool] = []

        for task_id in (first, second):
            assert len(results[task_id]) == 1
            assert len(results_for(w, task_id)) == 1
            row = await wait_status_of(w, task_id, "delivered")
            assert row.webhook_seen == 1
            await wait_status_text(w, task_id, "Posted 2 takes")
            assert len(status_messages_for(w, task_id)) == 1
            mg_task = mg_id(row)
            sent = [d for d in mg.webhook_deliveries if d.payload.get("task_id") == mg_task]
            # 2 conversions + 1 lyrics_timestamped, each sent twice, all accepted.
            assert len(sent) == 6 and all(d.status == 200 for d in sent)
            keys = [(d.payload["conversion_id"], d.payload.get("subtype")) for d in sent]
            in_order = [k for k in dict.fromkeys(keys) for _ in range(2)]
            shuffled.append(keys != in_order)
            assert sorted(results[task_id][0].files.values()) == sorted(mg.output_bytes(mg_task))
            # Each webhook burst led to one confirming byId (with no webhook the first poll
            # would come only after the 30 s grace), not one per delivery.
            polls = [r for r in mg.by_id_requests if r.query.get("task_id") == mg_task]
            assert 1 <= len(polls) <= 2, polls
        assert any(shuffled)  # (seeded: the stand-in really sent them out of order)
        # Webhooks for the held submit came while the bot still had it as "submitting".
        [held] = [s for s in mg.submits if s.fields.get("prompt") == "second"]
        first_hook = min(
            d.at for d in mg.webhook_deliveries if d.payload.get("task_id") == held.task_id
        )
        assert first_hook < held.at + 3.0
        assert len(mg.submits) == 2


async def test_wrong_path_and_forged_payloads_change_nothing(tmp_path: Path) -> None:
    async with world(tmp_path, **LIMITS) as w, RecordingServer() as trap:
        mg = w.mg
        # /healthz on the same port: Discord connected, database answering, MusicGPT not
        # failing (nothing asked yet counts as reachable).
        status, health = await w.healthz()
        assert status == 200 and health["ok"] is True
        assert health["discord_connected"] is True
        assert health["database_ok"] is True
        assert health["musicgpt_reachable"] is True
        mg.script_delays(HOLD)
        task_id = await request_song(w)
        row = await wait_status_of(w, task_id, "submitted")
        mg_task = mg_id(row)
        secret = webhook_secret(w)
        assert len(secret) >= 32
        assert secret in mg.submits[0].fields["webhook_url"]
        trap_url = trap.url("/evil.mp3")
        forged = {
            "task_id": mg_task,
            "conversion_id": row.conversion_ids[0],
            "status": "COMPLETED",
            "conversion_type": "Sing Over Instrumental",
            "conversion_path": trap_url,
            "conversion_path_wav": trap_url,
            "audio_url": trap_url,
            "conversion_duration": 12.0,
            "title": "forged",
        }
        polls_before = len(mg.by_id_requests)

        # Wrong secret paths: 404, and not even a note in the database.
        wrong = [
            f"/musicgpt/{'x' * len(secret)}/{task_id}",
            f"/musicgpt/{secret[:-1]}/{task_id}",
            f"/musicgpt/{secret}x/{task_id}",
            f"/musicgpt//{task_id}",
            f"/musicgpt/{secret}",
            f"/{secret}/{task_id}",
        ]
        for path in wrong:
            status, _ = await post(w, path, forged)
            assert status == 404, path
        # Right path, but not JSON, or naming another MusicGPT task: refused or ignored.
        assert (await post(w, f"/musicgpt/{secret}/{task_id}", b"not json"))[0] == 400
        other = {**forged, "task_id": "task-someone-else"}
        assert (await post(w, f"/musicgpt/{secret}/{task_id}", other))[0] == 200
        assert (await post(w, f"/musicgpt/{secret}/999999", forged))[0] == 200
        after = stored(w, task_id)
        assert after.webhook_seen == 0 and after.next_poll_at == row.next_poll_at
        assert after.status == "submitted"
        assert len(mg.by_id_requests) == polls_before

        # The forged payload on the right path: only a hint. The bot asks byId, which says the
        # task is still running, and fetches nothing from the payload's URLs.
        status, _ = await post(w, f"/musicgpt/{secret}/{task_id}", forged)
        assert status == 200
        await poll_until(
            lambda: stored(w, task_id).poll_count > row.poll_count,
            30,
            "the confirming byId poll to be processed",
        )
        confirm = [r for r in mg.by_id_requests[polls_before:] if r.query.get("task_id")]
        assert confirm and confirm[0].query["task_id"] == mg_task
        assert stored(w, task_id).status == "submitted"
        assert trap.requests == []
        assert results_for(w, task_id) == []

        # The real completion is delivered, with MusicGPT's files, once; the trap stays empty.
        mg.complete_task(mg_task)
        [result] = (await wait_results_for(w, [task_id]))[task_id]
        await wait_status_text(w, task_id, "Posted 2 takes")
        assert sorted(result.files.values()) == sorted(mg.output_bytes(mg_task))
        assert "forged" not in result.content and trap_url not in result.content
        assert trap.requests == []
        assert len(results_for(w, task_id)) == 1
        status, health = await w.healthz()
        assert status == 200 and health["musicgpt_last_contact"] is not None
