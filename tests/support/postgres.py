"""A real PostgreSQL for the tests: each test gets a database of its own, dropped after it.

The server is TEST_DATABASE_URL when it is set, else the local one this project's machines
run (PostgreSQL 15 on 127.0.0.1:5432, trust auth): ADMIN_URL. Either way the URL is an admin
connection, a role that may CREATE DATABASE; each test's database is `test_<random hex>` on
that server, with the same user, password and parameters, so it starts empty, and several
test runs (or several helpers' runs) share one server without seeing each other's tables.

No server answering: the PostgreSQL tests skip, with one line saying how to get one; under
CI=true they fail instead, so CI can't go green by skipping them.

In a test, ask for `postgres_url` (tests/conftest.py): the new database's URL, for the store's
PostgreSQL adapter or a bot process's DATABASE_URL. Such tests are marked `postgres`
(`-m "not postgres"` leaves them out).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Mapping
from urllib.parse import urlsplit

import asyncpg
import pytest

from bot.core.config import redacted_url

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CONNECT_SECONDS = 5.0
HOW_TO_GET_ONE = (
    "start the local one with `pg_ctlcluster --skip-systemctl-redirect 15 main start`, "
    "or set TEST_DATABASE_URL=postgresql://USER@HOST:PORT/DBNAME (a role that may create "
    "databases)"
)
TRUTHY = ("1", "true", "yes", "on")


def admin_url(env: Mapping[str, str] = os.environ) -> str:
    """The server the tests create their databases on: TEST_DATABASE_URL, or ADMIN_URL."""
    return env.get("TEST_DATABASE_URL", "").strip() or ADMIN_URL


def in_ci(env: Mapping[str, str] = os.environ) -> bool:
    return env.get("CI", "").strip().lower() in TRUTHY


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` instead: same user, password, host and parameters."""
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def unreachable(url: str) -> str | None:
    """Why the server at `url` can't be used (one short phrase), or None when it answers."""
    try:
        connection = await asyncpg.connect(url, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        return reason
    await connection.close()
    return None


def no_server(url: str, reason: str, env: Mapping[str, str] = os.environ) -> None:
    """Skip (or, under CI=true, fail) the test: one line naming the server, why, and how."""
    message = f"no PostgreSQL at {redacted_url(url)} ({reason}): {HOW_TO_GET_ONE}"
    if in_ci(env):
        pytest.fail(f"{message} [CI=true: PostgreSQL tests must run]", pytrace=False)
    pytest.skip(message)


async def create_database(admin: str, template: str | None = None) -> str:
    """Create an empty `test_<random>` database on `admin`'s server (or a copy of the
    database `template`, which nothing may be connected to); its name."""
    name = f"test_{secrets.token_hex(8)}"
    copy = f" TEMPLATE {quote_identifier(template)}" if template else ""
    connection = await asyncpg.connect(admin, timeout=CONNECT_SECONDS)
    try:
        await connection.execute(f"CREATE DATABASE {quote_identifier(name)}{copy}")
    finally:
        await connection.close()
    return name


async def drop_database(admin: str, name: str) -> None:
    """Drop `name`, ending whatever connections a test (or a killed bot process) left open."""
    connection = await asyncpg.connect(admin, timeout=CONNECT_SECONDS)
    try:
        await connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        # WITH (FORCE) (PostgreSQL 13+) also ends connections made since the line above.
        force = " WITH (FORCE)" if connection.get_server_version().major >= 13 else ""
        await connection.execute(f"DROP DATABASE IF EXISTS {quote_identifier(name)}{force}")
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def fresh_database(admin: str, template: str | None = None) -> AsyncIterator[str]:
    """The URL of a new empty database on `admin`'s server (a copy of `template`, a database
    name, when given: a few milliseconds for a benchmark's prepared one), dropped on the way
    out."""
    name = await create_database(admin, template)
    try:
        yield with_database(admin, name)
    finally:
        await drop_database(admin, name)
