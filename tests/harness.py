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

from tests.standins.discord import DiscordStandIn, GuildSpec, StoredMessage, UserSpec
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
        self.dc.reset_commands_synced() if hasattr(self.dc, "reset_commands_synced") else None
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
    mg_options: dict[str, Any] | None = None,
    **env_overrides: str,
) -> AsyncIterator[World]:
    port = free_port()
    options = {"api_key": MUSICGPT_KEY, "delay": 0.3, "eta": 1, **(mg_options or {})}
    async with (
        MusicGPTStandIn(**options) as mg,
        DiscordStandIn(
            guilds=[GuildSpec(premium_tier=premium_tier)],
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
