"""``sleep``: the built-in diagnostic kind, for smoke tests and benchmarks.

Sleeps ``seconds`` in ``steps`` equal steps, reporting each, and fails on
purpose when ``fail`` is set.
"""

import time

from celery import shared_task
from marshmallow import Schema, fields, validate

from longrun import jsonfields, keys
from tasks.kind import Kind
from workers.job_task import Job, JobTask


class SleepInput(Schema):
    seconds = jsonfields.Float(load_default=1.0, validate=validate.Range(min=0, max=24 * 3600))
    steps = jsonfields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    fail = jsonfields.Boolean(load_default=False)


class SleepFailed(Exception):
    """Raised by a sleep job asked to fail."""


def sleep_in_steps(job: Job, seconds: float, steps: int, fail: bool) -> dict:
    pause = seconds / steps
    for step in range(1, steps + 1):
        job.progress.step(step, steps, f"step {step}", message=f"sleeping {pause:g}s")
        # Sleep in short slices so that a cancel is noticed quickly.
        deadline = time.monotonic() + pause
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.1))
            job.check_cancelled()
    if fail:
        raise SleepFailed(f"failed on purpose after {steps} steps")
    return {"slept": seconds, "steps": steps}


@shared_task(base=JobTask, name=keys.task_name("sleep"))
def sleep(job: Job, seconds: float = 1.0, steps: int = 1, fail: bool = False) -> dict:
    return sleep_in_steps(job, seconds, steps, fail)


KIND = Kind(name="sleep", module="sleep", input_schema=SleepInput,
            description="Diagnostic: sleep in steps, reporting progress; optionally fail.")
