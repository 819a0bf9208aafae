"""The Celery application: ``celery -A workers.celery_app worker``.

With no ``-Q`` a worker consumes the queue of every registered job kind.
"""

from celery import Celery
from kombu import Queue

import celeryconfig
from longrun import keys
from longrun.settings import Settings
from tasks import KINDS


def make_celery(settings: Settings | None = None) -> Celery:
    """A Celery app configured by celeryconfig, optionally for other settings."""
    celery = Celery("longrun", set_as_current=settings is None)
    celery.config_from_object(celeryconfig)
    if settings is not None:
        celery.conf.update(celeryconfig.from_settings(settings))
    celery.conf.task_queues = [Queue(keys.queue(kind)) for kind in KINDS] + [
        Queue(celery.conf.task_default_queue), Queue(keys.WEBHOOK_QUEUE)]
    celery.conf.include = [f"tasks.{kind.module}" for kind in KINDS.values()] + ["workers.webhook_task"]
    return celery


app = make_celery()

# Worker-side presence and janitor.
from workers import bootsteps  # noqa: E402

bootsteps.install(app)
