"""Worker-process bootstep: job slots for fair dispatch, and the elected mover.

Slots: each worker writes how many jobs of which kinds it takes at once
(its concurrency, for the kinds whose queues it consumes); the sum over live
workers is how many messages of a kind fair dispatch lets out
(longrun/lua/flow.lua). A worker that joins or leaves changes the sum, and the
held jobs that now fit are sent.

The mover: one worker at a time (a lease key, renewed every tick) promotes
delayed jobs whose time has come, fires due schedule ticks
(longrun/schedules.py) and starts a schedule's queued run once its previous
job ended. Everything it moves lives in Redis, so a mover that dies is
replaced within a lease period and nothing is lost or done twice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any, cast

import redis
from celery import bootsteps

from longrun import keys, redis_conn
from longrun.errors import CannotCapture
from longrun.jobstore import JobStore
from longrun.schedules import ScheduleStore, fire_due, release_queued
from longrun.states import JobStatus
from tasks.registry import KINDS
from workers import broker
from workers.publish import publish_job
from workers.store import job_store

log = logging.getLogger(__name__)

LEASE_SECONDS = 3.0
SLOTS_EVERY_SECONDS = 1.0
# How often, and past what age, the mover looks for slots held by jobs that are gone or final.
TIDY_EVERY_SECONDS = 30.0
TIDY_AFTER_SECONDS = 60.0
# A sent, unclaimed job whose message is nowhere on two looks this far apart is sent again.
LOST_AFTER_SECONDS = 2.0
# A delivery no worker started in this long was taken by a worker that lost its
# connection (lua/resend.lua): far longer than a free slot takes to start a job.
UNSTARTED_DELIVERY_SECONDS = 15.0
# A worker's slots count while its presence (workers/bootsteps.py, every 5 s) is this recent.
LIVE_SECONDS = 15.0

RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
"""
RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def consumed_kinds(app) -> list[str]:
    names = set(app.amqp.queues.consume_from or ())
    kinds = [kind for kind in KINDS if keys.queue(kind) in names]
    return kinds or list(KINDS)


def write_slots(client: redis.Redis, hostname: str, kinds: list[str], slots: int) -> None:
    client.hset(keys.FLOW_WORKER_SLOTS, hostname, json.dumps({"kinds": kinds, "slots": slots}))


def recompute_slots(client: redis.Redis, now: float | None = None) -> dict[str, int]:
    """Sum the slots of live workers per kind into keys.FLOW_SLOTS; returns it."""
    now = time.time() if now is None else now
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keys.FLOW_WORKER_SLOTS)
    pipe.zrangebyscore(keys.WORKERS, now - LIVE_SECONDS, "+inf")
    entries, live = pipe.execute()
    totals = dict.fromkeys(KINDS, 0)
    gone = []
    for hostname, raw in entries.items():
        if hostname not in live:
            gone.append(hostname)
            continue
        entry = json.loads(raw)
        for kind in entry["kinds"]:
            totals[kind] = totals.get(kind, 0) + int(entry["slots"])
    # One step (MULTI): no reader sees the hash half rewritten. Kinds without slots are left out,
    # so the key goes when the last worker does.
    pipe = client.pipeline(transaction=True)
    pipe.delete(keys.FLOW_SLOTS)
    present = {kind: n for kind, n in totals.items() if n > 0}
    if present:
        pipe.hset(keys.FLOW_SLOTS, mapping=cast(Mapping[Any, Any], present))
    if gone:
        pipe.hdel(keys.FLOW_WORKER_SLOTS, *gone)
    pipe.execute()
    return totals


def captured_message(
    app, store: JobStore, job_id: str, kind: str, priority: int, timeout: int
) -> tuple[str, str] | None:
    """The job's broker message for the create script (as api.service.prepare_message builds it)."""
    settings = store.settings
    if settings.broker_url != settings.redis_url:
        return None
    try:
        with broker.capture() as messages:
            publish_job(app, settings, job_id, kind, priority, timeout)
    except CannotCapture:
        return None
    return messages[0] if len(messages) == 1 else None


