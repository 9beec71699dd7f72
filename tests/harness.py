"""End-to-end harness: the real bot process (`python -m bot`) between the two stand-ins.

The bot is configured only through the environment variables the issues name, exactly as an
operator (or the acceptance suite) would; it never learns it is being tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.standins.discord import (
    ChannelSpec,
    DiscordStandIn,
    GuildSpec,
    StoredMessage,
    UserSpec,
)
from tests.standins.musicgpt import MusicGPTStandIn

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "audio"
MUSICGPT_KEY = "mg-test-key-do-not-log"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BotProcess:
    """`python -m bot` in a subprocess, its output kept for assertions and failure reports."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd
        self.output: list[str] = []
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=self.cwd,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for line in self._proc.stdout:
            self.output.append(line.decode(errors="replace").rstrip())

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    async def stop(self, *, kill: bool = False, timeout: float = 15) -> int | None:
        if self._proc is None:
            return None
        if self._proc.returncode is None:
            self._proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                await asyncio.wait_for(self._proc.wait(), timeout)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        if self._reader:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)
        return self._proc.returncode

    def log_text(self) -> str:
        return "\n".join(self.output)


@dataclass
class World:
    dc: DiscordStandIn
    mg: MusicGPTStandIn
    tmp: Path
    env: dict[str, str]
    bot: BotProcess
    webhook_port: int
    alice: UserSpec = field(init=False)
    bob: UserSpec = field(init=False)

    def __post_init__(self) -> None:
        self.alice = self.dc.user("alice")
        self.bob = self.dc.user("bob")

    @property
    def database(self) -> Path:
        return Path(self.env["DATABASE_PATH"])

    async def start_bot(self) -> None:
        self.bot = BotProcess(self.env, self.tmp)
        await self.bot.start()
        try:
            if "DEV_GUILD_ID" in self.env:  # a global sync happens only when commands change
                await self.dc.wait_commands_synced(self.dc.guild_id)
            await self.wait_healthy()
        except Exception as error:
            raise AssertionError(f"bot never became ready:\n{self.bot.log_text()}") from error

    async def healthz(self) -> tuple[int, dict[str, Any]]:
        url = f"http://127.0.0.1:{self.webhook_port}/healthz"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.status, await response.json()

    async def wait_healthy(self, timeout: float = 20) -> None:
        """Ready as the bot itself reports it: connected, database up (its /healthz)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                status, _ = await self.healthz()
                if status == 200:
                    return
            if loop.time() > deadline or self.bot.returncode is not None:
                raise TimeoutError("the bot's /healthz never said ready")
            await asyncio.sleep(0.05)

    async def restart_bot(self, *, kill: bool = True) -> None:
        await self.bot.stop(kill=kill)
        # Forget the first run's sync, so start_bot waits for the new process's own.
        self.dc.command_syncs.clear()
        await self.start_bot()

    def attach(self, name: str, fixture: str | None = None, data: bytes | None = None) -> dict:
        payload = data if data is not None else (FIXTURES / (fixture or name)).read_bytes()
        return self.dc.add_attachment(name, payload)

    def tasks(self) -> list[dict[str, Any]]:
        """The bot's task rows, read straight from its database."""
        with sqlite3.connect(self.database) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute("SELECT * FROM tasks ORDER BY id")]

    def channel_messages(self, predicate: Callable[[StoredMessage], bool]) -> list[StoredMessage]:
        return [m for m in self.dc.messages(include_ephemeral=False) if predicate(m)]

    def results(self) -> list[StoredMessage]:
        """Result posts: channel messages by the bot carrying audio or a download link."""
        return self.channel_messages(
            lambda m: m.author_id == self.dc.bot_user.id and "your song is ready" in m.content
        )

    def status_messages(self) -> list[StoredMessage]:
        return self.channel_messages(
            lambda m: m.author_id == self.dc.bot_user.id and bool(m.embeds)
        )

    async def wait_status(self, text: str, timeout: float = 30) -> StoredMessage:
        """The status message once its embed mentions `text`."""

        def find() -> StoredMessage | None:
            for message in self.status_messages():
                embed = message.embeds[0]
                if text in f"{embed.get('title', '')}\n{embed.get('description', '')}":
                    return message
            return None

        try:
            return await self.dc.wait_until(find, timeout, f"a status saying {text!r}")
        except Exception as error:
            raise AssertionError(f"no status {text!r}:\n{self.bot.log_text()[-6000:]}") from error

    async def wait_result(self, count: int = 1, timeout: float = 30) -> list[StoredMessage]:
        def enough() -> list[StoredMessage] | None:
            found = self.results()
            return found if len(found) >= count else None

        try:
            return await self.dc.wait_until(enough, timeout, f"{count} result message(s)")
        except Exception as error:
            raise AssertionError(f"no result posted:\n{self.bot.log_text()[-6000:]}") from error


