"""Submitting writes the job's record and its broker message in one atomic step
when the broker is the job store's Redis (workers/broker.py)."""

import json

from api import service
from longrun import keys
from longrun.jobstore import new_job_id
from workers import broker


def test_the_message_is_built_by_kombu_but_not_sent(app, redis_client):
    svc = app.extensions["longrun"]
    job_id = new_job_id()
    waiting = redis_client.llen(keys.queue("sleep") + ":2")

    queue_key, payload = service.prepare_message(svc, job_id, "sleep", priority=7, timeout=30)

    assert queue_key == keys.queue("sleep") + ":2"  # priority 7 -> kombu's step 2
    assert redis_client.llen(queue_key) == waiting
    message = json.loads(payload)
    assert message["headers"]["id"] == job_id
    assert message["headers"]["task"] == keys.task_name("sleep")
    assert message["properties"]["priority"] == 2


QUEUE = "lr-test:publish-queue"  # no worker consumes it


def test_the_create_script_pushes_the_message_with_the_record(app, redis_client):
    svc = app.extensions["longrun"]
    job_id = new_job_id()
    _, payload = service.prepare_message(svc, job_id, "sleep", priority=0, timeout=30)
    redis_client.delete(QUEUE)

    svc.store.create(
        tenant="t-publish", kind="sleep", input={}, timeout_seconds=30, job_id=job_id, message=(QUEUE, payload)
    )

    assert redis_client.hget(keys.job(job_id), "status") == "pending"
    assert redis_client.lrange(QUEUE, 0, -1) == [payload]


def test_an_idempotent_replay_pushes_no_second_message(app, redis_client):
    store = app.extensions["longrun"].store
    redis_client.delete(QUEUE)

    outcomes = [
        store.create(
            tenant="t-publish",
            kind="sleep",
            input={},
            timeout_seconds=30,
            idempotency_key="k-1",
            request_hash="h",
            message=(QUEUE, f"message {n}"),
        )[1]
        for n in range(2)
    ]

    assert outcomes == ["created", "existing"]
    assert redis_client.lrange(QUEUE, 0, -1) == ["message 0"]


def test_with_the_broker_elsewhere_the_message_is_published_separately(settings_for, redis_url):
    from api.extensions import Services
    from workers.celery_app import make_celery

    settings = settings_for(redis_url, broker_url="redis://127.0.0.1:1/0")
    svc = Services(settings, store=None, artifacts=None, celery_app=make_celery(settings))

    assert service.prepare_message(svc, new_job_id(), "sleep", priority=0, timeout=30) is None
    assert broker._captured.get() is None


def test_a_full_queue_is_refused_by_the_create_script_before_anything_is_written(app, redis_client):
    store = app.extensions["longrun"].store
    kind = "t-unconsumed"  # a kind whose queue no worker takes from
    redis_client.delete(*keys.queue_keys(kind), QUEUE)
    redis_client.rpush(keys.queue_keys(kind)[0], "a")
    redis_client.rpush(keys.queue_keys(kind)[-1], "b")
    job_id = new_job_id()

    _, outcome, record = store.create(
        tenant="t-publish",
        kind=kind,
        input={},
        timeout_seconds=30,
        job_id=job_id,
        idempotency_key="k-full",
        max_queue_depth=2,
        message=(QUEUE, "never pushed"),
    )

    assert (outcome, record) == ("full", {"queued": 2})
    assert not redis_client.exists(keys.job(job_id), keys.idempotency("t-publish", "k-full"))
    assert redis_client.llen(QUEUE) == 0
    redis_client.delete(*keys.queue_keys(kind))
