"""What strangers can do at the bot's public edges, through the real bot: put hostile text in
a public message, leak a token through the log, tie up the webhook port, send broken
webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

import aiohttp

from tests.support.sockets import SLOW_HEAD, dribble
from tests.support.world import (
    request_song,
    results_for,
    status_message_of,
    wait_results_for,
    wait_status_of,
    wait_status_text,
    webhook_secret,
    world,
)

EVIL_LINK = "[Download your song here](http://evil.example)"
HOSTILE_PROMPT = f"\u202eboom\u202c {EVIL_LINK} @everyone <@&1> ||x|| # big" + "\u0336" * 60
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


async def test_a_hostile_prompt_shows_as_the_members_words(tmp_path: Path) -> None:
    async with world(tmp_path, webhooks=False) as w:
        task_id = await request_song(w, prompt=HOSTILE_PROMPT)
        await wait_status_text(w, task_id, "Posted 2 takes")
        status = status_message_of(w, task_id)
        fields = {f["name"]: f["value"] for f in status.embeds[0]["fields"]}
        assert fields["Asked by"] == f"<@{w.alice.id}>"
        prompt = fields["Prompt"]
        assert r"\[Download your song here\](http\://evil.example)" in prompt
        assert "\\|\\|x\\|\\|" in prompt and "\\<@&1\\>" in prompt
        assert "@everyone" not in prompt and not BIDI.search(prompt)
        assert prompt.count("\u0336") <= 4
        # The mention names the requester; neither the post nor any edit pinged anyone.
        assert status.notified.empty
        status_writes = [
            r.json
            for r in w.dc.requests
            if r.method in ("POST", "PATCH") and isinstance(r.json, dict) and r.json.get("embeds")
        ]
        assert len(status_writes) >= 2  # posted, then edited as it went
        assert all(j.get("allowed_mentions") == {"parse": []} for j in status_writes)
        [result] = results_for(w, task_id)
        assert result.notified.users == [w.alice.id] and not result.notified.mention_everyone
        assert not BIDI.search(result.content) and "evil" not in result.content


async def test_no_token_or_secret_in_a_debug_log_and_broken_webhooks_are_400s(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, log_level="DEBUG") as w:
        task_id = await request_song(w)
        await wait_results_for(w, [task_id])
        await wait_status_of(w, task_id, "delivered")
        secret = webhook_secret(w)
        base = f"http://127.0.0.1:{w.webhook_port}/musicgpt/{secret}"
        async with aiohttp.ClientSession() as session:
            for task in ["１", "١", "+1", "1_0", str(2**63)]:
                async with session.post(f"{base}/{task}", json={"status": "x"}) as response:
                    assert response.status == 404, task
            for body in [b"[" * 100_000, b"{", b"\xff"]:
                async with session.post(f"{base}/{task_id}", data=body) as response:
                    assert response.status == 400, body[:5]
        await w.bot.stop()
        text = w.bot.log_text()
        tokens = w.dc.interaction_tokens()
        assert len(tokens) >= 2  # the command and the modal submit
        for token in [*tokens, w.dc.token, w.mg.api_key, secret]:
            assert token not in text
        # The lines were there, at DEBUG, with the token taken out: discord.py's request log.
        assert re.search(r"/interactions/\d+/<redacted>/callback", text), text[-3000:]
        assert re.search(r"/webhooks/\d+/<redacted>", text)
        assert "Traceback" not in text


async def idle_after_a_response(port: int) -> float:
    """Ask /healthz on a kept-alive connection, then wait; how long until the server hangs up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: bot\r\n\r\n")
        await writer.drain()
        first = await reader.read(65536)
        assert first.startswith(b"HTTP/1.1 200"), first
        loop = asyncio.get_running_loop()
        answered = loop.time()
        with contextlib.suppress(ConnectionError):
            while await asyncio.wait_for(reader.read(65536), 30):
                pass
        return loop.time() - answered
    finally:
        writer.close()


async def test_dribbling_connections_are_cut_off_while_health_answers(tmp_path: Path) -> None:
    # WEBHOOK_HOST unset and no PUBLIC_BASE_URL: polling only, so only this machine may connect.
    async with world(tmp_path, webhooks=False, WEBHOOK_HOST="") as w:
        assert f"listening on 127.0.0.1:{w.webhook_port}" in w.bot.log_text()
        dribblers = [
            asyncio.ensure_future(dribble(w.webhook_port, SLOW_HEAD, 0.2)) for _ in range(50)
        ]
        idle = asyncio.ensure_future(idle_after_a_response(w.webhook_port))
        answered = 0
        while not all(d.done() for d in dribblers):
            status, _ = await w.healthz()  # within its 2 s timeout, every time
            assert status == 200
            answered += 1
            await asyncio.sleep(0.1)
        took = [d.result()[0] for d in dribblers]
        # HEAD_SECONDS is 5; without a bound they would dribble for ~550 bytes * 0.2 s = 110 s.
        assert max(took) < 5 + 3, took
        # KEEPALIVE_SECONDS is 5 (aiohttp's default: an hour).
        assert await asyncio.wait_for(idle, 30) < 5 + 3
        assert answered >= 10
        # And the bot still works.
        task_id = await request_song(w)
        await wait_results_for(w, [task_id])


async def test_polling_only_with_an_explicit_host_listens_there(tmp_path: Path) -> None:
    async with world(tmp_path, webhooks=False, WEBHOOK_HOST="0.0.0.0") as w:
        assert f"listening on 0.0.0.0:{w.webhook_port}" in w.bot.log_text()
        url = f"http://127.0.0.1:{w.webhook_port}/readyz"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            body = await response.json()
        # The lead wires the real disk check; until then the default says the disk is fine.
        assert (response.status, body["ok"], body["disk_ok"], body["failing"]) == (
            200,
            True,
            True,
            [],
        )
