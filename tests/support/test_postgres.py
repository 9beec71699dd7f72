"""tests/support/postgres.py: each test's own PostgreSQL database, made and dropped; and one
line, a skip or under CI=true a failure, when no server answers."""

from __future__ import annotations

import asyncpg
import pytest

from tests.support import postgres


async def database_exists(admin: str, name: str) -> bool:
    connection = await asyncpg.connect(admin)
    try:
        found = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    finally:
        await connection.close()
    return found == 1


async def test_each_test_gets_an_empty_database_of_its_own(
    postgres_url: str, postgres_admin_url: str, request: pytest.FixtureRequest
) -> None:
    connection = await asyncpg.connect(postgres_url)
    try:
        name = await connection.fetchval("SELECT current_database()")
        tables = await connection.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        await connection.execute("CREATE TABLE songs (id bigint PRIMARY KEY)")
    finally:
        await connection.close()
    assert name.startswith("test_") and name != "test_"
    assert tables == 0
    assert postgres_url == postgres.with_database(postgres_admin_url, name)
    assert request.node.get_closest_marker("postgres") is not None


async def test_the_database_is_dropped_after_even_with_connections_left_open(
    postgres_admin_url: str,
) -> None:
    async with postgres.fresh_database(postgres_admin_url) as url:
        name = url.rpartition("/")[2]
        assert await database_exists(postgres_admin_url, name)
        left_open = await asyncpg.connect(url)  # as a killed bot process would leave it
        await left_open.execute("CREATE TABLE t (x int)")
    assert not await database_exists(postgres_admin_url, name)
    assert left_open.is_closed() or not await _answers(left_open)


async def test_a_database_made_from_a_template_starts_as_a_copy_of_it(
    postgres_admin_url: str,
) -> None:
    async with postgres.fresh_database(postgres_admin_url) as template_url:
        connection = await asyncpg.connect(template_url)
        try:
            await connection.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (7)")
        finally:
            await connection.close()
        template = template_url.rpartition("/")[2]
        async with postgres.fresh_database(postgres_admin_url, template) as url:
            assert url != template_url
            copy = await asyncpg.connect(url)
            try:
                await copy.execute("INSERT INTO t VALUES (8)")
                assert await copy.fetchval("SELECT sum(x) FROM t") == 15
            finally:
                await copy.close()
        again = await asyncpg.connect(template_url)
        try:
            assert await again.fetchval("SELECT sum(x) FROM t") == 7  # the copy's own row
        finally:
            await again.close()


async def _answers(connection: asyncpg.Connection) -> bool:
    try:
        await connection.fetchval("SELECT 1")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        return False
    finally:
        await connection.close()
    return True


def test_the_url_keeps_the_user_password_and_parameters() -> None:
    admin = "postgresql://ci:pw@db.example:6543/postgres?sslmode=disable"
    assert postgres.with_database(admin, "test_ab12") == (
        "postgresql://ci:pw@db.example:6543/test_ab12?sslmode=disable"
    )
    assert postgres.admin_url({}) == "postgresql://postgres@127.0.0.1:5432/postgres"
    assert postgres.admin_url({"TEST_DATABASE_URL": f" {admin} "}) == admin


async def test_no_server_is_one_line_saying_how_to_get_one() -> None:
    url = "postgresql://postgres:hunter2-secret@127.0.0.1:1/postgres"  # nothing listens on 1
    reason = await postgres.unreachable(url)
    assert reason is not None
    with pytest.raises(pytest.skip.Exception) as skipped:
        postgres.no_server(url, reason, env={})
    message = str(skipped.value)
    assert "\n" not in message and "hunter2" not in message
    assert message.startswith("no PostgreSQL at postgresql://postgres:<redacted>@127.0.0.1:1/")
    assert "pg_ctlcluster --skip-systemctl-redirect 15 main start" in message
    assert "TEST_DATABASE_URL" in message


@pytest.mark.parametrize("ci", ["true", "TRUE", "1"])
def test_under_ci_no_server_is_a_failure(ci: str) -> None:
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        postgres.no_server(postgres.ADMIN_URL, "connection refused", env={"CI": ci})


def test_ci_false_still_skips() -> None:
    with pytest.raises(pytest.skip.Exception):
        postgres.no_server(postgres.ADMIN_URL, "connection refused", env={"CI": "false"})
