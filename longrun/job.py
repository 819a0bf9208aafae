"""The ``Job`` context a job kind's function receives: its id, progress, files
and log. The worker runtime (workers/job_task.py) builds it; a kind's function
never sees Celery.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from longrun.artifacts import ArtifactStore

if TYPE_CHECKING:
    from longrun.jobstore import JobStore

# The logger a job logs to (``job.log``); what it logs is kept with the job: GET /jobs/{id}/logs.
JOB_LOGGER = "longrun.job"


class ProgressReporter(Protocol):
    """What a kind may do with its job's progress (workers/progress.py implements it)."""

    # Reports closer together than this (seconds) are coalesced.
    interval: float

    def report(self, *, force: bool = False, **fields: Any) -> None:
        """Update progress (percentage, current_step, total_steps, step_name, message, or extras)."""

    def step(self, current_step: int, total_steps: int, step_name: str, message: str | None = None) -> None:
        """Start step ``current_step`` of ``total_steps`` (1-based); always written."""

    def check_cancelled(self) -> None:
        """Raise JobCancelled if a client asked to cancel."""


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

    def check_cancelled(self) -> None:
        """Raise JobCancelled if a client asked to cancel; call it in long loops."""
        self.progress.check_cancelled()

    def save_artifact(self, name: str, data: bytes | str) -> Any:
        return self.artifacts.save(self.id, name, data)
