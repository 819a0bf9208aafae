"""Longrun's worker app plus a test-only kind that never cooperates:
``celery -A tests.worker.stubborn_worker worker``. ``stubborn`` sleeps in one
call, never reporting progress nor checking for a cancel, so only escalation
can end it (tests/worker/test_pools.py)."""

import time

from celery import shared_task

from longrun import keys
from longrun.job import Job
from workers.celery_app import app  # noqa: F401  (the app celery -A finds)
from workers.job_task import JobTask

NAME = "stubborn"


@shared_task(base=JobTask, name=keys.task_name(NAME))
def stubborn(job: Job, seconds: float = 10.0) -> dict:
    time.sleep(seconds)
    return {"slept": seconds}
