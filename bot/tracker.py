"""The task tracker: from an accepted request to audio in the channel, exactly once.

Three loops, all driven by rows in the database so a restart loses nothing:

* the dispatcher sends queued tasks to MusicGPT while fewer than `max_parallel` are there;
* the poller asks `byId` about the submitted task due soonest, never faster than the poll
  budget allows, and sleeps until the next one is due or an event wakes it;
* deliveries claim a completed task in the database before posting, so only one poster wins.

Webhooks never deliver anything themselves: MusicGPT signs nothing, so a webhook only makes
its task due for a confirming `byId` poll now. Poll results go through `apply_update`, the
one idempotent path to `completed` or `failed`.

The Discord side is reached only through the injected `TaskPresenter`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.errors import (
    MusicGPTConfigurationError,
    MusicGPTError,
    MusicGPTOutOfCredits,
    MusicGPTSubmitUncertain,
    MusicGPTUnavailable,
    MusicGPTValidationError,
    PermanentDeliveryError,
    QuotaExceeded,
)
from bot.models import (
    AudioSource,
    ConversionResult,
    ConversionStatus,
    Gender,
    QuotaRefusal,
    QuotaUsage,
    Request,
    SubmitReceipt,
    Task,
    TaskKind,
    TaskStatus,
)
from bot.musicgpt.parse import parse_conversion
from bot.quota import refusal_message
from bot.store import Store

log = logging.getLogger(__name__)


class MusicGPTApi(Protocol):
    """The part of `bot.musicgpt.MusicGPTClient` the tracker uses."""

    async def submit_sing(
        self,
        *,
        prompt: str,
        lyrics: str,
        gender: Gender | None,
        audio: AudioSource,
        webhook_url: str | None,
    ) -> SubmitReceipt: ...

    async def submit_inpaint(
        self,
        *,
        prompt: str,
        replace_start: float,
        replace_end: float,
        lyrics: str | None,
        lyrics_section_to_replace: str | None,
        gender: Gender | None,
        num_outputs: int,
        audio: AudioSource,
        webhook_url: str | None,
    ) -> SubmitReceipt: ...

    async def get_conversion(
        self, kind: TaskKind, *, task_id: str | None = None, conversion_id: str | None = None
    ) -> ConversionResult: ...


class TaskPresenter(Protocol):
    """How the tracker shows tasks to people; implemented by the Discord side."""

    async def show_status(self, task: Task) -> None:
        """Create or refresh the task's status message."""

    async def deliver(self, task: Task) -> Sequence[int]:
        """Post the outputs; return the ids of the messages posted."""

    async def find_delivery(self, task: Task) -> Sequence[int] | None:
        """Ids of result messages already posted for this task (after a crash), or None."""


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    daily_quota: int = 5
    max_active: int = 2
    max_parallel: int = 1
    polls_per_minute: int = 20
    give_up_after: float = 30 * 60  # seconds past the eta before a task is declared lost
    webhook_base_url: str | None = None  # PUBLIC_BASE_URL + secret path; None = polling only
    default_eta: float = 60.0  # when MusicGPT gives none
    first_poll_margin: float = 0.1  # poll at eta * (1 + margin): most tasks are done by then
    webhook_grace: float = 30.0  # with webhooks, wait this much longer before polling
    min_poll_interval: float = 5.0
    max_poll_interval: float = 120.0
    delivery_attempts: int = 5
    delivery_backoff: float = 2.0


class PollBudget:
    """Spaces `byId` calls evenly so no 60-second window holds more than `per_minute`."""

    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self._spacing = 60.0 / per_minute
        self._clock = clock
        self._next_allowed = 0.0

    def wait_time(self) -> float:
        return max(0.0, self._next_allowed - self._clock())

    def spend(self) -> None:
        self._next_allowed = max(self._clock(), self._next_allowed) + self._spacing


