"""Worker-process bootsteps: presence (for /health and metrics), the janitor
(expiry and the heartbeat reaper, see workers/janitor.py) and the reconciler
(stranded jobs, see workers/reconciler.py)."""

import logging
import time

import redis
from celery import bootsteps

from longrun import keys
from longrun.artifacts import ArtifactStore
from longrun.errors import ServiceUnavailable
from tasks.registry import KINDS
from workers import broker, janitor, reconciler
from workers.publish import publish_job
from workers.store import job_store

log = logging.getLogger(__name__)

TICK_SECONDS = 5.0
# A worker not seen for this long is forgotten entirely.
FORGET_AFTER_SECONDS = 3600


class Presence(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker):
        self.tick(worker)
        self.tref = worker.timer.call_repeatedly(TICK_SECONDS, self.tick, (worker,), priority=10)

    def stop(self, worker):
        if self.tref:
            self.tref.cancel()
        try:
            job_store().redis.zrem(keys.WORKERS, worker.hostname)
        except redis.RedisError:
            pass

    def tick(self, worker):
        store = job_store()
        now = time.time()
        try:
            pipe = store.redis.pipeline(transaction=False)
            pipe.zadd(keys.WORKERS, {worker.hostname: now})
            pipe.zremrangebyscore(keys.WORKERS, "-inf", now - FORGET_AFTER_SECONDS)
            pipe.execute()
            janitor.try_run(
                store, ArtifactStore(store.settings.artifacts_dir), TICK_SECONDS, publish=self._publisher(worker, store)
            )
        except redis.RedisError as exc:
            log.warning("presence/janitor tick skipped: %s", exc)
        except Exception:
            log.exception("janitor pass failed")

    @staticmethod
    def _publisher(worker, store):
        def publish(job_id, kind, priority, timeout):
            publish_job(worker.app, store.settings, job_id, kind, priority, timeout)

        return publish


class Reconciler(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker):
        store = job_store()
        if not reconciler.enabled(store):
            log.info("reconciler off (LONGRUN_RECONCILE_SECONDS=0, or the broker is not the job store's Redis)")
            return
        self.tref = worker.timer.call_repeatedly(reconciler.period(store), self.tick, (worker,), priority=10)

    def stop(self, worker):
        if self.tref:
            self.tref.cancel()

    def tick(self, worker):
        store = job_store()

        def capture(job_id, kind, priority, timeout):
            with broker.capture() as messages:
                publish_job(worker.app, store.settings, job_id, kind, priority, timeout)
            (message,) = messages
            return message

        try:
            reconciler.try_run(store, capture, KINDS)
        except (redis.RedisError, ServiceUnavailable) as exc:
            log.warning("reconciler pass skipped: %s", exc)
        except Exception:
            log.exception("reconciler pass failed")


def install(app) -> None:
    from workers.dispatcher import Dispatcher  # it names Presence as a step it requires

    app.steps["worker"].add(Presence)
    app.steps["worker"].add(Dispatcher)
    app.steps["worker"].add(Reconciler)
