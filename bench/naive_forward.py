"""The naive way to forward attachments to MusicGPT, for the memory benchmark: NOT the bot.

Reads each attachment whole into memory (`await response.read()`), checks it from the bytes,
and posts it to MusicGPT's sing endpoint as a bytes field. Driven over stdin/stdout so the
parent can take /proc readings at the right moments:

    python -m bench.naive_forward MUSICGPT_BASE API_KEY WARMUP_URL
    -> prints "ready" after a warm-up upload
    <- a line of space-separated attachment URLs (all forwarded at once)
    -> prints "done N" once MusicGPT accepted N of them
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp
import filetype


async def forward(session: aiohttp.ClientSession, base: str, key: str, url: str) -> bool:
    async with session.get(url) as response:
        response.raise_for_status()
        data = await response.read()
    if filetype.guess_extension(data[:8192]) is None:
        return False
    form = aiohttp.FormData()
    form.add_field("prompt", "warm soul vocal")
    form.add_field("lyrics", "la la la")
    form.add_field("audio_file", data, filename="instrumental.wav", content_type="audio/wav")
    async with session.post(
        f"{base}/v1/sing_over_instrumental", data=form, headers={"Authorization": key}
    ) as answer:
        return answer.status == 200


async def main(base: str, key: str, warmup_url: str) -> None:
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as session:
        await forward(session, base, key, warmup_url)
        print("ready", flush=True)
        line = await loop.run_in_executor(None, sys.stdin.readline)
        urls = line.split()
        results = await asyncio.gather(*(forward(session, base, key, u) for u in urls))
        print(f"done {sum(results)}", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)  # stay alive until measured


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
