"""The real bot (`python -m bot`) between the two stand-ins, and what tests ask of it.

    async with world(tmp_path, webhooks=False, USER_DAILY_QUOTA="3") as w:
        task_id = await request_song(w)
        await wait_status_of(w, task_id, "delivered")

`world()` starts the MusicGPT and Discord stand-ins, the bot configured only by environment
variables (tests.support.env), and waits until the bot says it is ready. At the end it stops
the bot and fails if any request the bot made broke Discord's OpenAPI description (when the
spec file is there; `discord_openapi_note()` says when it is not).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from bot.core.models import Task
from tests.standins.discord import (
    ChannelSpec,
    DiscordStandIn,
    GuildSpec,
    Perm,
    RoleSpec,
    StoredMessage,
    UserSpec,
)
from tests.standins.discord import openapi as discord_openapi
from tests.standins.discord.model import new_snowflake
from tests.standins.musicgpt import MusicGPTStandIn
from tests.support import state
from tests.support.env import FIXTURES, bot_env, with_webhook_port
from tests.support.process import BotProcess, free_port

MUSICGPT_KEY = "mg-test-key-do-not-log"


@dataclass
class World:
    """The stand-ins, the bot and its environment (`env` is what the next start gets)."""

    dc: DiscordStandIn
    mg: MusicGPTStandIn
    tmp: Path
    env: dict[str, str]
    bot: BotProcess
    users: list[UserSpec] = field(default_factory=list)
    # Things helpers had to try again (the benchmark reports them).
    problems: list[str] = field(default_factory=list)
    # The guild's roles that `world()` made, by name ("Moderators", "Singers").
    role_ids: dict[str, int] = field(default_factory=dict)

    @property
    def alice(self) -> UserSpec:
        return self.dc.user("alice")

    @property
    def bob(self) -> UserSpec:
        return self.dc.user("bob")

    @property
    def webhook_port(self) -> int:
        return int(self.env["WEBHOOK_PORT"])

    @property
    def database(self) -> Path:
        """DATABASE_PATH: the SQLite file, and the folder of the bot's files (audio, inputs)
        even when its state is in PostgreSQL."""
        return Path(self.env["DATABASE_PATH"])

    @property
    def bot_database(self) -> Path | str:
        """Where the bot keeps its state: DATABASE_URL when set (PostgreSQL), else the SQLite
        file at DATABASE_PATH. `tests.support.state` and `DatabaseLock` take either."""
        return self.env.get("DATABASE_URL") or self.database

    # --- the bot process ----------------------------------------------------------------

    async def start_bot(
        self, *, timeout: float = 20, wait_sync: bool = True, module: str = "bot"
    ) -> float:
        """Start `python -m <module>` and wait until its /healthz says 200 (connected,
        database up) and, with DEV_GUILD_ID, until it synced its guild commands. The
        monotonic time /healthz first said 200.

        The webhook port is picked free beforehand, so something else can take it in
        between; the bot then exits at once, and gets another port and another try.
        """
        for attempt in range(3):
            self.dc.command_syncs.clear()  # wait for this process's own sync
            self.bot = BotProcess(self.env, self.tmp, module=module, log_path=self.bot.log_path)
            await self.bot.start()
            try:
                healthy = await self.wait_healthy(timeout)
                if wait_sync and "DEV_GUILD_ID" in self.env:
                    await self.dc.wait_commands_synced(self.dc.guild_id, timeout=timeout)
                return healthy
            except Exception as error:
                if "address already in use" in self.bot.log_text(3000) and attempt < 2:
                    await self.bot.stop()
                    with_webhook_port(self.env, free_port())
                    continue
                raise AssertionError(
                    f"the bot never became ready ({error!r}):\n{self.bot.log_text(6000)}"
                ) from error
        raise AssertionError("unreachable")

    async def restart_bot(self, *, kill: bool = True) -> None:
        await self.bot.stop(kill=kill)
        await self.start_bot()

    async def healthz(self, session: aiohttp.ClientSession | None = None) -> tuple[int, Any]:
        """The bot's /healthz: its status and JSON body."""
        if session is None:
            async with aiohttp.ClientSession() as own:
                return await self.healthz(own)
        url = f"http://127.0.0.1:{self.webhook_port}/healthz"
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
            return response.status, await response.json(content_type=None)

    async def wait_healthy(self, timeout: float = 20, every: float = 0.01) -> float:
        """Until the bot's /healthz says 200; the monotonic time it did."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
                    status, _ = await self.healthz(session)
                    if status == 200:
                        return loop.time()
                if not self.bot.running:
                    raise RuntimeError(f"the bot exited with {self.bot.returncode}")
                if loop.time() > deadline:
                    raise TimeoutError("the bot's /healthz never said ready")
                await asyncio.sleep(every)

    # --- what the bot stored and posted -------------------------------------------------

    def attach(self, name: str, fixture: str | None = None, data: bytes | None = None) -> dict:
        payload = data if data is not None else (FIXTURES / (fixture or name)).read_bytes()
        return self.dc.add_attachment(name, payload)

    async def post_member_file(
        self,
        name: str,
        fixture: str | None = None,
        data: bytes | None = None,
        *,
        content: str = "",
        user: UserSpec | None = None,
        channel_id: int | None = None,
    ) -> StoredMessage:
        """A member (alice by default) posts a message carrying one file: `data`, or the
        fixture `fixture` (default: `name`) from tests/fixtures, uploaded as `name`. The
        message's attachment is what Discord would give (see `dc.post_user_message`)."""
        payload = data if data is not None else (FIXTURES / (fixture or name)).read_bytes()
        return await self.dc.post_user_message(
            content,
            channel_id=channel_id,
            user_id=(user or self.alice).id,
            files={name: payload},
        )

    def tasks(self) -> list[Task]:
        """The bot's tasks, oldest first, as its store reads them."""
        return state.all_tasks(self.bot_database)

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
            return next((m for m in self.status_messages() if text in embed_text(m)), None)

        try:
            return await self.dc.wait_until(find, timeout, f"a status saying {text!r}")
        except Exception as error:
            raise AssertionError(f"no status {text!r}:\n{self.bot.log_text(6000)}") from error

    async def wait_result(self, count: int = 1, timeout: float = 30) -> list[StoredMessage]:
        def enough() -> list[StoredMessage] | None:
            found = self.results()
            return found if len(found) >= count else None

        try:
            return await self.dc.wait_until(enough, timeout, f"{count} result message(s)")
        except Exception as error:
            raise AssertionError(f"no result posted:\n{self.bot.log_text(6000)}") from error


