"""What the repositories share: rows to typed objects, the task's column lists, and the
records (dataclasses) the store hands out besides `Task`."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.core.models import Gender, Output, Request, Task, TaskKind, TaskStatus, WaveformState
from bot.core.store.database import Executor, Row

ACTIVE_STATUSES = tuple(s.value for s in TaskStatus if not s.is_final)
IN_FLIGHT_AT_MUSICGPT = (TaskStatus.SUBMITTING.value, TaskStatus.SUBMITTED.value)
# The statuses a process holds under a lease: sending to MusicGPT, and posting the result
# (completed is held too, so a result is delivered even when its process dies before the
# delivery's own claim).
LEASED_STATUSES = (
    TaskStatus.SUBMITTING.value,
    TaskStatus.COMPLETED.value,
    TaskStatus.DELIVERING.value,
)
# SQL is built only from these constants and numbered placeholders (hence ruff's S608 is off
# for the store); every value travels as a parameter.

TASK_COLUMNS = "t.*, q.day AS quota_day, q.refunded_at IS NOT NULL AS quota_refunded"
TASK_FROM = "tasks t LEFT JOIN quota_charges q ON q.task_id = t.id"
# The same columns for `UPDATE tasks ... RETURNING`, so a transition hands back the task it
# made in the same statement.
RETURNING_TASK = (
    "RETURNING *,"
    " (SELECT day FROM quota_charges WHERE task_id = tasks.id) AS quota_day,"
    " (SELECT refunded_at IS NOT NULL FROM quota_charges WHERE task_id = tasks.id)"
    " AS quota_refunded"
)


def utc_day(now: float) -> str:
    """The quota day (UTC calendar date) a moment belongs to."""
    return datetime.fromtimestamp(now, tz=UTC).date().isoformat()


def outputs_to_json(outputs: Iterable[Output]) -> str:
    return json.dumps([dataclasses.asdict(o) for o in outputs])


def _outputs_from_json(raw: str) -> tuple[Output, ...]:
    return tuple(Output(**item) for item in json.loads(raw))


def _ids_from_json(raw: str) -> tuple[Any, ...]:
    return tuple(json.loads(raw))


# How a column's stored value becomes the Task field of the same name; unlisted fields are
# stored as they are. A new column is a Task field plus, if it needs one, a line here.
_DECODE: dict[str, Callable[[Any], Any]] = {
    "kind": TaskKind,
    "status": TaskStatus,
    "gender": lambda v: Gender(v) if v else None,
    "outputs": _outputs_from_json,
    "conversion_ids": _ids_from_json,
    "delivered_message_ids": _ids_from_json,
    "quota_day": lambda v: v or "",
    "quota_refunded": bool,
    "webhook_seen": bool,
    "thread_wanted": bool,
    "waveform_state": lambda v: WaveformState(v) if v else None,
}
_TASK_FIELDS = tuple(f.name for f in dataclasses.fields(Task))
# Per shape of result row (its column names): for each Task field, (column index, decoder).
_PLANS: dict[tuple[str, ...], tuple[tuple[int, Callable[[Any], Any] | None], ...]] = {}


def task_from_row(row: Row) -> Task:
    # Worked out once per query shape, not per row: polls and renders read many rows.
    keys = tuple(row.keys())
    plan = _PLANS.get(keys)
    if plan is None:
        index = {name: i for i, name in enumerate(keys)}
        plan = _PLANS[keys] = tuple((index[name], _DECODE.get(name)) for name in _TASK_FIELDS)
    return Task(*[row[i] if decode is None else decode(row[i]) for i, decode in plan])


async def fetch_tasks(db: Executor, where: str, params: Sequence[Any] = ()) -> list[Task]:
    """Tasks (with their quota charge) matching `where`, which names the table `t`."""
    rows = await db.fetch(f"SELECT {TASK_COLUMNS} FROM {TASK_FROM} WHERE {where}", params)
    return [task_from_row(row) for row in rows]


# The columns a new task is inserted with: the Request's fields, plus these.
REQUEST_FIELDS = tuple(f.name for f in dataclasses.fields(Request))
INSERT_COLUMNS = (
    *REQUEST_FIELDS,
    "audio_path",
    "audio_duration",
    "input_sha256",
    "created_at",
    "updated_at",
)


# Each inserted column's type, for `CAST($n AS type)` where a parameter has no column beside
# it to take its type from (INSERT ... SELECT $1, $2 ...): PostgreSQL would read it as text.
# BIGINT for Discord ids (past 32 bits); SQLite reads the same names (INTEGER, REAL affinity).
_BIGINT, _FLOAT, _INT = "BIGINT", "DOUBLE PRECISION", "INTEGER"
INSERT_TYPES: dict[str, str] = {
    "user_id": _BIGINT,
    "guild_id": _BIGINT,
    "channel_id": _BIGINT,
    "upload_limit": _BIGINT,
    "parent_task_id": _BIGINT,
    "parent_output": _INT,
    "num_outputs": _INT,
    "thread_wanted": _INT,
    "audio_duration": _FLOAT,
    "replace_start": _FLOAT,
    "replace_end": _FLOAT,
    "created_at": _FLOAT,
    "updated_at": _FLOAT,
}


def typed_placeholder(column: str, n: int) -> str:
    """`$n` as the column's type (TEXT unless INSERT_TYPES says otherwise)."""
    return f"CAST(${n} AS {INSERT_TYPES.get(column, 'TEXT')})"


def request_values(request: Request) -> list[Any]:
    """The Request's fields in `REQUEST_FIELDS` order, as stored."""
    values = {name: getattr(request, name) for name in REQUEST_FIELDS}
    values["kind"] = request.kind.value
    values["gender"] = request.gender.value if request.gender else None
    values["thread_wanted"] = int(request.thread_wanted)  # a 0/1 column in both databases
    return [values[name] for name in REQUEST_FIELDS]


@dataclasses.dataclass(frozen=True, slots=True)
class Lease:
    """Who holds a claim (a process's identity) and until when (its clock): a claim whose
    lease ran out is taken over by another process (`TaskTransitions.take_expired_claims`)."""

    holder: str
    until: float


# A step that ends a claim (a song sent, delivered, failed; a DM copy settled).
UNHELD = "claimed_by = NULL, lease_until = NULL"


def held(lease: Lease | None) -> tuple[str | None, float | None]:
    """A lease's columns (claimed_by, lease_until); none: held by no one, so any process's
    sweep takes it over at once."""
    return (lease.holder, lease.until) if lease else (None, None)


@dataclasses.dataclass(frozen=True, slots=True)
class KeptInput:
    """One kept upload (`bot.core.media.inputs`): its content hash, extension, size, last use;
    `needed` when a queued or submitting task was made from it."""

    sha256: str
    extension: str
    size: int
    last_used_at: float
    needed: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class BlobHead:
    """Audio bytes kept in the database (`bot.core.store.blobs`): content hash, the upload's
    extension, size in bytes, how many chunks hold them (numbered from 0)."""

    sha256: str
    extension: str
    size: int
    chunks: int


@dataclasses.dataclass(frozen=True, slots=True)
class UsageLine:
    """One member's (or, with user_id 0, a server's) charged requests and their credits."""

    user_id: int
    requests: int
    credits: float
