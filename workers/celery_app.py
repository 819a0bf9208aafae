"""The Celery application: ``celery -A workers.celery_app worker``.

With no ``-Q`` a worker consumes the queue of every registered job kind.
Importing this module (as the API does, to publish) loads no task code: the
worker imports the tasks through ``include`` (workers/kind_tasks.py).
"""

from celery import Celery
from kombu import Queue

from longrun import keys
from longrun.errors import SettingsError
from longrun.settings import Settings
from tasks.registry import KINDS

try:
    import celeryconfig
except SettingsError as exc:
    # This module is the worker's entry point: a bad setting stops it with one
    # line naming the key, not a traceback (api/wsgi.py does the same for gunicorn).
    raise SystemExit(f"Longrun cannot start: {exc}") from None


def make_celery(settings: Settings | None = None) -> Celery:
    """A Celery app configured by celeryconfig, optionally for other settings."""
    celery = Celery("longrun", set_as_current=settings is None)
    celery.config_from_object(celeryconfig)
    if settings is not None:
        celery.conf.update(celeryconfig.from_settings(settings))
    celery.conf.task_queues = [Queue(keys.queue(kind)) for kind in KINDS] + [
        Queue(celery.conf.task_default_queue), Queue(keys.WEBHOOK_QUEUE)]
    celery.conf.include = ["workers.kind_tasks", "workers.webhook_task"]
    return celery


app = make_celery()
