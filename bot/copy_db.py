"""`python -m bot copy-db URL`: copy the SQLite database at DATABASE_PATH into the empty
PostgreSQL database at URL, then say so in one line.

Exit 0 when copied (the line has the counts); 2 when URL is not a PostgreSQL URL or its
server can't be reached or logged into; 1 when the target already holds the bot's tables
(nothing is changed) or the SQLite file can't be read. The owner then sets DATABASE_URL to
the same URL and starts the bot (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path

from bot.core.config import Settings, redacted_url, url_passwords, validated_database_url
from bot.core.errors import ConfigError, StorageError

USAGE = "usage: python -m bot copy-db postgresql://USER@HOST:PORT/DBNAME"


def main(argv: list[str], env: Mapping[str, str]) -> int:
    from bot.core.store.postgres.copy import NotTheBotsDatabase, TargetNotEmpty, copy_database

    if len(argv) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        url = validated_database_url("URL", argv[0])
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    shown = redacted_url(url)
    default = Settings(discord_token="-", musicgpt_api_key="-").database_path  # noqa: S106
    path = Path(env.get("DATABASE_PATH", "").strip() or default)
    if not path.is_file():
        print(f"error: no SQLite database at DATABASE_PATH {path}", file=sys.stderr)
        return 1
    try:
        copied = asyncio.run(copy_database(path, url))
    except TargetNotEmpty as error:
        print(
            f"error: {shown} already holds the bot's tables ({', '.join(error.tables)});"
            " nothing was copied: give an empty database",
            file=sys.stderr,
        )
        return 1
    except NotTheBotsDatabase:
        print(f"error: {path} holds no table of the bot's: check DATABASE_PATH", file=sys.stderr)
        return 1
    except StorageError as error:
        message = str(error).splitlines()[0] if str(error) else error.reason
        for secret in url_passwords(url):
            message = message.replace(secret, "<redacted>")
        if error.reason == "unreachable":
            print(f"error: can't reach {shown} ({message})", file=sys.stderr)
            return 2
        print(f"error: the copy into {shown} failed ({message}); nothing was kept", file=sys.stderr)
        return 1
    print(f"copied {path} into {shown}: {copied.line()}")
    return 0
