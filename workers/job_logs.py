"""Keeps what a job logs: a handler on the root logger of each pool process.

While a job runs, every record that reaches the root logger at
``job_log_level`` or above from the job's thread (the job's own ``job.log``
and any library logger it drives) is kept with that job. On the threads pool
many jobs share a process: each record goes to the job of the thread that
logged it; a record from another thread goes to the process's job when it runs
only one (prefork always does). Records
are buffered and written in batches (every ``FLUSH_SECONDS``, every
``FLUSH_LINES`` lines and when the job ends), so logging costs the job no
Redis round trip per line; the last lines ride on the job's final state
(lua/finish.lua). ``longrun.joblog`` caps what is kept.
"""

import logging
import os
import threading
from typing import Any

from longrun import keys
from longrun.job import JOB_LOGGER
from longrun.joblog import JobLogStore, make_line

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5
FLUSH_LINES = 200


class JobLogHandler(logging.Handler):
    def __init__(self, store: JobLogStore):
        super().__init__(level=logging.getLevelName(store.settings.job_log_level.upper()))
        self.store = store
        self.setFormatter(logging.Formatter("%(message)s"))
        self._jobs: set[str] = set()  # running here
        self._logged: set[str] = set()  # running here and have logged something
        self._local = threading.local()  # the job of this thread
        self._buffer: list[tuple[str, str]] = []  # (job id, line)
        self._buffer_lock = threading.Lock()
        # Held from taking a batch until it is written, so that batches reach Redis
        # in the order they were logged (the flush thread and end_job both write).
        self._write_lock = threading.Lock()
        self._flushing = threading.local()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    # -- the job's life ----------------------------------------------------

    @property
    def job_id(self) -> str | None:
        """The job a record logged by this thread belongs to."""
        job_id: str | None = getattr(self._local, "job_id", None)
        if job_id is None and len(self._jobs) == 1:
            for only in self._jobs:
                return only
        return job_id

    def start_job(self, job_id: str) -> None:
        """From the job's thread, before it runs."""
        self._local.job_id = job_id
        self._jobs.add(job_id)
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._flush_loop, name="longrun-job-logs", daemon=True)
            self._thread.start()

    def end_job(self, job_id: str, defer: bool = False) -> dict[str, Any] | None:
        """The job ended: write its last lines and give its log the job's retention.

        With ``defer`` those are not written here: the returned parameters (None:
        the job logged nothing) go with the job's final state in one script
        (JobStore.transition's ``log_tail``), or to ``write_tail``."""
        self._local.job_id = None
        self._jobs.discard(job_id)
        logged = job_id in self._logged
        self._logged.discard(job_id)
        with self._write_lock:
            with self._buffer_lock:
                last = [line for owner, line in self._buffer if owner == job_id]
                self._buffer = [(owner, line) for owner, line in self._buffer if owner != job_id]
            self._flush_unlocked()
            if not logged:
                return None  # nothing was kept for this job: no round trip
            s = self.store.settings
            tail = {
                "log_key": keys.job_log(job_id),
                "log_meta_key": keys.job_log_meta(job_id),
                "log_max_lines": s.job_log_max_lines,
                "log_max_bytes": s.job_log_max_bytes,
                "log_ttl": s.retention_seconds,
                "log_lines": last,
            }
            if defer:
                return tail
            self._write_tail(job_id, tail)
            return None

    def write_tail(self, job_id: str, tail: dict[str, Any]) -> None:
        """Write what ``end_job(defer=True)`` returned, on its own (no final state goes with it)."""
        with self._write_lock:
            self._write_tail(job_id, tail)

    def _write_tail(self, job_id: str, tail: dict[str, Any]) -> None:
        # The job's last lines and its log's final expiry go in one script call.
        self._flushing.active = True
        try:
            if tail["log_lines"]:
                self.store.append(job_id, tail["log_lines"], ttl=tail["log_ttl"] or None)
            else:
                self.store.expire_with_job(job_id)
        except Exception:
            log.warning("could not write the end of job %s's log", job_id)
        finally:
            self._flushing.active = False

    # -- logging.Handler ---------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        job_id = self.job_id
        if job_id is None or getattr(self._flushing, "active", False):
            return  # no job here, or a record logged while we write to Redis
        try:
            line = make_line(
                record.created,
                record.levelname,
                record.name,
                self.format(record),
                self.store.settings.job_log_line_bytes,
            )
        except Exception:
            self.handleError(record)
            return
        self._logged.add(job_id)
        with self._buffer_lock:
            self._buffer.append((job_id, line))
            full = len(self._buffer) >= FLUSH_LINES
        if full:
            self._wake.set()

    def flush(self) -> None:
        with self._write_lock:
            self._flush_unlocked()

    def _flush_unlocked(self) -> None:
        with self._buffer_lock:
            batch, self._buffer = self._buffer, []
        if not batch:
            return
        by_job: dict[str, list[str]] = {}
        for job_id, line in batch:
            by_job.setdefault(job_id, []).append(line)
        self._flushing.active = True
        try:
            for job_id, lines in by_job.items():
                self.store.append(job_id, lines)
        except Exception as exc:  # a lost log batch must never fail the job
            logging.getLogger(__name__).debug("job log batch lost: %s", exc)
        finally:
            self._flushing.active = False

    def _flush_loop(self) -> None:
        while True:
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            self.flush()


_handler: JobLogHandler | None = None


def handler() -> JobLogHandler:
    """This process's handler, installed on the root logger on first use."""
    global _handler
    if _handler is None:
        from workers.store import job_store

        store = job_store()
        _handler = JobLogHandler(JobLogStore(store.redis, store.settings))
        logging.getLogger().addHandler(_handler)
        # job.log.info(...) must be kept even when the worker itself logs at WARNING.
        job_logger = logging.getLogger(JOB_LOGGER)
        if job_logger.level == logging.NOTSET or job_logger.level > _handler.level:
            job_logger.setLevel(_handler.level)
    return _handler
