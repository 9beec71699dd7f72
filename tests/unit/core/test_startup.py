"""What the owner reads when the bot can't start, and how it spaces its retries."""

from __future__ import annotations

import errno
import logging
import sqlite3
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.core.startup import (
    Backoff,
    DiscordUnreachable,
    StartupFailure,
    database_problem,
    port_problem,
    probe_discord,
)
from bot.core.store.sqlite import storage_error
from bot.discord.connection import ReconnectLines


def test_backoff_doubles_up_to_its_cap_and_resets() -> None:
    backoff = Backoff(first=1, cap=60)
    assert [backoff.next() for _ in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    backoff.reset()
    assert backoff.next() == 1


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (
            storage_error(sqlite3.DatabaseError("file is not a database")),
            "is not an SQLite database",
        ),
        (PermissionError(errno.EACCES, "Permission denied"), "permission denied"),
        (
            storage_error(sqlite3.OperationalError("attempt to write a readonly database")),
            "permission denied",
        ),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory"), "(not a directory)"),
        (OSError(errno.ENOSPC, "No space left on device"), "the disk is full"),
    ],
)
def test_database_problems_name_the_setting_and_the_fix(error: Exception, says: str) -> None:
    failure = database_problem(Path("/srv/bot/bot.sqlite3"), error)
    assert failure.exit_code == 2
    text = str(failure)
    assert text.startswith("DATABASE_PATH /srv/bot/bot.sqlite3") and says in text
    assert "\n" not in text


@pytest.mark.parametrize("webhooks", [True, False])
def test_a_taken_port_names_it(webhooks: bool) -> None:
    taken = OSError(errno.EADDRINUSE, "Address in use")
    failure = port_problem("0.0.0.0", 8080, taken, webhooks=webhooks)
    assert "WEBHOOK_PORT 8080 on 0.0.0.0: address already in use" in str(failure)
    assert ("PUBLIC_BASE_URL" in str(failure)) is webhooks
    assert failure.exit_code == 2


async def _serve(status: int) -> tuple[web.AppRunner, str]:
    async def me(request: web.Request) -> web.Response:
        return web.json_response({"id": "1"}, status=status)

    app = web.Application()
    app.router.add_get("/api/users/@me", me)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/api"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, None), (401, StartupFailure), (502, DiscordUnreachable), (429, DiscordUnreachable)],
)
async def test_the_probe_tells_a_bad_token_from_an_outage(
    status: int, outcome: type[Exception] | None
) -> None:
    runner, base = await _serve(status)
    try:
        async with aiohttp.ClientSession() as session:
            if outcome is None:
                await probe_discord(session, base, "token")
            else:
                with pytest.raises(outcome):
                    await probe_discord(session, base, "token")
    finally:
        await runner.cleanup()


class _Client:
    def __init__(self, ws: object | None) -> None:
        self.ws = ws


def _reconnect_record() -> logging.LogRecord:
    try:
        raise aiohttp.ClientConnectionError("Cannot connect to host gateway.discord.gg:443")
    except aiohttp.ClientConnectionError:
        exc_info = sys.exc_info()
    return logging.LogRecord(
        "discord.client",
        logging.ERROR,
        __file__,
        1,
        "Attempting a reconnect in %.2fs",
        (1.5,),
        exc_info,
    )


def test_discord_reconnect_tracebacks_become_one_line() -> None:
    record = _reconnect_record()
    assert ReconnectLines(_Client(ws=object())).filter(record)  # type: ignore[arg-type]
    text = logging.Formatter("%(levelname)s %(message)s").format(record)
    assert text == (
        "WARNING lost the connection to Discord (ClientConnectionError: Cannot connect to host "
        "gateway.discord.gg:443); reconnecting in 1.5 s"
    )


def test_before_the_first_connection_the_bot_says_it_itself() -> None:
    # discord.py's loop dies right after this record (issue #10520); connect_and_stay logs.
    assert not ReconnectLines(_Client(ws=None)).filter(_reconnect_record())  # type: ignore[arg-type]