@dataclass(frozen=True)
class WorldOptions:
    """The keywords of `world()` that are not environment variables of the bot."""

    webhooks: bool = True  # PUBLIC_BASE_URL set: MusicGPT calls the bot back
    premium_tier: int = 0  # of the guild (its upload limit)
    guild_locale: str = "en-US"  # the guild's Discord locale (`preferred_locale`, `guild_locale`)
    channels: int = 1  # text channels in the guild
    users: Sequence[str] = ("alice", "bob")  # the guild's members, by name
    # Members (by name, added to `users` if missing) with a role granting Manage Messages.
    # The guild's owner is its first member (alice by default), who may do anything anyway.
    moderators: Sequence[str] = ()
    # Members (by name, added to `users` if missing) with a role "Singers" granting nothing:
    # a role for /settings quota overrides (`w.role_ids["Singers"]`).
    singers: Sequence[str] = ()
    mg_options: Mapping[str, Any] = field(default_factory=dict)  # MusicGPTStandIn(**...)
    dc_options: Mapping[str, Any] = field(default_factory=dict)  # DiscordStandIn(**...)
    start: bool = True  # False: the caller runs `await w.start_bot()`
    log_level: str = "DEBUG"


_OPTIONS = frozenset(f.name for f in fields(WorldOptions))


