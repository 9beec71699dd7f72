"""`python -m playground`: the bot between the stand-ins, and a page to drive it by hand.

PLAYGROUND_PORT (default 8765) is the page's port on 127.0.0.1; Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from pathlib import Path

from playground.server import PlaygroundServer
from tests.support.world import world

# Slow enough to watch a status advance, quick enough to try things.
TASK_DELAY = 3.0


async def main() -> None:
    port = int(os.environ.get("PLAYGROUND_PORT", "8765"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with tempfile.TemporaryDirectory(prefix="playground-") as tmp:
        print("starting the stand-ins and the bot...", flush=True)
        try:
            async with world(
                Path(tmp),
                users=["alice", "bob"],
                moderators=["carol"],
                singers=["dave"],
                mg_options={"delay": TASK_DELAY, "eta": TASK_DELAY},
                log_level="INFO",
            ) as w:
                server = PlaygroundServer(w)
                await server.start(port)
                print(f"playground ready: http://127.0.0.1:{server.port}/", flush=True)
                print(f"bot log: {w.bot.log_path}", flush=True)
                await stop.wait()
                print("stopping...", flush=True)
                await server.stop()
        except AssertionError as error:
            # world() checks the bot's Discord requests at the end; report, don't trace.
            print(f"note at shutdown: {error}", file=sys.stderr, flush=True)
    print("stopped", flush=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
