"""Figure 4: from MusicGPT's completion webhook to the audio message being posted.

First one task on its own (the latency without a queue); then, three times, 50 users' tasks
are held at the MusicGPT stand-in until all 50 are submitted, then finished at random moments
within one second. For each task: from the stand-in's first webhook POST for it
(`WebhookDelivery.at`, taken just before the request is sent) to the moment the bot's result
message request (POST /channels/{id}/messages carrying "(request #N)") *starts* arriving at
the Discord stand-in, so the upload of the audio to Discord is not counted. The bot's
download of the two outputs from MusicGPT happens inside that span; it is timed at the
MusicGPT stand-in and also shown subtracted.

Settings, so that neither the poll budget nor the per-user limits bind:
MUSICGPT_POLLS_PER_MINUTE=60000 (polls at least 1 ms apart), MUSICGPT_MAX_PARALLEL=50,
USER_MAX_ACTIVE=50. Each output is a 2 s WAV (32 KB).
"""

from __future__ import annotations

import asyncio
import random
import re
from pathlib import Path
from typing import Any

from bench.common import (
    FIXTURES,
    Row,
    World,
    cpu_seconds,
    ms,
    percentile,
    problems_note,
    sing,
    spread,
    wait_for,
    world,
)
from tests.standins.musicgpt import HOLD

TASKS = 50
ROUNDS = 3
WINDOW = 1.0
GOAL_P99 = 0.25
SETTINGS = {
    "MUSICGPT_POLLS_PER_MINUTE": "60000",
    "MUSICGPT_MAX_PARALLEL": str(TASKS),
    "USER_MAX_ACTIVE": str(TASKS),
}
_REQUEST_MARK = re.compile(r"\(request #(\d+)\)")


def _delivered(w: World) -> int:
    return sum(1 for t in w.tasks() if t["status"] == "delivered")


async def _round(w: World, users: list[Any], audio: dict, rng: random.Random) -> float:
    """One round: every user asks once, all are held, then all finish within WINDOW.
    Returns the bot's CPU seconds from the first completion to the last delivery."""
    delivered = _delivered(w)
    held_before = set(w.mg.tasks)
    await asyncio.gather(*(sing(w, user, audio) for user in users))
    await wait_for(
        lambda: sum(1 for t in w.tasks() if t["status"] == "submitted") == len(users),
        60,
        "every task submitted",
        every=0.05,
    )
    await asyncio.sleep(1.0)  # let the status messages settle

    async def finish(task_id: str) -> None:
        await asyncio.sleep(rng.uniform(0, WINDOW))
        w.mg.complete_task(task_id)

    cpu_before = cpu_seconds(w.bot.pid)
    await asyncio.gather(*(finish(t) for t in list(w.mg.tasks) if t not in held_before))
    await wait_for(
        lambda: _delivered(w) == delivered + len(users), 60, "every task delivered", every=0.05
    )
    return cpu_seconds(w.bot.pid) - cpu_before


async def run(tmp: Path, seed: int = 4) -> dict[str, Any]:
    rng = random.Random(seed)
    async with world(
        tmp, users=TASKS + 1, webhooks=True, mg_options={"delay": HOLD}, **SETTINGS
    ) as w:
        audio = w.dc.add_attachment("beat.mp3", FIXTURES / "tone.mp3")
        # First one task on its own: the latency without a queue.
        alone, *users = w.users
        await _round(w, [alone], audio, rng)
        [lone_id] = list(w.mg.tasks)
        rounds: list[set[str]] = []
        bot_cpu = 0.0
        for _ in range(ROUNDS):
            before = set(w.mg.tasks)
            bot_cpu += await _round(w, users, audio, rng)
            rounds.append(set(w.mg.tasks) - before)
        rows = {t["id"]: t for t in w.tasks()}
        webhook_at: dict[str, float] = {}
        for delivery in w.mg.webhook_deliveries:
            webhook_at.setdefault(delivery.payload["task_id"], delivery.at)
        confirm_at: dict[str, float] = {}
        for record in w.mg.by_id_requests:
            task_id = record.query.get("task_id", "")
            if task_id in webhook_at and record.at >= webhook_at[task_id]:
                confirm_at.setdefault(task_id, record.at)
        downloads: dict[str, list[tuple[float, float]]] = {}
        conversion_owner = {c: t.task_id for t in w.mg.tasks.values() for c in t.conversion_ids}
        for name, start, end in w.mg.file_times:
            owner = conversion_owner.get(name.removesuffix(".wav"))
            if owner:
                downloads.setdefault(owner, []).append((start, end))
        spans = []
        for hit in w.dc.hits:
            record = hit.record
            if hit.method != "POST" or record is None or not str(record.path).endswith("/messages"):
                continue
            match = _REQUEST_MARK.search(str((record.json or {}).get("content", "")))
            if not match:
                continue
            musicgpt_id = rows[int(match.group(1))]["musicgpt_task_id"]
            start = webhook_at[musicgpt_id]
            fetched = downloads.get(musicgpt_id, [])
            fetch_time = (max(e for _, e in fetched) - min(s for s, _ in fetched)) if fetched else 0
            spans.append(
                {
                    "round": next((n for n, r in enumerate(rounds) if musicgpt_id in r), None),
                    "alone": musicgpt_id == lone_id,
                    "total": hit.start - start,
                    "to_confirm": confirm_at.get(musicgpt_id, hit.start) - start,
                    "fetch": fetch_time,
                }
            )
        return {"spans": spans, "problems": w.problems, "bot_cpu": bot_cpu}


async def measure(tmp: Path) -> list[Row]:
    result = await run(tmp)
    [lone] = [s for s in result["spans"] if s["alone"]]
    spans = [s for s in result["spans"] if not s["alone"]]
    total = [s["total"] for s in spans]
    per_round = ", ".join(
        ms(percentile([s["total"] for s in spans if s["round"] == n], 99)) for n in range(ROUNDS)
    )
    net = [s["total"] - s["fetch"] for s in spans]
    confirm = [s["to_confirm"] for s in spans]
    settings = ", ".join(f"{k}={v}" for k, v in SETTINGS.items())
    return [
        Row(
            f"4. Completion to post ({TASKS} tasks done within {WINDOW:g} s)",
            f"{spread(total)} (p99 per round: {per_round}); "
            f"without the output downloads: {spread(net)}; "
            f"webhook -> confirming byId: p50 {ms(sorted(confirm)[len(confirm) // 2])}, "
            f"p99 {ms(percentile(confirm, 99))}; one task alone: {ms(lone['total'])}",
            f"p99 < {ms(GOAL_P99)}",
            "-",
            "MusicGPT stand-in's webhook POST -> start of the bot's result POST at the Discord "
            f"stand-in (its upload excluded); {settings}; bot CPU over the whole completion "
            f"window: {result['bot_cpu'] / (TASKS * ROUNDS) * 1000:.0f} ms per task; "
            f"{ROUNDS} rounds of {TASKS}, pooled; before them one task alone"
            + problems_note(result["problems"]),
            met=percentile(total, 99) < GOAL_P99,
        )
    ]


if __name__ == "__main__":
    import tempfile

    async def _main() -> None:
        with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
            for row in await measure(Path(tmp)):
                print(f"{row.figure}: {row.measured}")

    asyncio.run(_main())
