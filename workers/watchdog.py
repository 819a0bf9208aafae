"""A thread in each pool process that keeps the running job's lease alive and
watches for a cancel request.

Every ``heartbeat_seconds`` it renews the lease and heartbeat in one atomic
round trip (lua/renew.lua: only this attempt's own lease; an attempt that
finds another attempt holding it stops at its next progress report, without
touching the job) and reads the job's cancel flag, which lives in Redis and so
survives worker restarts; it also writes a progress report the job's reporter
held back (coalescing) if the job has gone quiet since. When the flag is seen
the job's cancel event is set
(the progress helper raises at the next report); if the job ignores it for
``cancel_grace_seconds`` the main thread is interrupted (billiard's soft time
limit signal); if that does not end it either, the process is killed and the
job, already marked cancelled, is skipped when it is redelivered.
"""

import logging
import os
import signal
import threading
import time
from typing import TYPE_CHECKING

from longrun.errors import REDIS_UNREACHABLE
from longrun.states import JobStatus
from workers.store import job_store

if TYPE_CHECKING:
    from workers.progress import ProgressReporter

log = logging.getLogger(__name__)


class RunningJob:
    def __init__(self, job_id: str, token: str):
        self.job_id = job_id
        self.token = token
        self.cancel_event = threading.Event()
        self.cancel_seen_at: float | None = None
        self.interrupted = False
        self.done = False
        # Set when another attempt holds the job's lease: this copy must stop
        # without touching the job (the other attempt owns it now).
        self.lease_lost = False
        self.progress: ProgressReporter | None = None  # its ProgressReporter: the watchdog writes reports it held back


class Watchdog:
    def __init__(self):
        self._current: RunningJob | None = None
        self._lock = threading.Lock()
        self._beating = threading.Lock()  # held while a heartbeat is in flight
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def start_job(self, job: RunningJob) -> None:
        with self._lock:
            self._current = job
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._loop, name="longrun-watchdog", daemon=True)
            self._thread.start()

    def end_job(self, job: RunningJob) -> None:
        with self._lock:
            job.done = True
            if self._current is job:
                self._current = None

    def stop_beating(self, job: RunningJob) -> None:
        """End the job's heartbeats now, waiting out one in flight: a job handed back
        to its queue must not have its freed lease renewed by a late beat."""
        self.end_job(job)
        with self._beating:
            pass

    def _loop(self) -> None:
        store = job_store()
        settings = store.settings
        while True:
            time.sleep(settings.heartbeat_seconds)
            with self._lock:
                job = self._current
            if job is None:
                continue
            with self._beating:
                if job.done:  # ended meanwhile (stop_beating): its lease is not ours to renew
                    continue
                try:
                    self._beat(store, job)
                    if job.progress is not None and not (job.done or job.lease_lost):
                        job.progress.flush_due()
                except REDIS_UNREACHABLE:
                    log.warning("watchdog: Redis unreachable, will retry")
                except Exception:  # the watchdog must outlive any one bad beat
                    log.exception("watchdog: heartbeat failed")

    def _beat(self, store, job: RunningJob) -> None:
        settings = store.settings
        now = time.time()
        lease, cancelled = store.renew(job.job_id, job.token)
        if lease == "lost" and not job.lease_lost:
            log.error("job %s: another attempt holds its lease (this worker lost touch with Redis "
                      "for longer than the lease); stopping this copy", job.job_id)
            job.lease_lost = True
            job.cancel_event.set()
            return
        if not cancelled or job.done or job.lease_lost:
            return
        if job.cancel_seen_at is None:
            job.cancel_seen_at = now
            job.cancel_event.set()
            return
        waited = now - job.cancel_seen_at
        if waited >= settings.cancel_grace_seconds and not job.interrupted:
            log.warning("job %s ignored its cancel for %.0fs: interrupting it", job.job_id, waited)
            job.interrupted = True
            store.transition(job.job_id, JobStatus.CANCELLED,
                             error={"type": "Cancelled", "message": "cancelled while running"})
            if hasattr(signal, "SIGUSR1") and _soft_limit_handler_installed():
                os.kill(os.getpid(), signal.SIGUSR1)
        elif waited >= 2 * settings.cancel_grace_seconds:
            log.error("job %s still running after interrupt: ending its process", job.job_id)
            os.kill(os.getpid(), signal.SIGKILL)


def _soft_limit_handler_installed() -> bool:
    # billiard installs it in prefork children; elsewhere SIGUSR1 would kill us.
    handler = signal.getsignal(signal.SIGUSR1)
    return callable(handler) and getattr(handler, "__name__", "") == "soft_timeout_sighandler"


watchdog = Watchdog()
