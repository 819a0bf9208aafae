"""The base class of every job kind's Celery task.

A job's task receives only its id. It claims the job (one Lua round trip:
is it still wanted, is another copy running, how many attempts so far),
runs the kind's plain function with a ``Job`` context (longrun/job.py), and
lets Celery store the outcome through our result backend. The kind's function
never sees Celery.
"""

import logging
import os
import time
import uuid
from typing import Any, cast

from billiard.exceptions import WorkerLostError
from celery import Task
from celery.exceptions import Ignore, Reject, SoftTimeLimitExceeded
from celery.worker.request import Request

from longrun.errors import JobCancelled, JobRequeued, JobTimedOut, LeaseLost, NotReplicated, ServiceUnavailable
from longrun.job import Job
from longrun.settings import get_settings
from longrun.states import JobStatus
from longrun.steps import StepRunner, flat_entries, parse_entries
from workers import drain, job_logs, pools
from workers.progress import ProgressReporter, paced
from workers.publish import publish_job
from workers.store import artifact_store, job_store, lost_outcome, step_store
from workers.watchdog import RunningJob, watchdog

log = logging.getLogger(__name__)

# How long a job's claim waits for Redis to come back (a restart, a failover) before it gives the message back.
CLAIM_PATIENCE_SECONDS = 15.0


class JobRequest(Request):
    """Frees the lease of a job whose pool process died, so that its
    redelivered copy can start at once instead of waiting for the lease to lapse."""

    def on_failure(self, exc_info, send_failed_event=True, return_ok=False):
        exc = getattr(exc_info.exception, "exc", exc_info.exception)  # ExceptionWithTraceback wraps it
        # billiard >= 4.3 may report the child's exit as SystemExit; Celery treats
        # it as a lost worker unless the worker itself cancelled or revoked the job.
        lost = isinstance(exc, WorkerLostError) or (
            isinstance(exc, (SystemExit, KeyboardInterrupt)) and not (self._already_cancelled or self._already_revoked)
        )
        if lost and self.worker_pid:
            try:
                job_store().release_lease(self.id, holder=f"{self.hostname}:{self.worker_pid}:")
            except Exception:  # the lease then lapses on its own
                log.warning("could not free the lease of job %s", self.id)
        return super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)


