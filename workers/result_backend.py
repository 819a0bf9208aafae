"""Celery's Redis result backend, with job state changes made atomic.

Every state a job's task reaches (progress, success, failure, revoked; written
by the pool process, the worker's main process or the API) passes through
``_store_result``. For job tasks we hand it to the job store's transition
script, which in one round trip writes Celery's meta, updates the job record
and its status index, and appends the event that the live stream and webhooks
read. It also replaces Celery's read-then-write check against overwriting a
SUCCESS (two round trips, racy) with an atomic "final states are final".
With LONGRUN_REDIS_MIN_REPLICAS a final state must reach that many replicas
before the message is acked: if it does not in time, the message is requeued
(not acked), and the copy that comes back acks only once it has (job_task).
The same behaviour serves Celery's Redis backend and its Sentinel backend.
"""

import json

from celery.backends.redis import RedisBackend, SentinelBackend
from celery.exceptions import Reject

from longrun import keys
from longrun.errors import NotReplicated, ServiceUnavailable
from longrun.states import CELERY_TO_JOB, JobStatus
from workers.store import job_store

TIMEOUT_TYPES = {"SoftTimeLimitExceeded", "TimeLimitExceeded", "JobTimedOut"}


def describe_error(encoded) -> dict:
    """Celery's encoded exception -> the job document's ``error``."""
    if not isinstance(encoded, dict):
        return {"type": "Error", "message": str(encoded)}
    exc_type = encoded.get("exc_type", "Error")
    args = encoded.get("exc_message") or []
    message = " ".join(str(a) for a in args) if isinstance(args, (list, tuple)) else str(args)
    if exc_type in TIMEOUT_TYPES:
        return {"type": "Timeout", "message": message or "the job ran past its time limit"}
    if exc_type == "WorkerLostError":
        return {"type": "WorkerLost", "message": message or "the worker running the job died"}
    if isinstance(args, (list, tuple)) and len(args) == 2 and isinstance(args[1], dict):
        # An exception raised as (message, {details}) keeps its details (e.g. a backend's refusal).
        return {"type": exc_type, "message": str(args[0]) or exc_type, "details": args[1]}
    return {"type": exc_type, "message": message or exc_type}


class LongrunBackendMixin(RedisBackend):
    """Celery's Redis backend with our writes; mixed in before its SentinelBackend too."""

    def exception_safe_to_retry(self, exc):
        """The job store turns Redis connection errors into ServiceUnavailable:
        retry those as Celery retries its own (result_backend_always_retry), so
        that a progress report or a final state written during a Redis restart
        or failover waits for Redis instead of failing the job."""
        if isinstance(exc, ServiceUnavailable) and not isinstance(exc, NotReplicated):
            return True
        return super().exception_safe_to_retry(exc)

    def on_task_call(self, producer, task_id):
        """Publishing does not subscribe to the task's result channel.

        Celery's Redis backend subscribes the publishing process to every task
        it sends (and unsubscribes when the AsyncResult is collected), for an
        ``AsyncResult.get()`` that Longrun never makes: the API follows jobs
        through the job store and its event stream. That was two more Redis
        writes per submit whose replies nobody reads. ``get()`` still works:
        it subscribes when it waits.
        """

    def _store_result(self, task_id, result, state, traceback=None, request=None, **kwargs):
        if not keys.is_job_task(getattr(request, "task", None)):
            return super()._store_result(task_id, result, state, traceback, request, **kwargs)
        status = CELERY_TO_JOB.get(state)
        if status is None:  # RETRY and friends change nothing a client sees
            return result
        meta = self._get_result_meta(result=result, state=state, traceback=traceback, request=request)
        meta["task_id"] = task_id
        progress = error = None
        if status == JobStatus.RUNNING:
            progress = result if isinstance(result, dict) else None
        else:  # the job's last progress, if its reporter still held it back
            progress = getattr(request, "longrun_progress", None)
        if status == JobStatus.FAILED:
            error = describe_error(result)
        # The attempt's token: its writes are refused once another attempt holds the job.
        token = getattr(request, "longrun_token", None)
        # A final state carries the job log's last lines into the same script (workers/job_logs.py).
        log_tail = getattr(request, "longrun_log_tail", None) if status.is_final else None
        # ... and the step timeline entries held back at the job's end (longrun/steps.py).
        steps = getattr(request, "longrun_steps", None) if status.is_final else None
        store = job_store()
        try:
            seq = store.transition(
                task_id,
                status,
                progress=progress,
                error=error,
                meta=json.dumps(meta),
                replicate=status.is_final,
                token=token,
                log_tail=log_tail,
                steps=steps,
            )
            if status.is_final and seq is None:  # already final (another write): that one must be replicated
                store.confirm_replicated()
        except NotReplicated as exc:
            # Raised out of the tracer as it is, Reject makes the worker requeue
            # the message instead of acking it.
            raise Reject(str(exc), requeue=True) from exc
        return result


class LongrunBackend(LongrunBackendMixin):
    """One Redis (REDIS_URL / CELERY_RESULT_BACKEND)."""


class LongrunSentinelBackend(LongrunBackendMixin, SentinelBackend):
    """The master that LONGRUN_REDIS_SENTINELS names (longrun/redis_conn.py)."""
