"""`python -m bot`: load `.env`, read settings, open long-lived resources, run the bot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
from typing import TYPE_CHECKING

import aiohttp
import uvloop
from dotenv import find_dotenv, load_dotenv

from bot.core.config import Settings, load_settings
from bot.core.errors import ConfigError, StorageError
from bot.core.logs import REDACTOR, configure_logging
from bot.core.startup import StartupFailure, database_problem, database_url_problem

if TYPE_CHECKING:
    from bot.discord.bot import SingingBot

log = logging.getLogger("bot")

WEBHOOK_SECRET_KEY = "webhook_secret"  # noqa: S105 - the name of a stored value


async def run(settings: Settings) -> None:
    # Imported here so `python -m bot` with bad settings fails fast, before discord.py loads.
    from bot.core.media.blobs import DatabaseAudio
    from bot.core.media.inputs import InputStore
    from bot.core.media.spool import Spool
    from bot.core.media.waveform_jobs import Waveforms
    from bot.core.media.worker import MediaWorker
    from bot.core.metrics import Metrics
    from bot.core.models import QuotaLimits
    from bot.core.musicgpt.client import MusicGPTClient
    from bot.core.servers.guild_settings import GuildSettingsService
    from bot.core.songs.budget import Budget
    from bot.core.songs.intake import Intake
    from bot.core.songs.quota import QuotaService
    from bot.core.store import Store
    from bot.core.tracker import Tracker
    from bot.discord.bot import bot_class, point_discord_at
    from bot.http import Health, HttpServer, MetricsAccess, metrics_public, webhook_base_url

    point_discord_at(settings)
    if settings.metrics_token:
        REDACTOR.add_secret(settings.metrics_token)
    metrics = Metrics(process_collectors=True)
    async with contextlib.AsyncExitStack() as resources:
        # No total limit (a 25 MB file may take a while), but a server that stops sending
        # for 30 s gives up the transfer; the MusicGPT client sets its own per-call timeouts.
        session = await resources.enter_async_context(
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=30)
            )
        )
        # DATABASE_URL set: everything in PostgreSQL, uploads' bytes too, so any process can
        # send them; unset: SQLite at DATABASE_PATH, with kept inputs and queued audio as
        # files beside it. Waveform pictures and downloads under way are files either way.
        try:
            store = await resources.enter_async_context(
                Store.open(settings.database_url or settings.database_path)
            )
        except (OSError, StorageError) as error:
            if settings.database_url_redacted is not None:
                raise database_url_problem(settings.database_url_redacted, error) from None
            raise database_problem(settings.database_path, error) from None
        # The process that checks and converts uploads; killed with the bot.
        media = await resources.enter_async_context(MediaWorker())
        # Its forkserver imports PyAV: started in the background, so start-up doesn't wait.
        warm_up = asyncio.create_task(media.start())
        secret = await store.get_or_create_value(WEBHOOK_SECRET_KEY, secrets.token_urlsafe(32))
        REDACTOR.add_secret(secret)  # it is the webhook path's only gate
        audio_dir = settings.database_path.parent / "audio"
        blobs = DatabaseAudio(store, audio_dir) if settings.uses_postgres else None
        inputs = await resources.enter_async_context(
            InputStore(
                store,
                settings.database_path.parent / "inputs",
                audio_dir=audio_dir,
                retention_days=settings.input_retention_days,
                cap_bytes=settings.input_store_bytes,
                blobs=blobs,
            ).running()
        )
        tracker = Tracker(
            store,
            MusicGPTClient(
                session, settings.musicgpt_api_base, settings.musicgpt_api_key, metrics=metrics
            ),
            settings,
            webhook_base_url=(
                webhook_base_url(settings.public_base_url, secret)
                if settings.public_base_url
                else None
            ),
            inputs=inputs,
            audio=blobs,
            metrics=metrics,
        )
        metrics.read_from(tracker.readings)
        guild_settings = GuildSettingsService(store)
        quota = QuotaService(
            store,
            QuotaLimits(daily=settings.user_daily_quota, active=settings.user_max_active),
            guild_settings=guild_settings,
        )
        intake = Intake(
            session,
            tracker,
            quota,
            audio_dir=audio_dir,
            max_audio_bytes=settings.max_audio_bytes,
            spool=Spool(audio_dir, cap_bytes=settings.audio_spool_bytes),
            attachment_origins=settings.attachment_origins,
            media=media,
            metrics=metrics,
            guild_settings=guild_settings,
            budget=Budget(store, guild_settings),
        )
        waveforms = Waveforms(
            store,
            settings.database_path.parent / "waveforms",
            session=session,
            worker=media,
            inputs_dir=inputs.directory,
            max_bytes=settings.max_audio_bytes,
            allowed_origins=settings.attachment_origins,
            blobs=blobs,
        )
        await waveforms.sweep()
        bot: SingingBot | None = None

        def is_connected() -> bool:
            return bot is not None and bot.is_ready() and bot.gateway_connected

        def shard_states() -> dict[int, bool]:
            states = bot.shard_states() if bot is not None else None
            return states if states is not None else {0: is_connected()}

        http_server = HttpServer(
            tracker,
            secret,
            Health(
                discord_connected=is_connected,
                database_ok=store.ping,
                disk_ok=intake.spool.disk_ok,
                database="postgresql" if settings.uses_postgres else "sqlite",
                shards=shard_states if settings.shard_count is not None else None,
                shard_count=settings.shard_count or 1,
            ),
            host=settings.webhook_host,
            port=settings.webhook_port,
            metrics=metrics,
            metrics_access=MetricsAccess(
                settings.metrics_token,
                public=metrics_public(settings.webhook_host, webhooks=settings.uses_webhooks),
            ),
        )
        bot = bot_class(settings)(
            settings=settings,
            session=session,
            store=store,
            tracker=tracker,
            quota=quota,
            intake=intake,
            inputs=inputs,
            guild_settings=guild_settings,
            http_server=http_server,
            waveforms=waveforms,
        )
        running = bot
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda: asyncio.ensure_future(stop(running)))
        async with bot:
            await bot.start_http_server()
            # Both wait out Discord being away; False/return once the bot is asked to stop.
            if await bot.sign_in():
                await bot.connect_and_stay()
        await warm_up


def shards_text(settings: Settings) -> str:
    """Which gateway shards the process opens: "shards 0, 1 of 4", "shard 1 of 2", or
    "unsharded" (one connection for every server)."""
    if settings.shard_count is None or settings.shard_ids is None:
        return "unsharded"
    ids = ", ".join(str(shard) for shard in settings.shard_ids)
    noun = "shard" if len(settings.shard_ids) == 1 else "shards"
    return f"{noun} {ids} of {settings.shard_count}"


def start_line(settings: Settings) -> str:
    """Which database and which gateway shards: "database at data/bot.sqlite3; unsharded",
    "database postgresql://singbot:<redacted>@db:5432/singbot; shards 0, 1 of 4"."""
    if settings.database_url_redacted is not None:
        database = f"database PostgreSQL at {settings.database_url_redacted}"
    else:
        database = f"database SQLite at {settings.database_path}"
    return f"{database}; {shards_text(settings)}"


async def stop(bot: SingingBot) -> None:
    if bot.stopping.is_set():
        return  # stopping already (a second signal)
    log.info(
        "stopping: no new requests; letting work under way finish (up to %d s)",
        bot.settings.shutdown_grace_seconds,
    )
    await bot.close()


def main() -> int:
    if sys.argv[1:2] == ["copy-db"]:
        from bot.copy_db import main as copy_db

        load_dotenv(find_dotenv(usecwd=True))
        return copy_db(sys.argv[2:], os.environ)
    # Whatever the bot creates (database, audio, outputs) is for its own user alone; the
    # modules that create files also set 0600/0700 themselves, this covers anything else.
    os.umask(0o077)
    # The .env of the directory the bot is started from (`make run`: the project root).
    load_dotenv(find_dotenv(usecwd=True))
    try:
        settings = load_settings(os.environ)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    configure_logging(
        settings.log_level,
        settings.discord_token,
        settings.musicgpt_api_key,
        *settings.database_secrets,
    )
    log.info("starting; %s", start_line(settings))
    with contextlib.suppress(KeyboardInterrupt):
        try:
            # uvloop: the same asyncio, with the loop itself in C; the bot's time goes to I/O
            # callbacks, and delivering a finished song costs about a third less CPU (bench 4c).
            uvloop.run(run(settings))
        except StartupFailure as failure:
            # The owner's to fix, and the line says how: a traceback would only bury it.
            log.error("%s", failure)
            return failure.exit_code
        except Exception:
            # Through logging rather than Python's own traceback print, so it is redacted.
            log.exception("stopped by an error")
            return 1
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