class Mover:
    """What the elected worker does every tick (also callable from tests)."""

    def __init__(self, app, store: JobStore):
        self.app = app
        self.store = store
        self.schedules = ScheduleStore(store.redis)
        self.token = uuid.uuid4().hex
        self._renew = store.redis.register_script(RENEW)
        self._release = store.redis.register_script(RELEASE)

    def lead(self) -> bool:
        ms = int(LEASE_SECONDS * 1000)
        return bool(self._renew(keys=[keys.FLOW_MOVER_LEASE], args=[self.token, ms]))

    def resign(self) -> None:
        self._release(keys=[keys.FLOW_MOVER_LEASE], args=[self.token])

    def tick(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        promoted = self.promote_due(now)
        fired = fire_due(self.schedules, self.make_job, self.status_of, self.store.request_cancel, now)
        released = release_queued(self.schedules, self.status_of, self.release)
        return {"promoted": promoted, "fired": fired, "released": released}

    def tidy(self, now: float | None = None) -> list[str]:
        """Free slots still counted for jobs that no longer exist or are final.

        Every way a job ends or goes frees its slot in the same step; this is
        the safety net (a record removed by hand, a Redis restored from an
        older snapshot), so that a lost slot cannot hold a kind or tenant back.
        """
        now = time.time() if now is None else now
        freed = []
        for kind in KINDS:
            ids = cast(
                list[str],
                self.store.redis.zrangebyscore(keys.flow_out(kind), "-inf", now - TIDY_AFTER_SECONDS, start=0, num=200),
            )
            if not ids:
                continue
            pipe = self.store.redis.pipeline(transaction=False)
            for job_id in ids:
                pipe.hmget(keys.job(job_id), "status", "tenant")
            for job_id, (status, tenant) in zip(ids, pipe.execute(), strict=True):
                if status is None or JobStatus(status).is_final:
                    owners = [tenant] if tenant else cast(set[str], self.store.redis.smembers(keys.TENANTS))
                    cleanup = self.store.redis.pipeline(transaction=False)
                    cleanup.zrem(keys.flow_out(kind), job_id)
                    for owner in owners:  # a vanished record no longer names its tenant
                        cleanup.zrem(keys.flow_tenant_out(owner), job_id)
                    cleanup.execute()
                    freed.append(job_id)
        if freed:
            log.warning("freed the dispatch slots of %d jobs that had ended or gone: %s", len(freed), freed[:5])
            self.store.pump(KINDS)
        return freed

    def resend_lost(self) -> list[str]:
        """Send again the messages of sent jobs that were lost (see lua/resend.lua).

        Looked at only for kinds where someone waits (a lost message holds a slot
        they need); other lost messages are the reconciler's (workers/reconciler.py).
        """
        pushed: list[str] = []
        if not redis_conn.broker_is_store(self.store.settings):
            return pushed
        for kind in KINDS:
            if not self.store.redis.llen(keys.flow_ring(kind)):
                continue
            now = time.time()
            ids = cast(
                list[str],
                self.store.redis.zrangebyscore(keys.flow_out(kind), "-inf", now - LOST_AFTER_SECONDS, start=0, num=50),
            )
            if not ids:
                continue
            pipe = self.store.redis.pipeline(transaction=False)
            for job_id in ids:
                pipe.hmget(keys.job(job_id), "status", "priority", "timeout_seconds")
            jobs = []
            for job_id, (status, priority, timeout) in zip(ids, pipe.execute(), strict=True):
                if status != JobStatus.PENDING:
                    continue
                message = captured_message(self.app, self.store, job_id, kind, int(priority or 0), int(timeout or 0))
                if message is not None:
                    jobs.append([job_id, *message])
            if jobs:
                pushed += self.store._run_batch(
                    "resend",
                    queues=keys.queue_keys(kind),
                    unacked=keys.BROKER_UNACKED,
                    unacked_index=keys.BROKER_UNACKED_INDEX,
                    unacked_grace=UNSTARTED_DELIVERY_SECONDS,
                    suspects=keys.FLOW_SUSPECTS,
                    confirm_after=LOST_AFTER_SECONDS,
                    jobs=jobs,
                )
        for job_id in pushed:
            log.warning("job %s was sent but its message was lost (a Redis restart?): sent it again", job_id)
        return pushed

    def promote_due(self, now: float) -> list[str]:
        """Scheduled jobs whose time has come become pending; returns those promoted."""
        due = cast(list[str], self.store.redis.zrangebyscore(keys.FLOW_DUE, "-inf", now, start=0, num=200))
        return [job_id for job_id in due if self.promote(job_id) in ("sent", "held", "publish")]

    def promote(self, job_id: str, force: bool = False) -> str:
        verdict, info = self.store.promote(job_id, force=force)
        if verdict == "publish":  # no stored message (the broker is elsewhere): publish it now
            publish_job(self.app, self.store.settings, job_id, info["kind"], info["priority"], info["timeout"])
        return verdict

    def release(self, job_id: str) -> str:
        return self.promote(job_id, force=True)

    def status_of(self, job_id: str) -> str | None:
        return cast("str | None", self.store.redis.hget(keys.job(job_id), "status"))

    def make_job(self, record: dict, tick: float, job_id: str, held: bool) -> str:
        """The job of one schedule tick (idempotent: the same tick makes the same job)."""
        template = json.loads(record["job"])
        kind, priority, timeout = template["kind"], int(template.get("priority") or 0), int(template["timeout_seconds"])
        message = captured_message(self.app, self.store, job_id, kind, priority, timeout)
        made, outcome, _ = self.store.create(
            tenant=record["tenant"],
            kind=kind,
            input=template.get("input") or {},
            priority=priority,
            timeout_seconds=timeout,
            metadata=template.get("metadata") or {},
            job_id=job_id,
            idempotency_key=f"schedule:{record['id']}:{int(tick)}",
            request_hash="schedule",
            extra={"schedule_id": record["id"]},
            message=message,
            flow=self.store.settings.fair_dispatch == "on",
            scheduled=held,
        )
        if outcome == "created" and message is None and not held:
            publish_job(self.app, self.store.settings, made, kind, priority, timeout)
        log.info("schedule %s: tick %s made job %s (%s)", record["id"], int(tick), made, outcome)
        return made


class Dispatcher(bootsteps.StartStopStep):
    requires = {"workers.bootsteps:Presence"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.hostname = ""

    def start(self, worker):
        store = job_store()
        self.hostname = worker.hostname
        self.kinds = consumed_kinds(worker.app)
        self.slots = int(worker.concurrency or 1)
        self.mover = Mover(worker.app, store)
        try:
            store.redis.zadd(keys.WORKERS, {worker.hostname: time.time()})
            write_slots(store.redis, self.hostname, self.kinds, self.slots)
            recompute_slots(store.redis)
            store.pump(KINDS)
        except redis.RedisError as exc:
            log.warning("could not announce this worker's job slots yet: %s", exc)
        self._thread = threading.Thread(target=self._loop, name="longrun-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, worker):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        store = job_store()
        try:
            store.redis.hdel(keys.FLOW_WORKER_SLOTS, self.hostname)
            store.redis.zrem(keys.WORKERS, self.hostname)
            recompute_slots(store.redis)
            self.mover.resign()
        except redis.RedisError:
            pass

    def _loop(self) -> None:
        store = job_store()
        interval = max(0.02, store.settings.dispatch_tick_seconds)
        slots_at = written_at = tidied_at = 0.0
        while not self._stop.wait(interval):
            try:
                if time.monotonic() - written_at >= SLOTS_EVERY_SECONDS:
                    written_at = time.monotonic()
                    # Again and again: a Redis restart (or flush) must not leave this worker unknown.
                    write_slots(store.redis, self.hostname, self.kinds, self.slots)
                if not self.mover.lead():
                    continue
                if time.monotonic() - slots_at >= SLOTS_EVERY_SECONDS:
                    slots_at = time.monotonic()
                    recompute_slots(store.redis)
                    store.pump(KINDS)  # room made by workers that joined or jobs that were deleted
                    self.mover.resend_lost()
                if time.monotonic() - tidied_at >= TIDY_EVERY_SECONDS:
                    tidied_at = time.monotonic()
                    self.mover.tidy()
                self.mover.tick()
            except redis.RedisError as exc:
                log.warning("dispatcher tick skipped: %s", exc)
            except Exception:
                log.exception("dispatcher tick failed")