def failure_message_for(error: Exception) -> str:
    """What the user reads when a submit goes wrong; never MusicGPT's internals or our keys."""
    if isinstance(error, MusicGPTValidationError):
        return f"MusicGPT refused the request: {error.user_message}"
    if isinstance(error, MusicGPTOutOfCredits):
        return "The bot's MusicGPT account is out of credits. Please tell the server owner."
    if isinstance(error, MusicGPTConfigurationError):
        return "The bot can't sign in to MusicGPT right now. Please tell the server owner."
    if isinstance(error, MusicGPTSubmitUncertain):
        return (
            "MusicGPT didn't confirm the request, so I stopped rather than risk running it "
            "twice. Please try again."
        )
    if isinstance(error, MusicGPTUnavailable):
        return "MusicGPT is unavailable right now. Please try again in a few minutes."
    return "Something went wrong sending this to MusicGPT. Please try again."


class Tracker:
    def __init__(
        self,
        store: Store,
        musicgpt: MusicGPTApi,
        config: TrackerConfig,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._musicgpt = musicgpt
        self._config = config
        self._clock = clock
        self._presenter: TaskPresenter | None = None
        self._budget = PollBudget(config.polls_per_minute, clock)
        self._dispatch_wakeup = asyncio.Event()
        self._poll_wakeup = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()
        self._delivering: set[int] = set()
        self._sent: dict[int, asyncio.Event] = {}  # set when a submit attempt has ended
        self._loops: list[asyncio.Task[None]] = []
        # Whether the last call reached MusicGPT (any HTTP answer counts); None before any.
        self.musicgpt_reachable: bool | None = None
        self.last_musicgpt_contact: float | None = None

    @property
    def store(self) -> Store:
        return self._store

    def attach(self, presenter: TaskPresenter) -> None:
        self._presenter = presenter

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume every unfinished task where it stood, then run the loops."""
        await self._recover()
        self._loops = [
            asyncio.create_task(self._dispatch_loop(), name="tracker-dispatch"),
            asyncio.create_task(self._poll_loop(), name="tracker-poll"),
        ]

    async def stop(self) -> None:
        for task in [*self._loops, *self._background]:
            task.cancel()
        await asyncio.gather(*self._loops, *self._background, return_exceptions=True)
        self._loops.clear()

    async def _recover(self) -> None:
        for task in await self._store.unfinished_tasks():
            if task.status is TaskStatus.SUBMITTING:
                # The process died mid-submit: MusicGPT may or may not have the task, and a
                # second submit could charge twice. Say so and give the generation back.
                # Spawned, not awaited: showing it waits for Discord, which start() must not.
                self._spawn(
                    self._fail(
                        task,
                        "The bot restarted while sending this to MusicGPT, so it was stopped "
                        "rather than risk running it twice. Please try again.",
                    ),
                    f"recover-{task.id}",
                )
            elif task.status in (TaskStatus.COMPLETED, TaskStatus.DELIVERING):
                self._start_delivery(task.id)
        # Queued and submitted tasks need nothing here: the loops below pick them up from
        # the database, and the presenter refreshes their status messages on its own beat.
        self._dispatch_wakeup.set()
        self._poll_wakeup.set()

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- requests --------------------------------------------------------------------------

    async def quota_usage(self, user_id: int) -> QuotaUsage:
        return await self._store.quota_usage(user_id, self._clock())

    async def check_quota(self, user_id: int) -> QuotaUsage:
        """Refuse early (before any upload) when a new request could not be accepted."""
        usage = await self.quota_usage(user_id)
        if usage.used_today >= self._config.daily_quota:
            raise QuotaExceeded(refusal_message(QuotaRefusal("daily", usage), self._limits()))
        if usage.active >= self._config.max_active:
            raise QuotaExceeded(refusal_message(QuotaRefusal("active", usage), self._limits()))
        return usage

    def _limits(self) -> tuple[int, int, float]:
        return self._config.daily_quota, self._config.max_active, self._clock()

    async def submit(
        self, request: Request, *, audio_path: Path | None = None, audio_duration: float | None
    ) -> Task:
        """Charge quota and queue the request; MusicGPT gets it when a slot is free."""
        created = await self._store.create_task(
            request,
            now=self._clock(),
            daily_quota=self._config.daily_quota,
            max_active=self._config.max_active,
            audio_path=str(audio_path) if audio_path else None,
            audio_duration=audio_duration,
        )
        if isinstance(created, QuotaRefusal):
            raise QuotaExceeded(refusal_message(created, self._limits()))
        await self._show(created)
        self._dispatch_wakeup.set()
        return created

    async def wait_until_sent(self, task_id: int, wait_seconds: float) -> Task | None:
        """The task once MusicGPT accepted or refused it, or as it stands after `wait_seconds`.

        Lets the command answer "MusicGPT said no: …" privately when that comes quickly,
        instead of only on the public status message.
        """
        sent = self._sent.setdefault(task_id, asyncio.Event())
        task = await self._store.get_task(task_id)
        if task is not None and task.status in (TaskStatus.QUEUED, TaskStatus.SUBMITTING):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sent.wait(), wait_seconds)
            task = await self._store.get_task(task_id)
        self._sent.pop(task_id, None)
        return task

    async def queue_position(self, task_id: int) -> int:
        return await self._store.queue_position(task_id)

    async def unfinished_tasks(self) -> list[Task]:
        return await self._store.unfinished_tasks()

    # --- dispatch --------------------------------------------------------------------------

    async def _dispatch_loop(self) -> None:
        while True:
            await self._dispatch_wakeup.wait()
            self._dispatch_wakeup.clear()
            try:
                while await self._store.count_in_flight() < self._config.max_parallel:
                    task = await self._store.claim_next_queued(self._clock())
                    if task is None:
                        break
                    self._spawn(self._submit(task), f"submit-{task.id}")
            except Exception:
                log.exception("dispatcher failed; retrying shortly")
                await asyncio.sleep(1)
                self._dispatch_wakeup.set()

    def webhook_url_for(self, task_id: int) -> str | None:
        base = self._config.webhook_base_url
        return f"{base}/{task_id}" if base else None

    async def _send_to_musicgpt(self, task: Task) -> SubmitReceipt:
        common: dict[str, Any] = {
            "prompt": task.prompt,
            "gender": task.gender,
            "audio": task.audio,
            "webhook_url": self.webhook_url_for(task.id),
        }
        if task.kind is TaskKind.SING:
            return await self._musicgpt.submit_sing(lyrics=task.lyrics or "", **common)
        assert task.replace_start is not None and task.replace_end is not None  # noqa: S101
        return await self._musicgpt.submit_inpaint(
            replace_start=task.replace_start,
            replace_end=task.replace_end,
            lyrics=task.lyrics,
            lyrics_section_to_replace=task.lyrics_section_to_replace,
            num_outputs=task.num_outputs,
            **common,
        )

    async def _submit(self, task: Task) -> None:
        try:
            receipt = await self._send_to_musicgpt(task)
        except MusicGPTError as error:
            self._note_contact(error)
            if isinstance(error, MusicGPTConfigurationError):
                log.error("MusicGPT rejected the API key; check MUSICGPT_API_KEY")
            else:
                log.warning("submit of task %s failed: %s", task.id, type(error).__name__)
            await self._fail(task, failure_message_for(error))
        except Exception as error:
            log.exception("submit of task %s failed unexpectedly", task.id)
            await self._fail(task, failure_message_for(error))
        else:
            self._note_contact(None)
            await self._on_submitted(task, receipt)
        finally:
            if sent := self._sent.get(task.id):
                sent.set()
            self._dispatch_wakeup.set()

    async def _on_submitted(self, task: Task, receipt: SubmitReceipt) -> None:
        now = self._clock()
        eta = self._eta(receipt.eta_seconds)
        first_poll = now + eta * (1 + self._config.first_poll_margin)
        if self._config.webhook_base_url:
            first_poll += self._config.webhook_grace
        submitted = await self._store.mark_submitted(
            task.id, receipt, next_poll_at=first_poll, now=now
        )
        _remove_file(task.audio_path)
        if submitted is None:
            return
        if submitted.webhook_seen:  # the webhook beat the submit's own answer
            await self._store.schedule_poll(task.id, at=now, polled=False, now=now)
        self._poll_wakeup.set()
        await self._show(submitted)

    # --- webhooks --------------------------------------------------------------------------

    async def handle_webhook(self, task_id: int, payload: Mapping[str, Any]) -> None:
        """A webhook is a hint, not a result: it makes the task due for a confirming poll."""
        result = parse_conversion(payload)
        if result.status is ConversionStatus.UNKNOWN:
            return  # lyrics timestamps and other `subtype` extras carry no status
        task = await self._store.get_task(task_id)
        if task is None or task.status not in (TaskStatus.SUBMITTING, TaskStatus.SUBMITTED):
            return
        if task.musicgpt_task_id and result.task_id and result.task_id != task.musicgpt_task_id:
            log.warning("webhook for task %s names another MusicGPT task; ignored", task_id)
            return
        await self._store.note_webhook(task_id, self._clock())
        self._poll_wakeup.set()

    # --- polling ---------------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        while True:
            try:
                await self._poll_next_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("poller failed; retrying shortly")
                await asyncio.sleep(1)

    async def _sleep_or_wake(self, seconds: float | None) -> None:
        self._poll_wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._poll_wakeup.wait(), seconds)

    async def _poll_next_due(self) -> None:
        due = await self._store.next_poll()
        if due is None:
            await self._sleep_or_wake(None)
            return
        task_id, due_at = due
        wait = max(due_at - self._clock(), self._budget.wait_time())
        if wait > 0:
            await self._sleep_or_wake(wait)
            return  # re-read: something sooner may have become due meanwhile
        task = await self._store.get_task(task_id)
        if task is None or task.status is not TaskStatus.SUBMITTED:
            return
        self._budget.spend()
        await self._poll(task)

    async def _poll(self, task: Task) -> None:
        assert task.musicgpt_task_id is not None  # noqa: S101 - submitted tasks have one
        try:
            result = await self._musicgpt.get_conversion(task.kind, task_id=task.musicgpt_task_id)
        except MusicGPTError as error:
            self._note_contact(error)
            log.warning("poll of task %s failed: %s", task.id, type(error).__name__)
            await self._poll_later(task)
            return
        self._note_contact(None)
        if result.status.is_final:
            await self.apply_update(task.id, result)
        else:
            await self._poll_later(task)

    def _eta(self, eta_seconds: int | None) -> float:
        return float(self._config.default_eta if eta_seconds is None else eta_seconds)

    def _poll_delay(self, task: Task) -> float:
        eta = self._eta(task.eta_seconds)
        delay = eta * 0.25 * (1.5 ** max(task.poll_count, 0))
        return min(max(delay, self._config.min_poll_interval), self._config.max_poll_interval)

    async def _poll_later(self, task: Task) -> None:
        now = self._clock()
        eta = self._eta(task.eta_seconds)
        deadline = (task.submitted_at or task.created_at) + eta + self._config.give_up_after
        if now >= deadline:
            minutes = round(self._config.give_up_after / 60)
            await self._fail(
                task,
                f"MusicGPT didn't finish this within {minutes} minutes of its estimate, "
                "so I gave up waiting.",
            )
            return
        next_at = min(now + self._poll_delay(task), deadline)
        await self._store.schedule_poll(task.id, at=next_at, polled=True, now=now)

    def _note_contact(self, error: Exception | None) -> None:
        reached = not isinstance(error, (MusicGPTUnavailable, MusicGPTSubmitUncertain))
        self.musicgpt_reachable = reached
        if reached:
            self.last_musicgpt_contact = self._clock()

    # --- the one update path ---------------------------------------------------------------

    async def apply_update(self, task_id: int, result: ConversionResult) -> Task | None:
        """Record a final result from MusicGPT. Repeats and late arrivals change nothing."""
        if result.status.is_failure:
            reason = result.message or "MusicGPT couldn't generate this song."
            return await self._fail_by_id(task_id, f"MusicGPT failed: {reason}")
        if result.status is not ConversionStatus.COMPLETED:
            return None
        if not result.outputs:
            return await self._fail_by_id(task_id, "MusicGPT finished but sent back no audio.")
        completed = await self._store.mark_completed(
            task_id, result.outputs, result.cost, self._clock()
        )
        if completed is not None:
            self._dispatch_wakeup.set()
            await self._show(completed)
            self._start_delivery(task_id)
        return completed

    # --- delivery --------------------------------------------------------------------------

    def _start_delivery(self, task_id: int) -> None:
        if task_id not in self._delivering:
            self._delivering.add(task_id)
            self._spawn(self._deliver(task_id), f"deliver-{task_id}")

    async def _deliver(self, task_id: int) -> None:
        try:
            for attempt in range(self._config.delivery_attempts):
                if await self._try_delivery(task_id):
                    return
                await asyncio.sleep(self._config.delivery_backoff * (2**attempt))
            task = await self._store.get_task(task_id)
            if task is not None:
                await self._fail(
                    task,
                    "The song was ready, but I couldn't post it to this channel. "
                    "Your generation was refunded.",
                )
        finally:
            self._delivering.discard(task_id)

    async def _try_delivery(self, task_id: int) -> bool:
        """One attempt; True when the task needs no more delivery attempts."""
        now = self._clock()
        task = await self._store.get_task(task_id)
        if task is not None and task.status is TaskStatus.DELIVERING:
            # Claimed by a run that died or an attempt that failed mid-way: take it back.
            await self._store.release_delivery(task_id, now)
        task = await self._store.claim_delivery(task_id, now)
        if task is None:
            return True  # delivered, failed, or not completed: nothing for us to do
        presenter = self._require_presenter()
        try:
            message_ids: Sequence[int] | None = None
            if task.delivery_attempts > 1:
                # An earlier claim may have posted before dying; never post twice.
                message_ids = await presenter.find_delivery(task)
            if not message_ids:
                message_ids = await presenter.deliver(task)
        except PermanentDeliveryError as error:
            log.warning("delivery of task %s impossible: %s", task_id, error)
            await self._fail(task, error.user_message)
            return True
        except Exception:
            log.exception("delivery of task %s failed; will retry", task_id)
            await self._store.release_delivery(task_id, self._clock())
            return False
        delivered = await self._store.mark_delivered(task_id, message_ids, self._clock())
        if delivered is not None:
            await self._show(delivered)
        return True

    # --- shared helpers --------------------------------------------------------------------

    def _require_presenter(self) -> TaskPresenter:
        if self._presenter is None:
            raise RuntimeError("Tracker.attach(presenter) must be called before start()")
        return self._presenter

    async def _fail_by_id(self, task_id: int, reason: str) -> Task | None:
        task = await self._store.get_task(task_id)
        return await self._fail(task, reason) if task else None

    async def _fail(self, task: Task, reason: str) -> Task | None:
        failed = await self._store.mark_failed(task.id, reason, self._clock())
        _remove_file(task.audio_path)
        if failed is not None:
            self._dispatch_wakeup.set()
            await self._show(failed)
        return failed

    async def _show(self, task: Task) -> None:
        """Status messages are best effort: a Discord hiccup must never stall a task."""
        if self._presenter is None:
            return
        try:
            await self._presenter.show_status(task)
        except Exception:
            log.exception("couldn't show the status of task %s", task.id)


def _remove_file(path: str | None) -> None:
    if path:
        Path(path).unlink(missing_ok=True)
