"""Cost of one progress event, in a worker-like process of its own.

A: Longrun's progress helper (``ProgressReporter.report``, forced, so every
call is written): update_state -> our result backend -> one transition script
(record, Celery meta, status index, event stream).
B: bare ``update_state`` on the raw-Celery app (Celery's stock Redis backend).

Blocks of A and B alternate; prints one JSON line with per-call CPU and wall
microseconds per block. Run by bench/run.py: ``python -m bench.micro N ROUNDS``.
"""

import json
import sys
import threading
import time
import uuid


def main() -> None:
    n, rounds = int(sys.argv[1]), int(sys.argv[2])
    from bench.raw_celery import noop
    from longrun.jobstore import worker_lost
    from longrun.settings import get_settings
    from workers.kind_tasks import JOB_TASKS
    from workers.progress import ProgressReporter
    from workers.store import job_store

    store = job_store()
    sleep_task = JOB_TASKS["sleep"]
    settings = get_settings()

    def longrun_block() -> callable:
        job_id, _, _ = store.create(tenant="bench", kind="sleep", input={}, timeout_seconds=60)
        lost_error, lost_meta = worker_lost(settings.max_attempts)
        assert store.claim(job_id, "bench:1", lost_error=lost_error, lost_meta=lost_meta).verdict == "run"
        reporter = ProgressReporter(sleep_task, job_id, threading.Event(), interval=0)
        sleep_task.push_request(id=job_id, task=sleep_task.name)

        def run():
            for i in range(1, n + 1):
                reporter.report(force=True, current_step=i, total_steps=n, step_name=f"step {i}", message=None)

        return run, sleep_task.pop_request

    def raw_block() -> callable:
        task_id = uuid.uuid4().hex
        noop.push_request(id=task_id, task=noop.name)
        state = {"percentage": 0, "current_step": 0, "total_steps": n, "step_name": None, "message": None}

        def run():
            for i in range(1, n + 1):
                state.update(current_step=i, step_name=f"step {i}", percentage=round(100 * i / n, 1))
                noop.update_state(task_id=task_id, state="PROGRESS", meta=dict(state))

        return run, noop.pop_request

    results = {"longrun": [], "raw": []}
    for r in range(rounds):
        order = [("longrun", longrun_block), ("raw", raw_block)]
        for name, make in order if r % 2 == 0 else order[::-1]:
            run, done = make()
            run()  # warm: connections, script cache
            cpu0, wall0 = time.process_time(), time.perf_counter()
            run()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            done()
            results[name].append({"cpu_us": cpu / n * 1e6, "wall_us": wall / n * 1e6})
    print("BENCH " + json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
