"""The one progress helper every job kind reports through.

A report becomes Celery's ``update_state`` (state PROGRESS), which our result
backend turns into the job's progress, a sequenced event for the live stream,
and webhooks. Reports closer together than ``progress_interval_seconds`` are
coalesced: nobody can watch 1,000 updates a second, and each write costs a
Redis round trip. A report held back is written at the next report, step or
cancellation check once the interval has passed, by the watchdog thread if the
job goes quiet, or with the job's final state. Every report is also a
cancellation check.
"""

import threading
import time
from collections.abc import Callable

from longrun.errors import JobCancelled
from longrun.states import PROGRESS_STATE

FIELDS = ("percentage", "current_step", "total_steps", "step_name", "message")


def paced(settings, running: Callable[[], int]) -> Callable[[], float]:
    """A job's coalescing interval, as it is now: the configured one, or longer while
    its process runs so many jobs (``running()``) that it would write more than
    ``progress_writes_per_second`` reports a second in all (each is a Redis script)."""
    base, budget = settings.progress_interval_seconds, settings.progress_writes_per_second
    if budget <= 0:
        return lambda: base
    return lambda: max(base, running() / budget)


class ProgressReporter:
    def __init__(
        self,
        task,
        job_id: str,
        cancel_event: threading.Event,
        interval: float | Callable[[], float],
        written_at: float = float("-inf"),
        stop_error: Callable[[], BaseException] | None = None,
    ):
        """``interval``: seconds, or what gives them now (``paced``).
        ``written_at``: when (monotonic) the job's last event was written, e.g.
        by its claim; reports within ``interval`` after it are coalesced.
        ``stop_error``: what to raise once ``cancel_event`` is set (JobCancelled,
        or JobTimedOut when the watchdog stopped the job at its timeout)."""
        self.task = task
        self.job_id = job_id
        self.cancel_event = cancel_event
        self._interval = interval if callable(interval) else (lambda: interval)
        self.state: dict = {"percentage": 0, "current_step": 0, "total_steps": None, "step_name": None, "message": None}
        self._last_flush = written_at
        self._dirty = False
        self._lock = threading.Lock()  # the watchdog thread may flush too
        # Celery's request is thread-local: keep the job's for the watchdog's writes.
        # The job may also run in a thread of its own (workers/pools.py), where it is not set.
        self._request = getattr(task, "request", None)
        # Celery's app.backend is thread-local too: a job thread of its own (or the
        # watchdog) asking for it would build a new backend (a Redis pool, a package
        # metadata scan) per job. The task thread's is used from every thread.
        self._backend = task.backend if self._request is not None else None
        self._stop_error = stop_error or (lambda: JobCancelled("the job was cancelled"))

    @property
    def interval(self) -> float:
        """Reports closer together than this are coalesced."""
        return self._interval()

    @property
    def written_at(self) -> float:
        """When (monotonic) the job's last event was written."""
        return self._last_flush

    def _due(self) -> bool:
        return time.monotonic() - self._last_flush >= self.interval

    def check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise self._stop_error()
        if self._dirty and self._due():
            self.flush()

    def report(self, *, force: bool = False, **fields) -> None:
        """Update progress; any of FIELDS, plus kind-specific extras (e.g. partial output)."""
        if self.cancel_event.is_set():
            raise self._stop_error()
        with self._lock:
            self.state.update(fields)
            if "percentage" not in fields and self.state.get("total_steps"):
                self.state["percentage"] = round(100 * self.state["current_step"] / self.state["total_steps"], 1)
            self._dirty = True
        if force or self._due():
            self.flush()

    def step(self, current_step: int, total_steps: int, step_name: str, message: str | None = None) -> None:
        """Start step ``current_step`` of ``total_steps`` (1-based).

        Coalesced like any report: a job of 400 quick steps writes at most one
        event per interval (the docs promise at most 5 a second), and a step held
        back is written once due, by the watchdog, or with the final state."""
        self.report(
            current_step=current_step,
            total_steps=total_steps,
            step_name=step_name,
            message=message,
            percentage=round(100 * (current_step - 1) / total_steps, 1),
        )

    def flush(self) -> None:
        with self._lock:
            if self._dirty:
                self._store()

    def flush_due(self) -> None:
        """From the watchdog thread: write a report held back for longer than the interval."""
        if not (self._dirty and self._due()) or self._request is None:
            return
        with self._lock:
            # Again under the lock: the job's own thread may have just written.
            if self._dirty and self._due():
                self._store()

    def checkpointed(self, **fields) -> dict:
        """Merge ``fields`` and hand the whole state to a checkpoint write (longrun/steps.py),
        which carries it as its progress event: nothing is left to write."""
        with self._lock:
            self.state.update(fields)
            self._written()
            return dict(self.state)

    def take_pending(self) -> dict | None:
        """The progress not yet written, if any, for the job's final state to carry."""
        with self._lock:
            if not self._dirty:
                return None
            self._dirty = False
            return dict(self.state)

    def _store(self) -> None:
        # Celery's update_state, with the job's own request: the job may run in a
        # thread of its own, where Celery's (thread-local) request is not set.
        if self._request is None or self._backend is None:
            self.task.update_state(task_id=self.job_id, state=PROGRESS_STATE, meta=dict(self.state))
        else:
            self._backend.store_result(self.job_id, dict(self.state), PROGRESS_STATE, request=self._request)
        self._written()

    def _written(self) -> None:
        self._last_flush = time.monotonic()
        self._dirty = False
