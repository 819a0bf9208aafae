"""Job states as clients see them, and how Celery's states map onto them."""

from enum import Enum


class JobStatus(str, Enum):
    # Waiting for its run_at time (a delayed job, or a schedule's queued run); then pending.
    SCHEDULED = "scheduled"
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})

# Celery state written by a worker -> the job status it means. States missing
# here (PENDING, RECEIVED, RETRY) do not change what a client sees.
CELERY_TO_JOB = {
    "STARTED": JobStatus.RUNNING,
    "PROGRESS": JobStatus.RUNNING,
    "SUCCESS": JobStatus.COMPLETED,
    "FAILURE": JobStatus.FAILED,
    "REVOKED": JobStatus.CANCELLED,
}

JOB_TO_CELERY = {
    JobStatus.RUNNING: "PROGRESS",
    JobStatus.COMPLETED: "SUCCESS",
    JobStatus.FAILED: "FAILURE",
    JobStatus.CANCELLED: "REVOKED",
}

# The custom Celery state used by the progress helper.
PROGRESS_STATE = "PROGRESS"


class BatchStatus(str, Enum):
    """A batch's own status (its items are ordinary jobs with JobStatus)."""

    PENDING = "pending"  # no item has started yet
    RUNNING = "running"  # some item started, not all are final
    COMPLETED = "completed"  # every item is final (some may have failed)
    CANCELLED = "cancelled"  # every item is final after a cancel of the batch

    def __str__(self) -> str:
        return self.value

    @property
    def is_final(self) -> bool:
        return self in (BatchStatus.COMPLETED, BatchStatus.CANCELLED)
