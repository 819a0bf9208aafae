"""A bench-only job kind, registered on the bench's worker only (never in KINDS):
``bench_chatty`` reports ``steps`` progress events as fast as it can with
``job.progress.report`` (the coalesced call; ``step`` is always written by
contract), or, with ``report`` false, the same job reporting nothing.
"""

from celery import shared_task

from longrun import keys
from longrun.job import Job
from workers.job_task import JobTask

NAME = "bench_chatty"


@shared_task(base=JobTask, name=keys.task_name(NAME))
def chatty(job: Job, steps: int = 100, report: bool = True) -> dict:
    if report:
        for i in range(1, steps + 1):
            job.progress.report(current_step=i, total_steps=steps, message=f"item {i}")
    return {"steps": steps}