def bot_env(
    dc: DiscordStandIn, mg: MusicGPTStandIn, tmp: Path, webhook_port: int, **overrides: str
) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "DISCORD_TOKEN": dc.token,
        "MUSICGPT_API_KEY": mg.api_key,
        "MUSICGPT_API_BASE": mg.base_url,
        "DISCORD_API_BASE": dc.api_base,
        "DISCORD_GATEWAY_URL": dc.gateway_url,
        "DEV_GUILD_ID": str(dc.guild_id),
        "DATABASE_PATH": str(tmp / "data" / "bot.sqlite3"),
        "WEBHOOK_HOST": "127.0.0.1",
        "WEBHOOK_PORT": str(webhook_port),
        "LOG_LEVEL": "DEBUG",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v != ""}


@contextlib.asynccontextmanager
async def world(
    tmp: Path,
    *,
    webhooks: bool = True,
    premium_tier: int = 0,
    channels: int = 1,
    mg_options: dict[str, Any] | None = None,
    **env_overrides: str,
) -> AsyncIterator[World]:
    port = free_port()
    options = {"api_key": MUSICGPT_KEY, "delay": 0.3, "eta": 1, **(mg_options or {})}
    async with (
        MusicGPTStandIn(**options) as mg,
        DiscordStandIn(
            guilds=[
                GuildSpec(
                    premium_tier=premium_tier,
                    channels=[
                        ChannelSpec(),
                        *(ChannelSpec(f"channel-{n}") for n in range(1, channels)),
                    ],
                )
            ],
            users=[UserSpec("alice"), UserSpec("bob")],
        ) as dc,
    ):
        if webhooks:
            env_overrides.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
        env = bot_env(dc, mg, tmp, port, **env_overrides)
        the_world = World(dc, mg, tmp, env, BotProcess(env, tmp), port)
        await the_world.start_bot()
        try:
            yield the_world
        finally:
            await the_world.bot.stop()


# --- helpers for the tracker's end-to-end tests (restarts, webhooks, polling, faults) --------


async def poll_until(
    check: Callable[[], Any], timeout: float = 30, what: str = "condition", every: float = 0.02
) -> Any:
    """`check()` once truthy, re-checked every `every` seconds: for state no stand-in announces
    (the bot's database, a stand-in's records). A wait on a condition, not a timed sleep."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if result:
            return result
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(every)


def task_row(w: World, task_id: int) -> dict[str, Any]:
    """One row of the bot's tasks table, read straight from its database."""
    with contextlib.closing(sqlite3.connect(w.database)) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
    assert row is not None, f"no task #{task_id} in the bot's database"
    return dict(row)


def quota_charge(w: World, task_id: int) -> dict[str, Any]:
    with contextlib.closing(sqlite3.connect(w.database)) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM quota_charges WHERE task_id = ?", (task_id,)).fetchone()
    assert row is not None, f"no quota charge for task #{task_id}"
    return dict(row)


def webhook_secret(w: World) -> str:
    """The secret path segment the bot keeps in its database (bot_values 'webhook_secret')."""
    with contextlib.closing(sqlite3.connect(w.database)) as db:
        row = db.execute("SELECT value FROM bot_values WHERE key = 'webhook_secret'").fetchone()
    assert row is not None, "the bot stored no webhook secret"
    return str(row[0])


async def wait_task(
    w: World, task_id: int, predicate: Callable[[dict[str, Any]], bool], what: str, timeout=30
) -> dict[str, Any]:
    """The task's row once `predicate(row)` holds."""

    def check() -> dict[str, Any] | None:
        row = task_row(w, task_id)
        return row if predicate(row) else None

    try:
        return await poll_until(check, timeout, f"task #{task_id}: {what}", every=0.05)
    except TimeoutError as error:
        raise AssertionError(
            f"{error}; row: {task_row(w, task_id)}\n{w.bot.log_text()[-6000:]}"
        ) from error


async def wait_status_of(w: World, task_id: int, status: str, timeout: float = 30) -> dict:
    return await wait_task(w, task_id, lambda r: r["status"] == status, status, timeout)


