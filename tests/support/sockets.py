"""Raw-socket clients for testing the bot's HTTP server's bounds: what aiohttp's client won't
do (send a request's head a byte at a time, hold a connection open)."""

from __future__ import annotations

import asyncio
import contextlib

# A webhook request's head padded long enough that dribbling it takes a while.
SLOW_HEAD = b"POST /musicgpt/x/1 HTTP/1.1\r\nHost: bot\r\nX-Pad: " + b"a" * 500 + b"\r\n\r\n"


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            received += chunk
    return received


async def dribble(port: int, head: bytes, every: float) -> tuple[float, bytes]:
    """Send `head` a byte at a time until the server hangs up; how long it took, and what
    the server said."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    closed = asyncio.ensure_future(read_until_closed(reader))
    try:
        for byte in head:
            if closed.done():
                break
            with contextlib.suppress(ConnectionError):
                writer.write(bytes([byte]))
                await writer.drain()
            await asyncio.wait([closed], timeout=every)
        said = await asyncio.wait_for(closed, 30)
        return loop.time() - started, said
    finally:
        writer.close()
