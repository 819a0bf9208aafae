"""``sleep``: the built-in diagnostic kind, for smoke tests and benchmarks.

Sleeps ``seconds`` in ``steps`` equal steps, each a checkpointed step (a job
killed mid-way resumes after its last finished step), and fails on purpose
when ``fail`` is set.
"""

import time

from longrun.errors import SleepFailed
from longrun.job import Job


def sleep_in_steps(job: Job, seconds: float, steps: int, fail: bool, log_lines: int = 0) -> dict:
    pause = seconds / steps
    job.plan([f"step {step}" for step in range(1, steps + 1)])
    for step in range(1, steps + 1):
        # Each step is a checkpoint: a job that runs again goes on after the last one finished.
        job.step(f"step {step}", _sleep_step, job, step, steps, pause, log_lines, message=f"sleeping {pause:g}s")
    if fail:
        job.log.error("failing on purpose after %d steps", steps)
        raise SleepFailed(f"failed on purpose after {steps} steps")
    return {"slept": seconds, "steps": steps}


def _sleep_step(job: Job, step: int, steps: int, pause: float, log_lines: int) -> int:
    job.log.info("step %d of %d: sleeping %gs", step, steps, pause)
    for line in range(1, log_lines + 1):
        job.log.info("step %d line %d", step, line)
    # Sleep in short slices so that a cancel is noticed quickly.
    deadline = time.monotonic() + pause
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.1))
        job.check_cancelled()
    return step


def sleep(job: Job, seconds: float = 1.0, steps: int = 1, fail: bool = False, log_lines: int = 0) -> dict:
    return sleep_in_steps(job, seconds, steps, fail, log_lines)
