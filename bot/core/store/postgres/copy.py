"""`python -m bot copy-db URL`: every row of an SQLite database into an empty PostgreSQL one.

The target is migrated first (the same numbered migrations, in PostgreSQL's dialect), then
every table the bot keeps is copied in one transaction, with its ids as they were, and each
identity sequence set past the highest id copied. A target that already holds any of the
bot's tables is refused before anything is written: the copy never merges into, nor
overwrites, a database in use.

Audio files go too, so a moved bot can still send and repeat them (on PostgreSQL the bytes
live in the database, `bot.core.media.blobs`): each kept input's file in `inputs/` and each
queued song's upload in `audio/` become blobs in the same transaction, and a queued song
then names its blob instead of its file; a waveform picture drawn and not yet posted goes to
`waveform_pictures`. A file that is gone (or whose bytes no longer match
its name) is counted as missing: a kept input without it is forgotten at the bot's start,
a queued song without it fails with a refund when sent.

Both schemas come from the same migrations, so the columns are the same; each value is
converted to the target column's type on the way (SQLite may hold an integer in a REAL
column, say), so nothing depends on how loosely SQLite stored it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.core.clock import SystemClock
from bot.core.media.blobs import file_chunks
from bot.core.media.inputs import extension_of, sha256_of
from bot.core.media.waveform_jobs import attachment_name
from bot.core.store.blobs import store_blob_in
from bot.core.store.database import Executor
from bot.core.store.migrate import migrate
from bot.core.store.postgres import PostgresDatabase
from bot.core.store.sqlite import SqliteDatabase

# Parents before children (foreign keys); any other table of the bot's follows, by name.
ORDER = ("tasks", "quota_charges")
SKIPPED = ("schema_migrations",)  # the target records its own migrations
# The bot on SQLite never writes these (its audio is files, copied into them instead).
AUDIO_TABLES = ("audio_blobs", "audio_chunks", "waveform_pictures")
COUNTED = {
    "tasks": "songs",
    "quota_charges": "charges",
    "guild_settings": "settings",
    "inputs": "kept inputs",
    "member_preferences": "DM choices",
    "bot_values": "values",
}


class TargetNotEmpty(Exception):
    """The PostgreSQL database already holds tables of the bot's."""

    def __init__(self, tables: list[str]) -> None:
        super().__init__(", ".join(tables))
        self.tables = tables


class NotTheBotsDatabase(Exception):
    """The SQLite file holds no table of the bot's."""


@dataclasses.dataclass(frozen=True)
class Copied:
    rows: dict[str, int]  # by table
    dm_copies: int  # tasks with a DM copy recorded (a column of tasks)
    audio_files: int = 0  # kept inputs' and queued songs' files now in the database
    audio_missing: int = 0  # their files that weren't there (or didn't match)
    pictures: int = 0  # waveform pictures drawn, not yet posted

    def line(self) -> str:
        named = [f"{self.rows.get(t, 0)} {name}" for t, name in COUNTED.items()]
        others = [f"{n} {t}" for t, n in self.rows.items() if t not in COUNTED]
        audio = [f"{self.audio_files} audio files"]
        if self.audio_missing:
            audio.append(f"{self.audio_missing} audio files missing")
        if self.pictures:
            audio.append(f"{self.pictures} waveform pictures")
        return ", ".join([*named[:2], f"{self.dm_copies} DM copies", *named[2:], *audio, *others])


