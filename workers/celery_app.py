"""The Celery application: ``celery -A workers.celery_app worker``.

With no ``-Q`` a worker consumes the queue of every registered job kind, or
those of its role (LONGRUN_WORKER_ROLE: the I/O-bound kinds on a threads pool,
or the others on prefork; docs/pools.md).
Importing this module (as the API does, to publish) loads no task code: the
worker imports the tasks through ``include`` (workers/kind_tasks.py).
"""

from celery import Celery
from kombu import Queue

from longrun import keys
from longrun.errors import SettingsError
from longrun.settings import Settings, get_settings
from tasks.registry import KINDS

try:
    import celeryconfig
except SettingsError as exc:
    # This module is the worker's entry point: a bad setting stops it with one
    # line naming the key, not a traceback (api/wsgi.py does the same for gunicorn).
    raise SystemExit(f"Longrun cannot start: {exc}") from None


def role_queues(settings: Settings, default_queue: str) -> list[str]:
    """The queues a worker of ``settings.worker_role`` takes when started without -Q (docs/pools.md)."""
    io_kinds = [k.strip() for k in settings.io_kinds.split(",") if k.strip()]
    unknown = sorted(set(io_kinds) - set(KINDS))
    if unknown:
        raise SettingsError(f"LONGRUN_IO_KINDS names unknown kinds: {', '.join(unknown)}")
    if settings.worker_role == "io":
        return [keys.queue(kind) for kind in io_kinds] + [keys.WEBHOOK_QUEUE]
    kinds = [kind for kind in KINDS if settings.worker_role != "cpu" or kind not in io_kinds]
    queues = [keys.queue(kind) for kind in kinds] + [default_queue]
    return queues if settings.worker_role == "cpu" else [*queues, keys.WEBHOOK_QUEUE]


def make_celery(settings: Settings | None = None) -> Celery:
    """A Celery app configured by celeryconfig, optionally for other settings."""
    celery = Celery("longrun", set_as_current=settings is None)
    celery.config_from_object(celeryconfig)
    if settings is not None:
        celery.conf.update(celeryconfig.from_settings(settings))
    celery.conf.task_queues = [
        Queue(name) for name in role_queues(settings or get_settings(), celery.conf.task_default_queue)
    ]
    celery.conf.include = ["workers.kind_tasks", "workers.webhook_task"]
    return celery


try:
    app = make_celery()
except SettingsError as exc:
    raise SystemExit(f"Longrun cannot start: {exc}") from None
