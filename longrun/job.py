"""The ``Job`` context a job kind's function receives: its id, progress, files
and log. The worker runtime (workers/job_task.py) builds it; a kind's function
never sees Celery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from longrun.artifacts import ArtifactStore

if TYPE_CHECKING:
    from longrun.jobstore import JobStore
    from longrun.steps import StepRunner

T = TypeVar("T")

# The logger a job logs to (``job.log``); what it logs is kept with the job: GET /jobs/{id}/logs.
JOB_LOGGER = "longrun.job"


class ProgressReporter(Protocol):
    """What a kind may do with its job's progress (workers/progress.py implements it)."""

    @property
    def interval(self) -> float:
        """Reports closer together than this (seconds) are coalesced."""

    def report(self, *, force: bool = False, **fields: Any) -> None:
        """Update progress (percentage, current_step, total_steps, step_name, message, or extras)."""

    def step(self, current_step: int, total_steps: int, step_name: str, message: str | None = None) -> None:
        """Start step ``current_step`` of ``total_steps`` (1-based); always written."""

    def check_cancelled(self) -> None:
        """Raise JobCancelled if a client asked to cancel."""

    def checkpointed(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into the progress and return it for a checkpoint write
        (longrun/steps.py) to carry; it counts as written."""


@dataclass
class Job:
    """What a job kind's function gets: its id, progress and files."""

    id: str
    attempt: int
    progress: ProgressReporter
    artifacts: ArtifactStore
    timeout_seconds: int
    # The job store, for kinds that keep state of their own in Redis (chat history).
    store: JobStore | None = None
    # Whatever the job logs (here or through any logger) is kept with it: GET /jobs/{id}/logs.
    log: logging.Logger = field(default_factory=lambda: logging.getLogger(JOB_LOGGER))
    # Durable steps (longrun/steps.py); None (unit tests of a kind) runs every step, keeping nothing.
    steps: StepRunner | None = None
    _position: int = field(default=0, init=False, repr=False)
    _total: int | None = field(default=None, init=False, repr=False)
    _name: str | None = field(default=None, init=False, repr=False)

    def step(self, name: str, fn: Callable[..., T], *args: Any, message: str | None = None, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` as the job's next step, a checkpoint.

        Its output (JSON) is stored with the job when it returns; when the job runs
        again (worker lost, warm shutdown), a finished step returns that output
        without running. The same steps must come in the same order each attempt
        (StepsChanged otherwise). What ``fn`` returns comes back as JSON would give it
        (tuples become lists). docs/steps.md.
        """
        if self.steps is not None:
            value: T = self.steps.run(name, fn, args, kwargs, message=message)
            return value
        self._position += 1
        self._name = name
        self.progress.step(self._position, self._total or self._position, name, message=message)
        return fn(*args, **kwargs)

    def plan(self, names: list[str] | None = None, total: int | None = None) -> None:
        """Say which steps are coming (shown as pending in the job document), or only how many."""
        self._total = len(names) if names is not None else total
        if self.steps is not None:
            if names is not None:
                self.steps.plan(names)
            else:
                self.steps.set_total(total)

    def partial(self) -> Any:
        """The running step's state saved by an earlier attempt (``save_partial``), or None."""
        return self.steps.partial() if self.steps is not None else None

    def save_partial(self, value: Any, **progress: Any) -> None:
        """Keep the running step's state so far (JSON), with a progress report, so a resumed
        attempt can go on from it; a worker shutting down stops the job here."""
        if self.steps is not None:
            self.steps.save_partial(value, **progress)
        elif progress:
            self.progress.report(**progress)

    def idempotency_key(self, step: str | None = None) -> str:
        """A key for an external side effect of ``step`` (default: the running one): the same
        in every attempt of this job, different for every other job and step. Send it as the
        other service's idempotency key so that a re-run step does not act twice."""
        if step is None:
            step = self.steps.current_name if self.steps is not None else self._name
        if not step:
            raise RuntimeError("idempotency_key() without a step name needs a running step")
        return f"longrun:{self.id}:{step}"

    def check_cancelled(self) -> None:
        """Raise JobCancelled if a client asked to cancel; call it in long loops."""
        self.progress.check_cancelled()

    def save_artifact(self, name: str, data: bytes | str) -> Any:
        return self.artifacts.save(self.id, name, data)
