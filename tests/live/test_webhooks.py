"""Webhooks: signed deliveries (Standard Webhooks), retries with backoff, the
delivery log and manual redelivery, against a receiver on 127.0.0.1."""

import base64
import hashlib
import hmac
import json
import time

import pytest

from longrun import keys
from longrun.settings import Settings
from longrun.states import JobStatus
from longrun.webhooks import backoff_seconds, event_for, sign
from tests.support.waiting import wait_until

SECRET = "whsec_" + base64.b64encode(b"a test secret of 32 bytes length").decode()


def verify(secret: str, headers: dict, body: bytes, tolerance: int = 300) -> dict:
    """The receiver snippet of docs/live-events.md, written out independently of longrun.webhooks."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        raise ValueError("timestamp too old")
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    signatures = [s.split(",", 1)[1] for s in headers["webhook-signature"].split() if s.startswith("v1,")]
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise ValueError("bad signature")
    return json.loads(body)


def test_signature_is_hmac_sha256_over_id_timestamp_and_body():
    body = b'{"type":"job.completed"}'
    header = sign(SECRET, "msg_1", 1700000000, body)

    assert header.startswith("v1,")
    verify(
        SECRET,
        {
            "webhook-id": "msg_1",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": sign(SECRET, "msg_1", int(time.time()), body),
        },
        body,
    )
    with pytest.raises(ValueError):
        verify(
            SECRET,
            {
                "webhook-id": "msg_2",
                "webhook-timestamp": str(int(time.time())),
                "webhook-signature": sign(SECRET, "msg_1", int(time.time()), body),
            },
            body,
        )
    assert sign("plain secret", "msg_1", 1, body) != sign("other secret", "msg_1", 1, body)
    assert header == sign(SECRET, "msg_1", 1700000000, body)


def test_state_changes_map_to_started_progress_and_completed():
    assert event_for(JobStatus.PENDING, None) is None
    assert event_for(JobStatus.RUNNING, None) == "started"
    assert event_for(JobStatus.RUNNING, {"percentage": 5}) == "progress"
    assert {event_for(s, None) for s in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)} == {"completed"}


def test_retries_back_off_exponentially_up_to_a_cap():
    settings = Settings(webhook_retry_base_seconds=2, webhook_retry_max_seconds=30)

    assert [backoff_seconds(settings, n) for n in range(1, 6)] == [2, 4, 8, 16, 30]


def test_webhook_to_a_private_address_is_refused_at_submit(settings_for, redis_url, api_headers):
    from api import create_app

    app = create_app(
        {"TESTING": True, "LONGRUN_SETTINGS": settings_for(redis_url, webhook_secret=SECRET, url_allowlist="")}
    )  # the test session allows 127.0.0.1
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = api_headers["Authorization"]

    response = client.post(
        "/api/v1/jobs", json={"kind": "sleep", "input": {}, "webhook": {"url": "http://127.0.0.1:9/hook"}}
    )

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "unsafe_url"
    bad_event = client.post(
        "/api/v1/jobs", json={"kind": "sleep", "webhook": {"url": "https://example.com/hook", "events": ["finished"]}}
    )
    assert bad_event.status_code == 400


def test_webhooks_need_a_configured_secret(client):
    response = client.post("/api/v1/jobs", json={"kind": "sleep", "webhook": {"url": "https://example.com/h"}})

    assert response.status_code == 400
    assert "not enabled" in response.get_json()["error"]["message"]


@pytest.mark.integration
def test_signed_deliveries_verify_retry_after_500_and_every_attempt_is_logged(
    redis_factory, start_worker, settings_for, api_headers, webhook_receiver
):
    from api import create_app

    redis = redis_factory()  # a Redis of its own: only this worker (with these settings) delivers
    env = {
        "LONGRUN_WEBHOOK_SECRET": SECRET,
        "LONGRUN_URL_ALLOWLIST": "127.0.0.1",
        "LONGRUN_WEBHOOK_RETRY_BASE_SECONDS": "0.5",
        "LONGRUN_WEBHOOK_PROGRESS_INTERVAL_SECONDS": "0",
    }
    start_worker("webhooks", concurrency=2, redis=redis.url, **env)
    app = create_app(
        {"TESTING": True, "LONGRUN_SETTINGS": settings_for(redis.url, webhook_secret=SECRET, url_allowlist="127.0.0.1")}
    )
    http = app.test_client()
    http.environ_base["HTTP_AUTHORIZATION"] = api_headers["Authorization"]
    failed_once = []

    def respond(body):  # the first completed delivery fails with a 500
        if json.loads(body)["type"] == "job.completed" and not failed_once:
            failed_once.append(1)
            return 500
        return 200

    webhook_receiver.respond = respond

    job_id = http.post(
        "/api/v1/jobs",
        json={
            "kind": "sleep",
            "input": {"seconds": 0.6, "steps": 3},
            "webhook": {"url": webhook_receiver.url, "events": ["started", "progress", "completed"]},
        },
    ).get_json()["id"]

    def completed_delivered():
        log = http.get(f"/api/v1/jobs/{job_id}/webhooks").get_json()["deliveries"]
        done = [d for d in log if d["event"] == "completed" and d["state"] == "delivered"]
        return log if done else None

    log = wait_until(completed_delivered, timeout=60, interval=0.2, message="the completed delivery")

    received = webhook_receiver.received()
    bodies = [verify(SECRET, r["headers"], r["body"]) for r in received]  # every one verifies
    assert sorted(b["type"] for b in bodies) == ["job.completed"] * 2 + ["job.progress"] * 3 + ["job.started"]
    # Deliveries are independent messages; their data's progress.seq orders them.
    progress = sorted((b for b in bodies if b["type"] == "job.progress"), key=lambda b: b["data"]["progress"]["seq"])
    assert [b["data"]["progress"]["current_step"] for b in progress] == [1, 2, 3]
    completed = [(r, b) for r, b in zip(received, bodies) if b["type"] == "job.completed"]
    assert [r["status"] for r, _ in completed] == [500, 200]
    # A retry is the same message (same webhook-id and body) with a new signature.
    assert completed[0][0]["headers"]["webhook-id"] == completed[1][0]["headers"]["webhook-id"]
    assert completed[0][0]["body"] == completed[1][0]["body"]
    assert completed[1][1]["data"]["status"] == "completed"
    assert completed[1][1]["data"]["result"] == {"slept": 0.6, "steps": 3}

    final = next(d for d in log if d["event"] == "completed")
    assert final["id"] == completed[0][0]["headers"]["webhook-id"]
    assert [(a["n"], a["status_code"], a["ok"]) for a in final["attempts"]] == [(1, 500, False), (2, 200, True)]
    assert [d["event"] for d in log] == ["started", "progress", "progress", "progress", "completed"]

    # Manual redelivery: the same message once more, logged as a third attempt.
    redeliver = http.post(f"/api/v1/jobs/{job_id}/webhooks/{final['id']}/redeliver")
    assert redeliver.status_code == 202
    wait_until(lambda: len(webhook_receiver.received()) == len(received) + 1, timeout=30, message="redelivery")
    again = webhook_receiver.received()[-1]
    assert again["headers"]["webhook-id"] == final["id"]
    verify(SECRET, again["headers"], again["body"])

    def three_attempts():
        log = http.get(f"/api/v1/jobs/{job_id}/webhooks").get_json()["deliveries"]
        return next(d for d in log if d["id"] == final["id"])["attempts"][2:]

    assert wait_until(three_attempts, message="third attempt logged")[0]["status_code"] == 200
    assert http.post(f"/api/v1/jobs/{job_id}/webhooks/msg_nope/redeliver").status_code == 404


def test_dispatcher_records_and_publishes_only_wanted_events_and_throttles_progress(
    redis_client, settings_for, redis_url
):
    from longrun.jobstore import JobStore
    from longrun.webhooks import DeliveryLog, Dispatcher

    settings = settings_for(redis_url, webhook_progress_interval_seconds=60)
    store = JobStore(redis_client, settings)
    published = []
    store.on_transition = Dispatcher(store, lambda job_id, delivery_id: published.append(delivery_id))
    hook = json.dumps({"url": "https://example.com/h", "events": ["progress", "completed"]})
    job_id, _, _ = store.create(tenant="wh-unit", kind="sleep", input={}, timeout_seconds=60, extra={"webhook": hook})
    plain_id, _, _ = store.create(tenant="wh-unit", kind="sleep", input={}, timeout_seconds=60)

    store.transition(job_id, JobStatus.RUNNING)  # started: not asked for
    store.transition(job_id, JobStatus.RUNNING, progress={"percentage": 10})
    store.transition(job_id, JobStatus.RUNNING, progress={"percentage": 20})  # throttled
    store.transition(job_id, JobStatus.COMPLETED)
    store.transition(plain_id, JobStatus.RUNNING, progress={"percentage": 10})

    log = DeliveryLog(redis_client, settings).list(job_id)
    assert [d["event"] for d in log] == ["progress", "completed"]
    assert [d["id"] for d in log] == published
    assert all(d["state"] == "pending" and d["attempts"] == [] for d in log)
    assert DeliveryLog(redis_client, settings).list(plain_id) == []
    store.delete(job_id)
    assert DeliveryLog(redis_client, settings).list(job_id) == []


def test_cancelling_a_pending_job_in_the_api_sends_its_completed_webhook(redis_factory, settings_for, api_headers):
    from api import create_app
    from longrun.webhooks import DeliveryLog

    redis = redis_factory()  # no worker: the job stays pending until cancelled
    settings = settings_for(redis.url, webhook_secret=SECRET, url_allowlist="127.0.0.1")
    app = create_app({"TESTING": True, "LONGRUN_SETTINGS": settings})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = api_headers["Authorization"]
    job_id = client.post("/api/v1/jobs", json={"kind": "sleep", "webhook": {"url": "http://127.0.0.1:9/h"}}).get_json()[
        "id"
    ]

    assert client.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 200

    (delivery,) = client.get(f"/api/v1/jobs/{job_id}/webhooks").get_json()["deliveries"]
    assert delivery["event"] == "completed" and delivery["url"] == "http://127.0.0.1:9/h"
    body = json.loads(DeliveryLog(app.extensions["longrun"].store.redis, settings).get(job_id, delivery["id"])["body"])
    assert body["type"] == "job.completed" and body["data"]["status"] == "cancelled"
    assert app.extensions["longrun"].store.redis.llen(keys.WEBHOOK_QUEUE) == 1  # the delivery task is queued


def test_a_claimed_job_primes_the_dispatcher_so_no_extra_read_is_needed(redis_url):
    import fakeredis

    from longrun.jobstore import JobStore, worker_lost
    from longrun.settings import Settings
    from longrun.webhooks import Dispatcher

    client = fakeredis.FakeRedis(decode_responses=True)
    store = JobStore(client, Settings())
    dispatcher = Dispatcher(store, lambda job_id, delivery_id: None)
    store.on_transition = dispatcher
    webhook = {"url": "https://example.com/h", "events": ["completed"]}
    job_id, _, _ = store.create(
        tenant="t", kind="sleep", input={}, timeout_seconds=5, extra={"webhook": json.dumps(webhook)}
    )
    lost_error, lost_meta = worker_lost(3)

    store.claim(job_id, "tok", lost_error=lost_error, lost_meta=lost_meta)
    client.hdel(keys.job(job_id), "webhook")  # a read now would find nothing

    assert dispatcher.config(job_id) == {"url": "https://example.com/h", "events": ["completed"]}
    client.close()
