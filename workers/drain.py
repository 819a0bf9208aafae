"""Warm shutdown that saves instead of waiting.

When a worker is asked to stop (SIGTERM: Celery's warm shutdown), each job it
runs finishes its current step, is checkpointed and goes back to its queue
(longrun/steps.py raises JobRequeued at the next step boundary; JobTask
requeues it without charging the attempt), so the stop takes about one step,
not the rest of an hour-long job. Prefork pool processes learn of it by
SIGUSR2 from the main process; threads and solo pools share its flag.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from celery.signals import worker_process_init, worker_shutting_down

log = logging.getLogger(__name__)

DRAIN_SIGNAL = signal.SIGUSR2
_draining = threading.Event()


def requested() -> bool:
    """True once this process's worker is shutting down: stop at the next step boundary."""
    return _draining.is_set()


def _on_drain_signal(signum: int, frame: Any) -> None:
    _draining.set()


def _pool_children() -> list[int]:
    try:
        from billiard.process import active_children
    except ImportError:  # pragma: no cover - billiard ships with Celery
        return []
    return [p.pid for p in active_children() if p.pid]


def _worker_shutting_down(sig: str | None = None, how: str | None = None, **_: Any) -> None:
    if how != "Warm":
        return  # a cold shutdown ends the jobs now; the reaper and redelivery recover them
    _draining.set()
    for pid in _pool_children():
        try:
            os.kill(pid, DRAIN_SIGNAL)
        except ProcessLookupError:
            pass
    log.info("warm shutdown: running jobs stop at their next step boundary and are re-queued")


def _pool_process_init(**_: Any) -> None:
    _draining.clear()  # a forked child does not inherit a shutdown in progress
    signal.signal(DRAIN_SIGNAL, _on_drain_signal)


def install() -> None:
    worker_shutting_down.connect(_worker_shutting_down, weak=False)
    worker_process_init.connect(_pool_process_init, weak=False)
