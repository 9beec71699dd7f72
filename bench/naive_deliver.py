"""The naive way to post finished songs, for the completion-to-post benchmark: NOT the bot.

A small serial deliverer: every MusicGPT webhook goes into one queue, and one worker takes
them one at a time: confirm with `byId`, edit the request's status message, download the
outputs, post them; only then the next webhook. It talks to Discord through discord.py's
HTTP client (no gateway) and to MusicGPT with aiohttp, like the bot. Configured by the same
environment variables as the bot: DISCORD_TOKEN, DISCORD_API_BASE, MUSICGPT_API_KEY,
MUSICGPT_API_BASE, WEBHOOK_HOST, WEBHOOK_PORT, PUBLIC_BASE_URL.

Intake is not what is measured, so it is as small as can be: `POST /request` with
`{"request": N, "channel_id": C, "user_id": U, "audio_url": URL}` posts a status message and
submits the task to MusicGPT (with `webhook_url` = PUBLIC_BASE_URL/webhook), answering
`{"task_id": ...}`. `GET /healthz` answers 200 once logged in to Discord.

    python -m bench.naive_deliver
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
from aiohttp import web


@dataclass
class Request:
    number: int
    channel_id: int
    user_id: int
    status_message_id: int


class NaiveDeliverer:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.api = env["MUSICGPT_API_BASE"].rstrip("/")
        self.headers = {"Authorization": env["MUSICGPT_API_KEY"]}
        self.client = discord.Client(intents=discord.Intents.none())
        self.session: aiohttp.ClientSession | None = None
        self.requests: dict[str, Request] = {}  # MusicGPT task id -> request
        self.done: set[str] = set()
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    # --- intake ------------------------------------------------------------------------

    async def handle_request(self, request: web.Request) -> web.Response:
        assert self.session is not None
        body = await request.json()
        channel = self.client.get_partial_messageable(int(body["channel_id"]))
        status = await channel.send(embed=_embed(body["request"], "Queued"))
        form = aiohttp.FormData(
            {
                "prompt": "warm soul vocal",
                "lyrics": "la la la",
                "audio_url": body["audio_url"],
                "webhook_url": f"{self.env['PUBLIC_BASE_URL']}/webhook",
            },
            default_to_multipart=True,
        )
        async with self.session.post(
            f"{self.api}/v1/sing_over_instrumental", data=form, headers=self.headers
        ) as response:
            answer = await response.json()
        if response.status != 200:
            return web.json_response(answer, status=response.status)
        task_id = answer["task_id"]
        self.requests[task_id] = Request(
            body["request"], int(body["channel_id"]), int(body["user_id"]), status.id
        )
        return web.json_response({"task_id": task_id})

    async def handle_webhook(self, request: web.Request) -> web.Response:
        await self.queue.put(await request.json())
        return web.Response(text="ok")

    async def handle_healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    # --- delivery, one webhook at a time ------------------------------------------------

    async def worker(self) -> None:
        while True:
            payload = await self.queue.get()
            try:
                await self.deliver(payload)
            except Exception as error:  # a benchmark's stand-in: keep going, say why
                print(f"delivery failed: {error!r}", flush=True)

    async def deliver(self, payload: dict[str, Any]) -> None:
        assert self.session is not None
        task_id = payload.get("task_id", "")
        request = self.requests.get(task_id)
        if request is None or task_id in self.done or payload.get("subtype"):
            return
        params = {"conversionType": "SING_OVER_INSTRUMENTAL", "task_id": task_id}
        async with self.session.get(
            f"{self.api}/v1/byId", params=params, headers=self.headers
        ) as response:
            conversion = (await response.json())["conversion"]
        if conversion["status"] != "COMPLETED":
            return
        channel = self.client.get_partial_messageable(request.channel_id)
        status = channel.get_partial_message(request.status_message_id)
        await status.edit(embed=_embed(request.number, "Finished: posting"))
        files = []
        for n in (1, 2):
            url = conversion.get(f"conversion_path_{n}")
            if not url:
                continue
            async with self.session.get(url) as response:
                data = await response.read()
            files.append(discord.File(io.BytesIO(data), filename=f"song-{request.number}-{n}.wav"))
        await channel.send(
            f"<@{request.user_id}> your song is ready! (song #{request.number})", files=files
        )
        self.done.add(task_id)

    # --- running ------------------------------------------------------------------------

    async def run(self) -> None:
        discord.http.Route.BASE = self.env["DISCORD_API_BASE"]
        self.session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_post("/request", self.handle_request)
        app.router.add_post("/webhook", self.handle_webhook)
        app.router.add_get("/healthz", self.handle_healthz)
        runner = web.AppRunner(app, access_log=None)
        try:
            await self.client.login(self.env["DISCORD_TOKEN"])
            await runner.setup()
            site = web.TCPSite(runner, self.env["WEBHOOK_HOST"], int(self.env["WEBHOOK_PORT"]))
            await site.start()
            await self.worker()
        finally:
            await runner.cleanup()
            await self.session.close()
            await self.client.close()


def _embed(number: int, text: str) -> discord.Embed:
    return discord.Embed(title=f"Song request #{number}", description=text)


def main() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(NaiveDeliverer(dict(os.environ)).run())


if __name__ == "__main__":
    main()
