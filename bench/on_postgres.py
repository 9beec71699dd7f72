"""Figures 4 and 5 again with the bot's state in PostgreSQL (DATABASE_URL), beside SQLite.

`python -m bench --only 4pg` and `--only 5pg`. The PostgreSQL server is the tests' (local
PostgreSQL 15 on 127.0.0.1:5432, or TEST_DATABASE_URL: tests/support/postgres.py); each run
gets a database of its own, dropped afterwards.

4pg: figure 4's rounds (held songs finished within one second) through one bot on SQLite and
then one on PostgreSQL, in the same run, so that both meet the same machine. The goal is the
issue's: the bot's CPU per delivered song on PostgreSQL within 1.5x of SQLite's. The CPU of
PostgreSQL's own backends serving the bot's database (`pg_stat_activity`, /proc) is shown
beside it: SQLite does that work inside the bot's process, PostgreSQL in its server.

5pg: figure 5's database (10,000 finished and 1,000 unfinished tasks) built on SQLite as
there, copied into PostgreSQL with the bot's own `copy-db` (`copy_database`), then the same
store timings on a copy of it, and start-up of `python -m bot` on a fresh copy each time
(`CREATE DATABASE ... TEMPLATE`: a start changes the database).
"""

from __future__ import annotations

import statistics
from pathlib import Path

from bench import bookkeeping, delivery
from bench.common import Row, ms, percentile, postgres_database
from bench.delivery import Run
from bot.core.store.postgres.copy import copy_database

ROUNDS = {10: 3, 50: 3}
GOAL_CPU_RATIO = 1.5
LOAD_NOTE = "shared 2-CPU machine, other engineers' tests running"


def _db_cpu(run: Run, size: int) -> float:
    rounds = [r for r in run.rounds if r.size == size]
    return sum(r.db_cpu for r in rounds) / sum(r.size for r in rounds)


async def measure_delivery(tmp: Path) -> list[Row]:
    (tmp / "sqlite").mkdir()
    (tmp / "pg").mkdir()
    sqlite = await delivery.run_bot(tmp / "sqlite", rounds=ROUNDS)
    async with postgres_database() as url:
        pg = await delivery.run_bot(tmp / "pg", database_url=url, rounds=ROUNDS)
    rows = [
        Row(
            f"4{'de'[n]}. Completion to post on PostgreSQL ({size} tasks done within 1 s)",
            delivery.describe(pg, size),
            f"p99 < {ms(delivery.GOAL_P99[size])}",
            f"SQLite, same run: {delivery.describe(sqlite, size)}",
            f"figure 4's method, {count} rounds of {size}, DATABASE_URL set; {LOAD_NOTE}",
            met=percentile(delivery.latencies(pg, size)[0], 99) < delivery.GOAL_P99[size],
        )
        for n, (size, count) in enumerate(ROUNDS.items())
    ]
    cpu = {s: delivery.cpu_per_task(pg, s) for s in ROUNDS}
    base = {s: delivery.cpu_per_task(sqlite, s) for s in ROUNDS}
    big = max(ROUNDS)
    rows.append(
        Row(
            "4f. Bot CPU per delivered song on PostgreSQL",
            "; ".join(
                f"{ms(cpu[s])} in rounds of {s} ({cpu[s] / base[s]:.2f}x SQLite's), "
                f"+ {ms(_db_cpu(pg, s))} in PostgreSQL's backends"
                for s in ROUNDS
            ),
            f"within {GOAL_CPU_RATIO:g}x of SQLite's (rounds of {big})",
            "SQLite, same run: " + ", ".join(f"{ms(base[s])} in rounds of {s}" for s in ROUNDS),
            "figure 4c's method; the backends: /proc CPU of the server processes serving the "
            f"bot's database (pg_stat_activity) over the same span; {LOAD_NOTE}",
            met=cpu[big] <= GOAL_CPU_RATIO * base[big],
        )
    )
    return rows


def _op(values: list[float]) -> str:
    return f"p50 {ms(statistics.median(values))}, p99 {ms(percentile(values, 99))}"


async def _start(run_dir: Path, template: str | None) -> dict[str, float]:
    async with (
        postgres_database(template) as url,
        bookkeeping.start_world(run_dir, DATABASE_URL=url) as (w, t),
    ):
        return await bookkeeping.start_up(w, t, None)


async def measure_bookkeeping(tmp: Path) -> list[Row]:
    built = tmp / "built" / "data" / "bot.sqlite3"
    ids = await bookkeeping.build_database(built)
    sqlite = await bookkeeping.time_operations(built, ids)
    async with postgres_database() as template_url:
        await copy_database(built, template_url)
        template = template_url.rpartition("/")[2]
        async with postgres_database(template) as url:
            timings = await bookkeeping.time_operations_at(url, ids)
        starts: dict[str, list[dict[str, float]]] = {"full": [], "empty": []}
        for n, kind in enumerate(("empty", "full") * 3):
            run_dir = tmp / f"start-{n}-{kind}"
            run_dir.mkdir()
            starts[kind].append(await _start(run_dir, template if kind == "full" else None))
    full = statistics.median(s["healthy"] for s in starts["full"])
    empty = statistics.median(s["healthy"] for s in starts["empty"])
    connect = statistics.median(s["connect"] for s in starts["full"])
    goal = bookkeeping.GOAL_OP
    updates = (timings["schedule_poll"], timings["mark_completed"])
    return [
        Row(
            "5e. Quota check on PostgreSQL",
            _op(timings["quota"]),
            f"< {ms(goal)}",
            f"SQLite, same run: {_op(sqlite['quota'])}",
            f"figure 5a's method on a copy of figure 5's database in PostgreSQL; {LOAD_NOTE}",
            met=percentile(timings["quota"], 99) < goal,
        ),
        Row(
            "5f. Recording an update on PostgreSQL",
            f"schedule_poll {_op(timings['schedule_poll'])}; "
            f"mark_completed {_op(timings['mark_completed'])}",
            f"< {ms(goal)}",
            f"SQLite, same run: schedule_poll {_op(sqlite['schedule_poll'])}; "
            f"mark_completed {_op(sqlite['mark_completed'])}",
            f"figure 5b's method; {LOAD_NOTE}",
            met=max(percentile(t, 99) for t in updates) < goal,
        ),
        Row(
            "5g. Start-up on PostgreSQL with that database",
            f"{full:.2f} s to /healthz 200; recovery done (gateway connect) at {connect:.2f} s",
            f"< {bookkeeping.GOAL_START:g} s",
            f"empty database: {empty:.2f} s",
            "figure 5c's method, each start on a fresh copy (CREATE DATABASE ... TEMPLATE), "
            f"median of 3; {LOAD_NOTE}",
            met=full < bookkeeping.GOAL_START,
        ),
    ]
