"""`python -m playground`: the bot between the stand-ins, and a page to drive it by hand.

PLAYGROUND_PORT (default 8765) is the page's port on 127.0.0.1; Ctrl-C stops everything.
A port that can't be used is one line and exit status 2, before anything starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import sys
import tempfile
from pathlib import Path

from playground.server import PlaygroundServer
from tests.support.world import world

# Slow enough to watch a status advance, quick enough to try things.
TASK_DELAY = 3.0


class PortProblem(Exception):
    """PLAYGROUND_PORT can't be used; the message is the whole story."""


def listen(setting: str) -> socket.socket:
    """A socket listening on 127.0.0.1 at PLAYGROUND_PORT's value (bound before the bot and
    the stand-ins start, so a taken port costs nothing)."""
    try:
        port = int(setting)
        if not 0 <= port <= 65535:
            raise ValueError(port)
    except ValueError:
        raise PortProblem(f"PLAYGROUND_PORT {setting!r} is not a port number (0-65535)") from None
    sock = socket.socket()
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            why = "is taken by another program: stop it, or set PLAYGROUND_PORT to a free port"
        elif error.errno == errno.EACCES:
            why = "needs privileges this user lacks: use a port above 1023"
        else:
            why = f"can't be used ({os.strerror(error.errno or 0).lower() or error})"
        raise PortProblem(f"PLAYGROUND_PORT {port} on 127.0.0.1 {why}") from None
    sock.setblocking(False)
    return sock


async def main() -> int:
    try:
        sock = listen(os.environ.get("PLAYGROUND_PORT", "8765"))
    except PortProblem as problem:
        print(problem, file=sys.stderr, flush=True)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with sock, tempfile.TemporaryDirectory(prefix="playground-") as tmp:
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
                await server.start(sock)
                print(f"playground ready: http://127.0.0.1:{server.port}/", flush=True)
                print(f"bot log: {w.bot.log_path}", flush=True)
                await stop.wait()
                print("stopping...", flush=True)
                await server.stop()
        except AssertionError as error:
            # world() checks the bot's Discord requests at the end; report, don't trace.
            print(f"note at shutdown: {error}", file=sys.stderr, flush=True)
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main()))
