"""A thread in each worker process that keeps its running jobs' leases alive,
watches for cancel requests and, outside prefork, enforces timeouts.

A process runs one job at a time on prefork and many on the threads pool, so
the watchdog keeps every job running here. Every ``heartbeat_seconds`` it
renews each one's lease and heartbeat (lua/renew.lua, one pipelined round trip
for all of them: only an attempt's own lease; an attempt that finds another
attempt holding it stops at its next progress report, without touching the
job), reads the jobs' cancel flags (they live in Redis, so they survive worker
restarts) and writes progress a reporter held back (coalescing) if its job has
gone quiet.

Escalation, once cooperation failed (docs/guarantees.md, "Pools"):

- cancel: the job's cancel event is set (its next progress report or cancel
  check raises); after ``cancel_grace_seconds`` the job is marked cancelled
  and interrupted: on prefork by billiard's soft time limit signal, then, after
  another grace, by killing its process; on the threads and solo pools the job
  runs in a thread of its own (workers/pools.py), which cannot be killed, so it
  is abandoned: an exception is set in it for the next Python line it runs, and
  the task returns at once, freeing its slot and lease.
- timeout: on prefork Celery's soft and hard time limits do it. Elsewhere the
  watchdog does: at the deadline the job's next report or check raises
  JobTimedOut; ``job_grace_seconds`` later the job is abandoned the same way and
  fails with error type Timeout.

Whatever an abandoned thread writes later is refused: the job is final, and
final states are final (lua/lib.lua), and its progress carries its attempt's
token, which transition.lua checks against the lease.
"""

import ctypes
import logging
import os
import signal
import threading
import time
from typing import TYPE_CHECKING

from longrun.errors import REDIS_UNREACHABLE, JobCancelled, JobTimedOut
from longrun.states import JobStatus
from workers.store import job_store

if TYPE_CHECKING:
    from workers.progress import ProgressReporter

log = logging.getLogger(__name__)

CANCELLED_ERROR = {"type": "Cancelled", "message": "cancelled while running"}


class RunningJob:
    def __init__(self, job_id: str, token: str, timeout: float = 0, grace: float = 0, watched: bool = False):
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
        # Outside prefork (``watched``) the watchdog enforces the timeout and
        # abandons the job's thread (workers/pools.py) when it will not stop.
        self.watched = watched
        self.timeout = timeout
        started = time.monotonic()
        self.deadline = started + timeout if timeout and watched else None
        self.hard_deadline = self.deadline + grace if self.deadline is not None else None
        self.timed_out = False
        self.thread: threading.Thread | None = None  # the job's own thread, when watched
        self.wake = threading.Event()  # set when the job's thread ends, or when it is abandoned
        self.abandoned: BaseException | None = None  # what the waiting task raises instead

    def stop_error(self) -> BaseException:
        """What the job's next report or check raises once its stop event is set."""
        if self.timed_out:
            return JobTimedOut(f"the job ran past its timeout of {self.timeout:g} seconds")
        return JobCancelled("the job was cancelled")

    def abandon(self, error: BaseException) -> None:
        """Stop waiting for the job's thread: the task ends with ``error``; the thread is left behind."""
        if self.done or self.abandoned is not None:
            return
        self.abandoned = error
        thread = self.thread
        if thread is not None and thread.ident is not None and thread.is_alive():
            # A thread cannot be killed; this raises in it at its next Python bytecode
            # (not inside a blocking C call), so a busy loop ends, a blocked call later.
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(type(error)))
        self.wake.set()


