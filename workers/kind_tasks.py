"""The job kinds as Celery tasks, and the worker's own bootsteps.

Each kind's plain function (tasks/registry.py names it) becomes the task
``jobs.<kind>`` with JobTask as its base (claim, progress, cancel, logs).
Celery imports this module (the app's ``include``) when a worker starts, before
it builds the worker's blueprint, so the presence/janitor bootstep is added
here: a process that only publishes (the API) imports neither the kinds' work
nor the worker runtime.
"""

from functools import wraps
from importlib import import_module

from celery import Task, shared_task

from backends import ratelimit
from longrun import keys
from tasks.registry import KINDS, Kind
from workers import bootsteps, drain
from workers.celery_app import app
from workers.job_task import JobTask


def job_task(kind: Kind) -> Task:
    """The Celery task ``jobs.<kind>`` around the kind's work function."""
    module, _, name = kind.work.partition(":")
    work = getattr(import_module(module), name)

    @wraps(work)
    def run(job, **kwargs):
        # A call waiting for a backend's shared quota says so in the job's progress message.
        with ratelimit.reporting(lambda message: job.progress.report(message=message, force=True)):
            return work(job, **kwargs)

    return shared_task(base=JobTask, name=keys.task_name(kind.name))(run)


JOB_TASKS: dict[str, Task] = {name: job_task(kind) for name, kind in KINDS.items()}

bootsteps.install(app)
drain.install()