async def request_song(
    w: World,
    *,
    channel_id: int | None = None,
    user: UserSpec | None = None,
    prompt: str = "warm soul vocal",
    lyrics: str = "la la la",
) -> int:
    """/sing with an attachment, lyrics typed in the modal; the new request's id (task id).

    Waits only until the bot stored the task and posted its status message, not for the
    private confirmation (which waits up to 10 s for a queued task to go out).
    """
    user = user or w.alice
    before = {t["id"] for t in w.tasks()}
    attachment = w.attach("beat.mp3", "tone.mp3")
    ix = await w.dc.invoke_command(
        "sing", {"prompt": prompt, "audio": attachment}, user_id=user.id, channel_id=channel_id
    )
    callback = await ix.wait_callback()
    assert callback.type == 9, f"expected the lyrics modal, got {callback}"
    await ix.submit_modal({"Lyrics": lyrics}, user_id=user.id)

    def new_task() -> int | None:
        fresh = [t["id"] for t in w.tasks() if t["id"] not in before]
        return fresh[0] if fresh else None

    try:
        task_id = await poll_until(new_task, 30, "the request to be stored", every=0.05)
    except TimeoutError as error:
        raise AssertionError(f"{error}\n{w.bot.log_text()[-6000:]}") from error
    await wait_task(w, task_id, lambda r: r["status_message_id"] is not None, "a status message")
    return int(task_id)


def marker(task_id: int) -> str:
    """What every result message of a request carries (cogs.delivery.delivery_marker)."""
    return f"(request #{task_id})"


def results_for(w: World, task_id: int) -> list[StoredMessage]:
    """Result messages posted for one request."""
    return [m for m in w.results() if marker(task_id) in m.content]


async def wait_results_for(
    w: World, task_ids: list[int], timeout: float = 45
) -> dict[int, list[StoredMessage]]:
    """Once every request in `task_ids` has at least one result message; all of them by id."""

    def check() -> dict[int, list[StoredMessage]] | None:
        found = {t: results_for(w, t) for t in task_ids}
        return found if all(found.values()) else None

    try:
        return await w.dc.wait_until(check, timeout, f"results for requests {task_ids}")
    except TimeoutError as error:
        raise AssertionError(f"{error}\n{w.bot.log_text()[-8000:]}") from error


def status_message_of(w: World, task_id: int) -> StoredMessage:
    message_id = task_row(w, task_id)["status_message_id"]
    assert message_id is not None, f"task #{task_id} has no status message"
    return w.dc.message(int(message_id))


def embed_text(message: StoredMessage) -> str:
    embed = message.embeds[0] if message.embeds else {}
    return f"{embed.get('title', '')}\n{embed.get('description', '')}"


async def wait_status_text(w: World, task_id: int, text: str, timeout: float = 30) -> str:
    """The task's own status message once its embed says `text`."""

    def check() -> str | None:
        rendered = embed_text(status_message_of(w, task_id))
        return rendered if text in rendered else None

    try:
        return await w.dc.wait_until(check, timeout, f"request #{task_id}'s status: {text!r}")
    except TimeoutError as error:
        current = embed_text(status_message_of(w, task_id))
        raise AssertionError(
            f"{error}\nstatus now: {current!r}\n{w.bot.log_text()[-6000:]}"
        ) from error


def status_messages_for(w: World, task_id: int) -> list[StoredMessage]:
    """Every status message (embed) the bot posted for one request: there should be one."""
    title_end = f"request #{task_id}"
    return [m for m in w.status_messages() if m.embeds[0].get("title", "").endswith(title_end)]


class DatabaseLock:
    """Holds SQLite's write lock on the bot's database (BEGIN IMMEDIATE) from the test.

    While held, the bot's next write blocks (its busy_timeout is 5 s), so a test can freeze
    the bot between an action and recording it, e.g. after Discord stored a result message
    but before the bot marked the task delivered, and kill it right there. Reads still work
    (WAL), for the bot and through `rows()`.
    """

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row

    async def __aenter__(self) -> DatabaseLock:
        await asyncio.to_thread(self._db.execute, "BEGIN IMMEDIATE")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self._db.execute, "ROLLBACK")
        self._db.close()

    def rows(self) -> dict[int, dict[str, Any]]:
        return {r["id"]: dict(r) for r in self._db.execute("SELECT * FROM tasks")}


class RecordingServer:
    """A local HTTP server that answers anything with a tiny MP3-looking body and records
    every request: a trap for URLs that must never be fetched."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _any(self, request: web.Request) -> web.Response:
        self.requests.append(f"{request.method} {request.path_qs}")
        return web.Response(body=b"ID3" + b"\0" * 64, content_type="audio/mpeg")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def __aenter__(self) -> RecordingServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._any)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def busiest_minute(times: list[float], window: float = 60.0) -> int:
    """The most of `times` (seconds, any origin) falling in any `window`-second span."""
    ordered = sorted(times)
    best = 0
    start = 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best
