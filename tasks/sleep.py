"""``sleep``: the built-in diagnostic kind, for smoke tests and benchmarks.

Sleeps ``seconds`` in ``steps`` equal steps, reporting each, and fails on
purpose when ``fail`` is set.
"""

import time

from longrun.errors import SleepFailed
from longrun.job import Job


def sleep_in_steps(job: Job, seconds: float, steps: int, fail: bool, log_lines: int = 0) -> dict:
    pause = seconds / steps
    for step in range(1, steps + 1):
        job.progress.step(step, steps, f"step {step}", message=f"sleeping {pause:g}s")
        job.log.info("step %d of %d: sleeping %gs", step, steps, pause)
        for line in range(1, log_lines + 1):
            job.log.info("step %d line %d", step, line)
        # Sleep in short slices so that a cancel is noticed quickly.
        deadline = time.monotonic() + pause
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.1))
            job.check_cancelled()
    if fail:
        job.log.error("failing on purpose after %d steps", steps)
        raise SleepFailed(f"failed on purpose after {steps} steps")
    return {"slept": seconds, "steps": steps}


def sleep(job: Job, seconds: float = 1.0, steps: int = 1, fail: bool = False, log_lines: int = 0) -> dict:
    return sleep_in_steps(job, seconds, steps, fail, log_lines)