def _converter(data_type: str) -> Callable[[Any], Any]:
    if data_type in ("bigint", "integer", "smallint"):
        return int
    if data_type in ("double precision", "real", "numeric"):
        return float
    if data_type == "boolean":
        return bool
    if data_type == "bytea":
        return bytes
    return str


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _tables(source: SqliteDatabase) -> list[str]:
    rows = await source.fetch(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    names = sorted(r[0] for r in rows if r[0] not in (*SKIPPED, *AUDIO_TABLES))
    return [t for t in ORDER if t in names] + [t for t in names if t not in ORDER]


async def copy_database(path: Path, url: str) -> Copied:
    """Copy the SQLite database at `path` into the empty PostgreSQL database at `url`.

    Raises TargetNotEmpty (nothing written), NotTheBotsDatabase, or StorageError (either
    database can't be used: `reason` "unreachable" when PostgreSQL can't be reached)."""
    async with SqliteDatabase.open(path, create=False) as source:
        if "tasks" not in await _tables(source):
            raise NotTheBotsDatabase(str(path))
        # An older file is brought to this version's schema first, as a start would do, so
        # both sides have the same columns.
        await migrate(source)
        tables = await _tables(source)
        async with PostgresDatabase.open(url, max_size=2) as target:
            existing = set(await target.tables())
            clash = sorted(existing & {*tables, *SKIPPED, *AUDIO_TABLES})
            if clash:
                raise TargetNotEmpty(clash)
            await migrate(target)
            counts: dict[str, int] = {}
            async with target.transaction() as tx:
                await tx.serialize("migrate")  # no bot starting on it meanwhile
                for table in tables:
                    types = {
                        r[0]: _converter(r[1])
                        for r in await tx.fetch(
                            "SELECT column_name, data_type FROM information_schema.columns"
                            " WHERE table_schema = current_schema() AND table_name = $1",
                            (table,),
                        )
                    }
                    data = await source.fetch(f"SELECT * FROM {_quoted(table)}")
                    if not data:
                        counts[table] = 0
                        continue
                    columns = list(data[0].keys())
                    convert = [types[c] for c in columns]
                    records = [
                        tuple(
                            None if v is None else f(v) for f, v in zip(convert, row, strict=True)
                        )
                        for row in data
                    ]
                    await tx.copy_rows(table, columns, records)
                    counts[table] = len(records)
                files, missing = await _copy_audio(tx, path.parent)
                pictures = await _copy_pictures(tx, path.parent / "waveforms")
                # The identity sequence goes on after the highest id copied.
                await tx.execute(
                    "SELECT setval(pg_get_serial_sequence('tasks', 'id'),"
                    " GREATEST((SELECT MAX(id) FROM tasks), 1),"
                    " (SELECT MAX(id) FROM tasks) IS NOT NULL)"
                )
            dm = await target.fetchrow("SELECT COUNT(*) FROM tasks WHERE dm_state IS NOT NULL")
    return Copied(counts, int(dm[0]) if dm else 0, files, missing, pictures)


async def _copy_audio(tx: Executor, folder: Path) -> tuple[int, int]:
    """Kept inputs' files and queued songs' uploads into blobs: (stored, missing)."""
    stored = missing = 0
    now = SystemClock().now()
    for sha256, extension in await tx.fetch("SELECT sha256, extension FROM inputs"):
        if await _store_file(tx, folder / "inputs" / f"{sha256}{extension}", now) == sha256:
            stored += 1
        else:
            missing += 1
    queued = await tx.fetch(
        "SELECT id, audio_path FROM tasks WHERE status = 'queued' AND audio_path IS NOT NULL"
    )
    for task_id, audio_path in queued:
        # As the bot wrote it (relative to where it ran), else by name in the audio folder.
        candidates = [Path(audio_path), folder / "audio" / Path(audio_path).name]
        file = next((c for c in candidates if c.is_file()), None)
        digest = await _store_file(tx, file, now) if file is not None else None
        if digest is None:
            missing += 1
            continue
        await tx.execute(
            "UPDATE tasks SET audio_path = NULL, input_sha256 = $1 WHERE id = $2",
            (digest, task_id),
        )
        stored += 1
    return stored, missing


async def _copy_pictures(tx: Executor, folder: Path) -> int:
    """The PNGs of pictures drawn and not yet posted, for whichever process posts them."""
    copied = 0
    ready = await tx.fetch(
        "SELECT id FROM tasks WHERE waveform_state = 'ready'"
        " AND status NOT IN ('delivered', 'failed', 'cancelled')"
    )
    for (task_id,) in ready:
        try:
            png = await asyncio.to_thread((folder / attachment_name(task_id)).read_bytes)
        except FileNotFoundError:
            continue  # the status simply shows none
        await tx.execute(
            "INSERT INTO waveform_pictures (task_id, png) VALUES ($1, $2)", (task_id, png)
        )
        copied += 1
    return copied


async def _store_file(tx: Executor, file: Path, now: float) -> str | None:
    """The file as a blob (streamed); its sha256, or None when there is no such file."""
    try:
        digest = await asyncio.to_thread(sha256_of, file)
        handle = await asyncio.to_thread(file.open, "rb")
    except FileNotFoundError:
        return None
    try:
        size = (await asyncio.to_thread(file.stat)).st_size
        await store_blob_in(tx, digest, extension_of(file), size, now, file_chunks(handle))
    finally:
        await asyncio.to_thread(handle.close)
    return digest
