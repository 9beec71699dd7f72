"""Figure 9: 👍 clicks on one result, 20 a second (issue 22).

One song is delivered; then ROUNDS rounds of CLICKS clicks on its 👍 buttons, one every
1/RATE s, each by another member (takes 1 and 2 alternately; the next round the same members
click again, so every vote is taken back, then counted again).

Acknowledgement: from the gateway send of the click's INTERACTION_CREATE to the start of the
bot's callback request at the Discord stand-in (the private one-line answer), as figure 1.
Final counts shown: from the last click's gateway send to the moment the stand-in's copy of
the message shows the round's final counts on its buttons (checked every 5 ms). Edits: the
PATCHes of the message per round.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

from bench.common import Row, Timing, World, ms, percentile, spread, wait_for, world
from tests.standins.discord import StoredMessage
from tests.support.world import request_song, wait_results_for, wait_status_of

RATE = 20.0  # clicks per second
CLICKS = 50  # per round: 2.5 s at RATE, so the last click falls between two edits
ROUNDS = 3
GOAL_ACK_P99 = 0.100
GOAL_SHOWN = 5.0


def vote_labels(message: StoredMessage) -> list[str]:
    return [
        str(c.get("label"))
        for row in message.components
        for c in row.get("components", [])
        if str(c.get("custom_id", "")).startswith("song:vote:")
    ]


def _expected(counts: tuple[int, int]) -> list[str]:
    return [f"Take {n} · 👍 {count}" for n, count in enumerate(counts, start=1)]


async def _round(
    w: World, t: Timing, message: StoredMessage, task_id: int, voted: bool
) -> dict[str, Any]:
    members = w.users[1 : CLICKS + 1]
    patch = re.compile(rf"/channels/\d+/messages/{message.id}$")
    edits_before = sum(1 for h in t.hits if h.method == "PATCH" and patch.search(h.path))

    async def click(n: int, user_id: int) -> int:
        await asyncio.sleep(n / RATE)
        ix = await w.dc.click(message, f"song:vote:{task_id}:{1 + n % 2}", user_id=user_id)
        await ix.wait_callback(timeout=10)
        return ix.id

    ids = await asyncio.gather(*(click(n, u.id) for n, u in enumerate(members)))
    last_sent = max(t.sent_at[i] for i in ids)
    half = CLICKS // 2
    final = _expected((0, 0) if voted else (half, half))
    await wait_for(
        lambda: vote_labels(w.dc.message(message.id)) == final, 30, "the final counts", every=0.005
    )
    shown = time.monotonic() - last_sent
    await asyncio.sleep(1.5)  # an edit still to come would be counted
    edits = sum(1 for h in t.hits if h.method == "PATCH" and patch.search(h.path)) - edits_before
    latencies = [t.callback_start(i) - t.sent_at[i] for i in ids]  # type: ignore[operator]
    return {"latencies": latencies, "shown": shown, "edits": edits}


async def measure(tmp: Path) -> list[Row]:
    async with world(tmp, users=CLICKS + 1, webhooks=True) as (w, t):
        task_id = await request_song(w, user=w.users[0])
        [result] = (await wait_results_for(w, [task_id], timeout=60))[task_id]
        await wait_status_of(w, task_id, "delivered")
        message = w.dc.message(result.id)
        rounds = [await _round(w, t, message, task_id, voted=r % 2 == 1) for r in range(ROUNDS)]
    latencies = [x for r in rounds for x in r["latencies"]]
    p99 = percentile(latencies, 99)
    shown = [r["shown"] for r in rounds]
    per_round = ", ".join(ms(percentile(r["latencies"], 99)) for r in rounds)
    how = (
        f"{ROUNDS} rounds of {CLICKS} clicks on one result, one every {ms(1 / RATE)}, each by "
        "another member (takes alternating; each round takes back the last one's votes); "
        "gateway send of the click to the start of the callback request"
    )
    return [
        Row(
            "9. Vote click acknowledgement (20 clicks/s, one message)",
            f"{spread(latencies)} (p99 per round: {per_round})",
            f"p99 < {ms(GOAL_ACK_P99)}",
            "-",
            how,
            met=p99 < GOAL_ACK_P99,
        ),
        Row(
            "9b. Final counts shown after the last click",
            f"{', '.join(ms(s) for s in shown)} per round; "
            f"{', '.join(str(r['edits']) for r in rounds)} edits of the message per round",
            f"< {GOAL_SHOWN:g} s",
            "-",
            "from the last click's gateway send until the stand-in's message shows the round's "
            "final counts on its buttons (polled every 5 ms)",
            met=max(shown) < GOAL_SHOWN,
        ),
    ]


if __name__ == "__main__":
    import tempfile

    async def _main() -> None:
        with tempfile.TemporaryDirectory(prefix="bench-votes-") as tmp:
            for row in await measure(Path(tmp)):
                print(f"{row.figure}: {row.measured} | goal {row.goal} | met {row.met}")

    asyncio.run(_main())
