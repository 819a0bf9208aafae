"""What differs between Celery's pools for a job, in one place.

On prefork each job runs in a child process of its own, one at a time: Celery's
soft and hard time limits interrupt it (a signal, then killing the process),
and so can the watchdog's cancel escalation. On the threads and solo pools a
job shares its process with others (threads) or with the worker itself (solo):
no signal reaches it and nothing can be killed. There the job runs in a thread
of its own while the task's thread waits for it, so that the watchdog can
enforce the job's timeout and cancel: when the job ignores them past their
grace, the task stops waiting (its pool slot and the job's lease are freed and
the job is marked failed or cancelled) and the job's thread is abandoned
(workers/watchdog.py). docs/guarantees.md, "Pools", says what that means.
"""

import threading
from collections.abc import Callable
from typing import Any

from billiard.process import current_process
from celery.signals import worker_process_init

from workers.watchdog import RunningJob

_prefork_child = False


@worker_process_init.connect(weak=False)
def _in_prefork_child(**_: Any) -> None:
    # Celery sends worker_process_init in each prefork child, and in a solo
    # worker's own (main) process.
    global _prefork_child
    _prefork_child = current_process().name != "MainProcess"


def watched() -> bool:
    """True unless this is a prefork child (threads, solo, gevent/eventlet pools)."""
    return not _prefork_child


def run_watched(running: RunningJob, work: Callable[[], Any]) -> Any:
    """Run ``work`` in a thread of its own; return its result or raise its error,
    or, once the watchdog abandoned it, raise what the watchdog decided."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = work()
        except BaseException as exc:  # handed to the task's thread, which re-raises it
            outcome["error"] = exc
        finally:
            running.wake.set()

    thread = threading.Thread(target=target, name=f"longrun-job-{running.job_id[:8]}", daemon=True)
    running.thread = thread
    thread.start()
    running.wake.wait()
    if running.abandoned is not None and not outcome:
        raise running.abandoned
    if "error" in outcome:
        raise outcome["error"]
    if running.timed_out or running.abandoned is not None:
        # It returned after its deadline (it caught the stop, or finished as it came):
        # a job past its timeout never ends completed.
        raise running.abandoned or running.stop_error()
    return outcome["result"]
