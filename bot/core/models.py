"""Plain data shared by the services: what was asked, what MusicGPT answered, what we store."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TaskKind(StrEnum):
    SING = "sing"
    INPAINT = "inpaint"
    EXTEND = "extend"  # continue a song after `extend_after` seconds

    @property
    def conversion_type(self) -> str:
        """The `conversionType` MusicGPT's `byId` wants for this kind of task."""
        return _CONVERSION_TYPES[self]


_CONVERSION_TYPES = {
    TaskKind.SING: "SING_OVER_INSTRUMENTAL",
    TaskKind.INPAINT: "INPAINT",
    TaskKind.EXTEND: "EXTEND",
}


class TaskStatus(StrEnum):
    """The life of a request, in order. Only DELIVERED and FAILED are final."""

    QUEUED = "queued"  # accepted by the bot, waiting for a MusicGPT slot
    SUBMITTING = "submitting"  # a submit is (or may be) in flight
    SUBMITTED = "submitted"  # MusicGPT gave us a task_id; waiting for the result
    COMPLETED = "completed"  # MusicGPT finished; outputs known, not yet posted
    DELIVERING = "delivering"  # delivery claimed; posting to the channel
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"  # the requester cancelled it while it waited in our queue

    @property
    def is_final(self) -> bool:
        return self in (TaskStatus.DELIVERED, TaskStatus.FAILED, TaskStatus.CANCELLED)


class WaveformState(StrEnum):
    """Where an inpaint's waveform picture stands (`bot.core.media.waveform_jobs`); None: not made
    yet."""

    READY = "ready"  # the PNG is on disk, not yet on the status message
    POSTED = "posted"  # uploaded with the status message; later edits keep it
    NONE = "none"  # no picture can be made (no audio the bot may read, or it didn't decode)


class ConversionStatus(StrEnum):
    """MusicGPT's own status values; anything unrecognised is UNKNOWN (treated as not done)."""

    IN_QUEUE = "IN_QUEUE"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    ERROR = "ERROR"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_final(self) -> bool:
        return self in (ConversionStatus.COMPLETED, ConversionStatus.ERROR, ConversionStatus.FAILED)

    @property
    def is_failure(self) -> bool:
        return self in (ConversionStatus.ERROR, ConversionStatus.FAILED)


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"
    NEUTRAL = "neutral"


@dataclass(frozen=True, slots=True)
class SubmitReceipt:
    """MusicGPT's answer to a successful submit."""

    task_id: str
    conversion_ids: tuple[str, ...]
    eta_seconds: int | None
    credit_estimate: float | None
    message: str = ""


@dataclass(frozen=True, slots=True)
class Output:
    """One generated song."""

    audio_url: str
    conversion_id: str | None = None
    duration: float | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class ConversionResult:
    """MusicGPT's view of a task, from `byId` or a webhook, whatever shape it came in."""

    status: ConversionStatus
    task_id: str | None = None
    conversion_ids: tuple[str, ...] = ()
    message: str | None = None
    outputs: tuple[Output, ...] = ()
    cost: float | None = None


@dataclass(frozen=True, slots=True)
class AudioSource:
    """Where the input audio is: a local file (downloaded attachment) or a URL MusicGPT fetches."""

    path: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.url is None):
            raise ValueError("exactly one of path and url must be set")


@dataclass(frozen=True, slots=True)
class Request:
    """Everything a user asked for, independent of Discord."""

    kind: TaskKind
    user_id: int
    guild_id: int | None
    channel_id: int
    prompt: str
    lyrics: str | None = None
    gender: Gender | None = None
    audio_url: str | None = None  # given by the user; passed to MusicGPT as is
    audio_filename: str | None = None  # original name of an uploaded attachment
    # Inpaint: the part replaced. Extend: `replace_start` is `extend_after` (the store's
    # column; see the `extend_after` property) and `replace_end` stays None.
    replace_start: float | None = None
    replace_end: float | None = None
    lyrics_section_to_replace: str | None = None
    num_outputs: int = 2
    upload_limit: int | None = None  # bytes the channel accepts per message, if Discord said
    # Lineage: the task (and its take, 1-based) a Rewrite or Again started from.
    parent_task_id: int | None = None
    parent_output: int | None = None
    # The member asked for a thread of its own (`bot.core.servers.threads.wants_thread`).
    thread_wanted: bool = False

    @property
    def extend_after(self) -> float | None:
        """An extend's seconds after which MusicGPT writes the new part (None for others)."""
        return self.replace_start if self.kind is TaskKind.EXTEND else None


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    """How much of today's quota a user has spent, and how many tasks they have in flight."""

    used_today: int
    active: int


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    """Generations a member may start per UTC day, and have in progress at once."""

    daily: int
    active: int


@dataclass(frozen=True, slots=True)
class QuotaRefusal:
    """Why a new task was not created: `daily` or `active` limit reached."""

    limit: str
    usage: QuotaUsage


@dataclass(frozen=True, slots=True)
class Task:
    """A request as the store keeps it, through its whole life."""

    id: int
    kind: TaskKind
    status: TaskStatus
    user_id: int
    guild_id: int | None
    channel_id: int
    prompt: str
    lyrics: str | None
    gender: Gender | None
    audio_url: str | None
    audio_path: str | None
    audio_filename: str | None
    audio_duration: float | None
    replace_start: float | None  # an extend's `extend_after` (see the property)
    replace_end: float | None
    lyrics_section_to_replace: str | None
    num_outputs: int
    upload_limit: int | None
    status_message_id: int | None
    musicgpt_task_id: str | None
    conversion_ids: tuple[str, ...]
    eta_seconds: int | None
    credit_estimate: float | None
    cost: float | None
    outputs: tuple[Output, ...]
    error: str | None
    quota_day: str
    quota_refunded: bool
    delivered_message_ids: tuple[int, ...]
    delivery_attempts: int
    webhook_seen: bool
    poll_count: int
    created_at: float  # unix seconds; the store and tracker share one clock
    submitted_at: float | None
    completed_at: float | None
    finished_at: float | None
    next_poll_at: float | None
    updated_at: float
    parent_task_id: int | None = None
    parent_output: int | None = None  # the parent's take (1-based), for a Rewrite
    # Content hash of an uploaded input, kept after submit (for Again) in the input store.
    input_sha256: str | None = None
    # A thread per song: asked for, then either opened (its id, which is the status message's)
    # or refused (a `bot.core.servers.threads.ThreadRefusal` value); never both.
    thread_wanted: bool = False
    thread_id: int | None = None
    thread_refusal: str | None = None
    waveform_state: WaveformState | None = None  # inpaints only (bot.core.media.waveform_jobs)
    # A DM copy for the requester (/notify): None when not wanted, else a
    # `bot.core.songs.notify.CopyState` value; the claims made so far, and the DM once sent.
    dm_state: str | None = None
    dm_attempts: int = 0
    dm_message_id: int | None = None

    @property
    def extend_after(self) -> float | None:
        """An extend's seconds after which MusicGPT writes the new part (None for others)."""
        return self.replace_start if self.kind is TaskKind.EXTEND else None

    @property
    def audio(self) -> AudioSource:
        return (
            AudioSource(url=self.audio_url) if self.audio_url else AudioSource(path=self.audio_path)
        )