class JobTask(Task):
    typing = False
    Request = JobRequest
    acks_late = True
    reject_on_worker_lost = True

    def __call__(self, job_id: str):
        store = job_store()
        settings = get_settings()
        token = f"{self.request.hostname}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        lost_error, lost_meta = lost_outcome(settings.max_attempts)
        claim = self._claim(store, job_id, token, lost_error, lost_meta)
        # busy: another copy holds the lease (a redelivery while it still runs):
        # that copy finishes the job, or the reaper re-queues it should its
        # worker vanish; no countdown message is parked here (docs/flow-control.md).
        if claim.verdict != "run":
            log.info("job %s not run: %s", job_id, claim.verdict)
            self._confirm_replicated(job_id)
            raise Ignore()

        timeout = int(self.request.timelimit[1] or 0) if self.request.timelimit else 0
        # Outside prefork the watchdog enforces the timeout (Celery's limits exist only there).
        watched = pools.watched()
        running = RunningJob(job_id, token, timeout=timeout, grace=settings.job_grace_seconds, watched=watched)
        self.request.longrun_token = token  # the backend's writes for this attempt carry it
        # The claim has just written the "running" event: a report right after
        # it is coalesced like any other, not written a second time at once.
        progress = ProgressReporter(
            self,
            job_id,
            running.cancel_event,
            paced(settings, watchdog.count),
            written_at=time.monotonic(),
            stop_error=running.stop_error,
        )
        running.progress = progress
        artifacts = artifact_store(settings.artifacts_dir)
        job = Job(
            id=job_id,
            attempt=claim.attempts,
            progress=progress,
            artifacts=artifacts,
            timeout_seconds=timeout,
            store=store,
            steps=StepRunner(
                step_store(),
                job_id,
                token,
                claim.attempts,
                progress,
                artifacts,
                draining=drain.requested,
                output_max_bytes=settings.step_output_max_bytes,
                loaded=(parse_entries(claim.steps), claim.step_outputs or {}) if claim.steps is not None else None,
                written_at=progress.written_at,
            ),
        )
        logs = job_logs.handler()
        log_tail: list[dict | None] = [None]
        step_tail: list[dict[int, dict] | None] = [None]

        def work():
            logs.start_job(job_id)  # in the job's own thread: its records are the job's
            try:
                return self.run(job, **cast(dict[str, Any], claim.input))  # a "run" claim has one
            finally:
                # In the task's own thread the held checkpoints and the log's last lines ride on
                # the final state's write; a watched job's thread may outlive its task, so it
                # writes its own.
                step_tail[0] = self._close_steps(job, defer=not watched)
                log_tail[0] = logs.end_job(job_id, defer=not watched)

        watchdog.start_job(running)
        try:
            return pools.run_watched(running, work) if watched else work()
        except JobRequeued as exc:
            self._write_steps(job_id, token, step_tail)  # the next attempt resumes from them
            watchdog.stop_beating(running)  # a late heartbeat would take the freed lease back
            self._write_log_tail(logs, job_id, log_tail)
            self._requeue(job_id, token, str(exc))
        except LeaseLost:
            self._write_log_tail(logs, job_id, log_tail)
            raise Ignore() from None
        except JobCancelled:
            if running.lease_lost:  # another attempt runs the job: leave it to that one
                self._write_log_tail(logs, job_id, log_tail)
                raise Ignore() from None
            self._cancelled(job_id, progress, log_tail.pop(), step_tail.pop())
        except SoftTimeLimitExceeded:
            if running.cancel_event.is_set() or running.interrupted:
                self._cancelled(job_id, progress, log_tail.pop(), step_tail.pop())
            raise JobTimedOut(f"the job ran past its timeout of {timeout} seconds") from None
        finally:
            watchdog.end_job(running)
            # Progress still held back, and the log's last lines, ride on the final state's write (result_backend).
            self.request.longrun_progress = progress.take_pending()
            self.request.longrun_log_tail = log_tail[0] if log_tail else None
            self.request.longrun_steps = flat_entries(step_tail[0]) if step_tail and step_tail[0] else None

    @staticmethod
    def _write_log_tail(logs, job_id: str, log_tail: list) -> None:
        """No final state is written by this attempt: its log's end goes on its own."""
        if log_tail and log_tail[0] is not None:
            logs.write_tail(job_id, log_tail.pop())

    @staticmethod
    def _close_steps(job: Job, defer: bool) -> dict[int, dict] | None:
        """Checkpoints of quick steps held back (longrun/steps.py) go before the final state,
        or with ``defer`` in it: then their timeline entries are returned for it to carry."""
        if job.steps is None:
            return None
        if defer:
            return job.steps.detach()
        try:
            job.steps.close()
        except Exception as exc:  # lease lost, job over, Redis away: the final state still goes
            log.warning("job %s: held checkpoints not written: %s", job.id, exc)
        return None

    @staticmethod
    def _write_steps(job_id: str, token: str, step_tail: list) -> None:
        """No final state is written by this attempt: its held timeline entries go on their own."""
        if step_tail and step_tail[0]:
            step_store().write(job_id, token, entries=step_tail[0])

    def _requeue(self, job_id: str, token: str, why: str):
        """Warm shutdown: the job stopped at a step boundary; back to its queue, the attempt not charged."""
        job = step_store().requeue(job_id, token)
        if job is not None:
            publish_job(self.app, get_settings(), job_id, job["kind"], job["priority"], job["timeout"])
            log.info("job %s re-queued: %s", job_id, why)
        raise Ignore()

    @staticmethod
    def _claim(store, job_id: str, token: str, lost_error: dict, lost_meta: str):
        """The claim, waiting out a Redis restart or failover (the same token makes
        a repeated claim the same attempt, lua/claim.lua). Past the patience the
        message goes back to its queue instead of the job failing."""
        deadline = time.monotonic() + CLAIM_PATIENCE_SECONDS
        while True:
            try:
                return store.claim(job_id, token, lost_error=lost_error, lost_meta=lost_meta)
            except ServiceUnavailable as exc:
                if time.monotonic() > deadline:
                    raise Reject(f"job {job_id}: {exc}", requeue=True) from None
                time.sleep(0.5)

    def _confirm_replicated(self, job_id: str) -> None:
        """Ignore acks the message: with LONGRUN_REDIS_MIN_REPLICAS only once the
        state that made it redundant is on the replicas (a copy requeued because
        its final state was not, see result_backend). Else look again later."""
        try:
            job_store().confirm_replicated()
        except NotReplicated as exc:
            log.warning("job %s: %s; acking its message later", job_id, exc)
            raise self.retry(
                countdown=max(1, int(get_settings().redis_replica_timeout_seconds * 2)), max_retries=None
            ) from None

    @staticmethod
    def _cancelled(
        job_id: str, progress: ProgressReporter, log_tail: dict | None = None, steps: dict[int, dict] | None = None
    ):
        job_store().transition(
            job_id,
            JobStatus.CANCELLED,
            progress=progress.take_pending(),
            error={"type": "Cancelled", "message": "cancelled while running"},
            log_tail=log_tail,
            steps=flat_entries(steps) if steps else None,
        )
        raise Ignore()