@contextlib.asynccontextmanager
async def world(tmp: Path, **settings: Any) -> AsyncIterator[World]:
    """The real bot between the two stand-ins: one guild with `channels` channels and the
    `users` as members.

    Keywords: those of `WorldOptions` (`mg_options`/`dc_options` go to the stand-ins'
    constructors: hooks, delays, `validate=`...); every other keyword is an environment
    variable of the bot (`USER_DAILY_QUOTA="3"`; "" removes one). They are one `**` so that
    a test can pass a dict of variables (`**LIMITS`) and still type-check.

    At the end the bot is stopped and every request it made to Discord is checked against
    Discord's OpenAPI description.
    """
    options = WorldOptions(**{k: v for k, v in settings.items() if k in _OPTIONS})
    env_overrides = {k: v for k, v in settings.items() if k not in _OPTIONS}
    wrong = [k for k, v in env_overrides.items() if not isinstance(v, str)]
    if wrong:
        raise TypeError(f"environment variables are strings: {', '.join(wrong)}")
    names = list(dict.fromkeys([*options.users, *options.moderators, *options.singers]))
    specs = [UserSpec(name, id=new_snowflake()) for name in names]
    moderator_role = RoleSpec("Moderators", id=new_snowflake(), permissions=Perm.MANAGE_MESSAGES)
    moderator_ids = [spec.id for spec in specs if spec.username in options.moderators]
    singer_role = RoleSpec("Singers", id=new_snowflake(), position=2)
    singer_ids = [spec.id for spec in specs if spec.username in options.singers]
    roles = [*([moderator_role] if moderator_ids else []), *([singer_role] if singer_ids else [])]
    member_roles: dict[int, list[int]] = {}
    for role, holders in ((moderator_role, moderator_ids), (singer_role, singer_ids)):
        for uid in holders:
            member_roles.setdefault(uid, []).append(role.id)
    mg_options = {"api_key": MUSICGPT_KEY, "delay": 0.3, "eta": 1, **options.mg_options}
    channels: list[ChannelSpec | int] = [
        ChannelSpec(),
        *(ChannelSpec(f"channel-{n}") for n in range(1, options.channels)),
    ]
    async with (
        MusicGPTStandIn(**mg_options) as mg,
        DiscordStandIn(
            guilds=[
                GuildSpec(
                    premium_tier=options.premium_tier,
                    locale=options.guild_locale,
                    channels=channels,
                    roles=roles,
                    member_roles=member_roles,
                )
            ],
            users=specs,
            **options.dc_options,
        ) as dc,
    ):
        port = free_port()
        env = bot_env(
            dc,
            mg,
            tmp,
            port,
            webhooks=options.webhooks,
            log_level=options.log_level,
            **env_overrides,
        )
        the_world = World(
            dc, mg, tmp, env, BotProcess(env, tmp), specs, role_ids={r.name: r.id for r in roles}
        )
        try:
            if options.start:
                await the_world.start_bot()
            yield the_world
        finally:
            await the_world.bot.stop()
        dc.assert_no_openapi_violations()


def discord_openapi_note() -> str | None:
    """Why Discord requests are not checked against its OpenAPI description, or None."""
    path = discord_openapi.spec_path()
    if discord_openapi.spec_available(path):
        return None
    return f"{path} is absent: requests to the Discord stand-in are not checked against it"


# --- waiting -------------------------------------------------------------------------------


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
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(every)


# --- the bot's database --------------------------------------------------------------------


def stored(w: World, task_id: int) -> Task:
    """One task as the bot's store reads it (with its quota charge: `quota_refunded`)."""
    return state.task(w.bot_database, task_id)


def mg_id(task: Task) -> str:
    """The MusicGPT task id of a task that was submitted."""
    assert task.musicgpt_task_id, f"task #{task.id} has no MusicGPT task"
    return task.musicgpt_task_id


def webhook_secret(w: World) -> str:
    """The secret path segment the bot keeps in its database (its value 'webhook_secret')."""
    found = state.value(w.bot_database, "webhook_secret")
    assert found, "the bot stored no webhook secret"
    return found


async def wait_task(
    w: World,
    task_id: int,
    predicate: Callable[[Task], bool],
    what: str,
    timeout: float = 30,
) -> Task:
    """The task once `predicate(task)` holds."""

    def check() -> Task | None:
        task = stored(w, task_id)
        return task if predicate(task) else None

    try:
        return await poll_until(check, timeout, f"task #{task_id}: {what}", every=0.05)
    except TimeoutError as error:
        raise AssertionError(
            f"{error}; task: {stored(w, task_id)}\n{w.bot.log_text(6000)}"
        ) from error


async def wait_status_of(w: World, task_id: int, status: str, timeout: float = 30) -> Task:
    return await wait_task(w, task_id, lambda t: t.status == status, status, timeout)


# --- a user's requests ---------------------------------------------------------------------


