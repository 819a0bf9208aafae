"""The reconciler (workers/reconciler.py) on a real Redis: a pending job whose
message was deleted from its queue by hand is dispatched again, once; a job
whose message exists (queued in any priority list, or delivered and unacked)
is left alone; a running job that the reaper cannot see is handed to it."""

import json
import time

import pytest

from longrun import keys
from longrun.states import JobStatus
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

RECONCILE_SECONDS = 3  # a pass every second; a job must look stranded for one second first


def copies(db, job_id, kind="sleep") -> int:
    queued = sum(job_id in m for key in keys.queue_keys(kind) for m in db.lrange(key, 0, -1))
    return queued + sum(job_id in m for m in db.hvals(keys.BROKER_UNACKED))


@pytest.fixture
def stack(redis_factory, settings_for, client_for):
    redis = redis_factory()
    # Direct publish: every submit's message is in the queue at once, for the test to take away
    # (fair dispatch's held jobs have none until their turn; tests/flow covers them).
    settings = settings_for(redis.url, reconcile_seconds=RECONCILE_SECONDS, fair_dispatch="off")
    client = client_for(settings)
    services = client.application.extensions["longrun"]
    return redis, settings, client, services


def submit(client, **body):
    response = client.post("/api/v1/jobs", json={"kind": "sleep", "input": {"seconds": 0.2}, **body})
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def capture_for(services):
    from workers import broker
    from workers.publish import publish_job

    def capture(job_id, kind, priority, timeout):
        with broker.capture() as messages:
            publish_job(services.celery, services.settings, job_id, kind, priority, timeout)
        return messages[0]

    return capture


def test_a_message_deleted_by_hand_is_dispatched_again_and_one_that_exists_is_left_alone(stack, start_worker):
    redis, _, client, services = stack
    db = services.store.redis
    # A worker that runs the reconciler but consumes no sleep jobs, so the queue stays as we make it.
    start_worker(
        "reconciler",
        redis=redis.url,
        extra_args=["-Q", keys.queue("inference")],
        LONGRUN_RECONCILE_SECONDS=RECONCILE_SECONDS,
        LONGRUN_FAIR_DISPATCH="off",
    )
    stranded, kept, urgent = submit(client), submit(client), submit(client, priority=9)
    removed = sum(
        db.lrem(key, 0, m) for key in keys.queue_keys("sleep") for m in db.lrange(key, 0, -1) if stranded in m
    )
    assert removed == 1 and copies(db, stranded) == 0

    wait_until(
        lambda: copies(db, stranded) == 1,
        timeout=RECONCILE_SECONDS * 4,
        interval=0.1,
        message="the reconciler to publish the stranded job again",
    )
    time.sleep(RECONCILE_SECONDS * 1.5)  # more passes: still one copy of each, none of the others doubled
    assert (copies(db, stranded), copies(db, kept), copies(db, urgent)) == (1, 1, 1)

    start_worker("runner", redis=redis.url, concurrency=2, LONGRUN_FAIR_DISPATCH="off")
    wait_until(
        lambda: all(db.hget(keys.job(j), "status") == "completed" for j in (stranded, kept, urgent)),
        timeout=30,
        message="the three jobs to complete",
    )
    assert [db.hget(keys.job(j), "attempts") for j in (stranded, kept, urgent)] == ["1", "1", "1"]


def test_only_a_job_that_looked_stranded_on_two_passes_is_pushed_and_unacked_or_young_ones_never(stack):
    from workers import reconciler

    _, _, client, services = stack
    store, db = services.store, services.store.redis
    capture = capture_for(services)
    stranded, delivered, young = submit(client), submit(client), submit(client)
    for key in keys.queue_keys("sleep"):
        for message in db.lrange(key, 0, -1):
            db.lrem(key, 0, message)  # every message gone: young has none either
            if delivered in message:  # as kombu keeps a delivered, unacked message
                db.hset(keys.BROKER_UNACKED, "tag-1", json.dumps([json.loads(message), "", "longrun.sleep"]))
    older = {stranded: time.time() - 60, delivered: time.time() - 60}
    for job_id, created in older.items():  # old enough to be looked at
        db.zadd(keys.tenant_index("default", "pending"), {job_id: int(created * 1e6)})

    first = reconciler.reconcile(store, capture, ["sleep"])
    assert first.get("suspect") == [stranded] and first.get("present") == [delivered]
    assert all(young not in ids for ids in first.values())  # too young to be looked at
    assert copies(db, stranded) == 0

    time.sleep(reconciler.period(store) + 0.1)
    second = reconciler.reconcile(store, capture, ["sleep"])
    assert second.get("pushed") == [stranded]
    third = reconciler.reconcile(store, capture, ["sleep"])
    assert "pushed" not in third and sorted(third["present"]) == sorted([stranded, delivered])
    assert (copies(db, stranded), copies(db, delivered)) == (1, 1)
    # Pushed means no longer suspected; young (no message either) is looked at once it is old enough.
    assert set(db.hkeys(keys.RECONCILE_SUSPECTS)) <= {young}


def test_a_running_job_the_reaper_cannot_see_is_handed_to_it_and_requeued(stack):
    from longrun.jobstore import worker_lost
    from workers import janitor, reconciler

    _, settings, client, services = stack
    store, db = services.store, services.store.redis
    job_id = submit(client)
    error, meta = worker_lost(settings.max_attempts)
    assert store.claim(job_id, "gone-worker:1:x", lost_error=error, lost_meta=meta).verdict == "run"
    # Its worker vanished and the heartbeat entry with it (e.g. a write lost in a failover).
    db.delete(keys.lease(job_id))
    db.zrem(keys.RUNNING, job_id)
    published = []

    outcome = reconciler.reconcile(store, capture_for(services), ["sleep"])
    assert outcome["adopted"] == [job_id]
    reaped = janitor.reap_stale(store, lambda *job: published.append(job))

    assert reaped == {"requeue": [job_id]} and published[0][0] == job_id
    assert db.hget(keys.job(job_id), "status") == JobStatus.PENDING