class Watchdog:
    def __init__(self) -> None:
        self._running: dict[str, RunningJob] = {}  # by token
        self._lock = threading.Lock()
        self._kick = threading.Event()  # a job started: look at its deadline
        self._beating = threading.Lock()  # held while a heartbeat is in flight
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def start_job(self, job: RunningJob) -> None:
        with self._lock:
            self._running[job.token] = job
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._loop, name="longrun-watchdog", daemon=True)
            self._thread.start()
        if job.deadline is not None:
            self._kick.set()

    def end_job(self, job: RunningJob) -> None:
        with self._lock:
            job.done = True
            self._running.pop(job.token, None)

    def stop_beating(self, job: RunningJob) -> None:
        """End the job's heartbeats now, waiting out one in flight: a job handed back
        to its queue must not have its freed lease renewed by a late beat."""
        self.end_job(job)
        with self._beating:
            pass

    def count(self) -> int:
        """How many jobs this process runs now."""
        return len(self._running)

    def running(self) -> list[RunningJob]:
        with self._lock:
            return list(self._running.values())

    def _loop(self) -> None:
        store = job_store()
        settings = store.settings
        next_beat = time.monotonic() + settings.heartbeat_seconds
        while True:
            jobs = self.running()
            now = time.monotonic()
            wake_at = min(
                [next_beat, *(d for j in jobs for d in (j.deadline, j.hard_deadline) if d is not None and d > now)]
            )
            self._kick.wait(max(0.0, wake_at - now))
            self._kick.clear()
            now = time.monotonic()
            jobs = self.running()
            try:
                self.enforce_deadlines(store, jobs, now)
                if now < next_beat or not jobs:
                    if now >= next_beat:
                        next_beat = now + settings.heartbeat_seconds
                    continue
                next_beat = now + settings.heartbeat_seconds
                with self._beating:  # a job ended meanwhile (stop_beating) is skipped: done
                    self.beat_all(store, jobs)
                    for job in jobs:
                        if job.progress is not None and not (job.done or job.lease_lost or job.abandoned):
                            job.progress.flush_due()
            except REDIS_UNREACHABLE:
                log.warning("watchdog: Redis unreachable, will retry")
            except Exception:  # the watchdog must outlive any one bad beat
                log.exception("watchdog: heartbeat failed")

    def enforce_deadlines(self, store, jobs: list[RunningJob], now: float) -> None:
        """Timeouts of watched jobs (outside prefork): cooperative at the deadline, abandoned at the hard one."""
        for job in jobs:
            if job.deadline is None or job.done or job.abandoned is not None:
                continue
            if now >= job.deadline and not job.timed_out:
                log.warning("job %s ran past its timeout: stopping it", job.job_id)
                job.timed_out = True
                job.cancel_event.set()
            if job.hard_deadline is not None and now >= job.hard_deadline:
                log.error(
                    "job %s ignored its timeout for %.0fs: abandoning its thread",
                    job.job_id,
                    job.hard_deadline - job.deadline,
                )
                job.abandon(job.stop_error())

    def beat_all(self, store, jobs: list[RunningJob]) -> None:
        live = [j for j in jobs if not (j.done or j.abandoned is not None)]
        if not live:
            return
        replies = store.renew_many([(j.job_id, j.token) for j in live])
        for job, reply in zip(live, replies, strict=True):
            self._beat(store, job, reply)

    def _beat(self, store, job: RunningJob, renewed: tuple[str, bool] | None = None) -> None:
        settings = store.settings
        now = time.time()
        lease, cancelled = renewed if renewed is not None else store.renew(job.job_id, job.token)
        if lease == "lost" and not job.lease_lost:
            log.error(
                "job %s: another attempt holds its lease (this worker lost touch with Redis "
                "for longer than the lease); stopping this copy",
                job.job_id,
            )
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
            store.transition(job.job_id, JobStatus.CANCELLED, error=CANCELLED_ERROR)
            if job.watched:
                job.abandon(JobCancelled("the job was cancelled"))
            elif hasattr(signal, "SIGUSR1") and _soft_limit_handler_installed():
                os.kill(os.getpid(), signal.SIGUSR1)
        elif waited >= 2 * settings.cancel_grace_seconds and not job.watched:
            log.error("job %s still running after interrupt: ending its process", job.job_id)
            os.kill(os.getpid(), signal.SIGKILL)


def _soft_limit_handler_installed() -> bool:
    # billiard installs it in prefork children; elsewhere SIGUSR1 would kill us.
    handler = signal.getsignal(signal.SIGUSR1)
    return callable(handler) and getattr(handler, "__name__", "") == "soft_timeout_sighandler"


watchdog = Watchdog()