async def request_song(
    w: World,
    *,
    channel_id: int | None = None,
    user: UserSpec | None = None,
    prompt: str = "warm soul vocal",
    lyrics: str = "la la la",
    audio: tuple[str, bytes] | None = None,
) -> int:
    """/sing with an attachment (tests/fixtures' tone.mp3, or `audio`: a file name and its
    bytes), lyrics typed in the modal; the new request's id (task id).

    Waits only until the bot stored the task and posted its status message, not for the
    private answer.
    """
    user = user or w.alice
    before = {t.id for t in w.tasks()}
    attachment = w.attach(audio[0], data=audio[1]) if audio else w.attach("beat.mp3", "tone.mp3")
    ix = await w.dc.invoke_command(
        "sing", {"prompt": prompt, "audio": attachment}, user_id=user.id, channel_id=channel_id
    )
    callback = await ix.wait_callback()
    assert callback.type == 9, f"expected the lyrics modal, got {callback}"
    await ix.submit_modal({"Lyrics": lyrics}, user_id=user.id)

    def new_task() -> int | None:
        fresh = [t.id for t in w.tasks() if t.id not in before]
        return fresh[0] if fresh else None

    try:
        task_id = await poll_until(new_task, 30, "the request to be stored", every=0.05)
    except TimeoutError as error:
        raise AssertionError(f"{error}\n{w.bot.log_text(6000)}") from error
    await wait_task(w, task_id, lambda r: r.status_message_id is not None, "a status message")
    return int(task_id)


# --- what the bot posted -------------------------------------------------------------------


async def modal_answer(w: World, command: str, options: dict, values: dict) -> str:
    """Run a command as alice, fill its modal with `values`; the private answer that follows."""
    ix = await w.dc.invoke_command(command, options, user_id=w.alice.id)
    assert (await ix.wait_callback()).type == 9
    submit = await ix.submit_modal(values, user_id=w.alice.id)
    [answer] = await submit.wait_followups(1)
    assert answer.ephemeral
    return answer.content


def marker(task_id: int) -> str:
    """What every result message of a request carries (bot.discord.songs.poster.delivery_marker)."""
    return f"(song #{task_id})"


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
        raise AssertionError(f"{error}\n{w.bot.log_text(8000)}") from error


def status_message_of(w: World, task_id: int) -> StoredMessage:
    message_id = stored(w, task_id).status_message_id
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
        raise AssertionError(f"{error}\nstatus now: {current!r}\n{w.bot.log_text(6000)}") from error


def status_messages_for(w: World, task_id: int) -> list[StoredMessage]:
    """Every status message (embed) the bot posted for one request: there should be one."""
    title_end = f"song #{task_id}"
    return [m for m in w.status_messages() if m.embeds[0].get("title", "").endswith(title_end)]


# --- tools for particular tests ------------------------------------------------------------


class DatabaseLock:
    """Holds the write lock on the bot's tasks from the test: SQLite's (BEGIN IMMEDIATE), or
    in PostgreSQL `LOCK TABLE tasks IN EXCLUSIVE MODE` (writes wait, reads don't).

    While held, the bot's next write to its tasks blocks (SQLite: its busy_timeout is 5 s), so
    a test can freeze the bot between an action and recording it, e.g. after Discord stored a
    result message but before the bot marked the task delivered, and kill it right there.
    Reads still work, for the bot and through `tests.support.state`.
    """

    def __init__(self, database: Path | str) -> None:
        self._url = database if isinstance(database, str) else None
        self._db: sqlite3.Connection | None = None
        self._pg: Any = None
        if self._url is None:
            self._db = sqlite3.connect(
                database, timeout=10, isolation_level=None, check_same_thread=False
            )
            self._db.row_factory = sqlite3.Row

    async def __aenter__(self) -> DatabaseLock:
        if self._db is not None:
            await asyncio.to_thread(self._db.execute, "BEGIN IMMEDIATE")
        else:
            self._pg = await asyncpg.connect(self._url)
            await self._pg.execute("BEGIN; LOCK TABLE tasks IN EXCLUSIVE MODE")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._db is not None:
            await asyncio.to_thread(self._db.execute, "ROLLBACK")
            self._db.close()
            return
        # A killed bot's statement still waits on the server for this lock (PostgreSQL notices
        # a gone client only when it next writes to it): end it, as the crash would have, so
        # it can't commit once the lock is given back.
        await self._pg.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND wait_event_type = 'Lock'"
        )
        await self._pg.execute("ROLLBACK")
        await self._pg.close()

    def rows(self) -> dict[int, dict[str, Any]]:
        if self._db is not None:
            return {r["id"]: dict(r) for r in self._db.execute("SELECT * FROM tasks")}
        url = self._url

        async def read() -> dict[int, dict[str, Any]]:
            connection = await asyncpg.connect(url)
            try:
                return {r["id"]: dict(r) for r in await connection.fetch("SELECT * FROM tasks")}
            finally:
                await connection.close()

        with ThreadPoolExecutor(1) as pool:  # a plain function, like SQLite's
            return pool.submit(asyncio.run, read()).result()


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
