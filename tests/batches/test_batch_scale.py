"""A 10,000-item batch in one request; backpressure for a batch as a whole;
retention and the webhook of a batch (once, when it ends)."""

import json
import time

import pytest

from longrun import keys
from longrun.artifacts import ArtifactStore
from longrun.jobstore import JobStore
from workers.janitor import batch_pass

pytestmark = pytest.mark.integration


def test_ten_thousand_items_in_one_request(batch_stack):
    stack = batch_stack(max_queue_depth=10_000)
    items = [{"seconds": 0, "steps": 1 + i % 5} for i in range(10_000)]

    response = stack.submit(items=items)

    bid = response.get_json()["id"]
    assert response.get_json()["counts"]["total"] == 10_000
    assert stack.batch(bid)["counts"]["pending"] == 10_000
    assert stack.redis.llen(keys.batch_items(bid)) == 10_000
    assert sum(stack.redis.llen(k) for k in keys.queue_keys("sleep")) == 10_000  # one message per item
    ids = stack.redis.lrange(keys.batch_items(bid), 0, -1)
    assert len(set(ids)) == 10_000
    last = stack.redis.hgetall(keys.job(ids[-1]))
    assert last["batch_id"] == bid and last["batch_index"] == "9999" and json.loads(last["input"])["steps"] == 5
    # Every item is in the tenant's job index, each at its own position (paging by creation time works).
    assert stack.redis.zcard(keys.tenant_index("default", "pending")) == 10_000
    assert len(set(stack.redis.zrange(keys.tenant_index("default"), 0, -1, withscores=True))) == 10_000
    page = stack.client.get(f"/api/v1/batches/{bid}/jobs?limit=500&cursor=9800").get_json()
    assert len(page["jobs"]) == 200 and page["next_cursor"] is None

    # Cancel reaches all of them in pipelined chunks.
    done = stack.client.post(f"/api/v1/batches/{bid}/cancel").get_json()
    assert done["status"] == "cancelled" and done["counts"]["cancelled"] == 10_000
    assert stack.client.delete(f"/api/v1/batches/{bid}").status_code == 204
    assert stack.redis.zcard(keys.tenant_index("default")) == 0


def test_a_batch_that_would_overflow_the_queue_is_refused_whole(batch_stack):
    stack = batch_stack(max_queue_depth=100)
    before = stack.longrun_keys()

    refused = stack.submit(items=[{"seconds": 0}] * 101, expect=503)

    assert refused.headers["Retry-After"]
    assert refused.get_json()["error"]["code"] == "queue_full"
    assert stack.longrun_keys() == before
    stack.submit(items=[{"seconds": 0}] * 60)
    assert stack.submit(items=[{"seconds": 0}] * 41, expect=503).get_json()["error"]["details"]["queued"] == 60
    stack.submit(items=[{"seconds": 0}] * 40)


def test_a_batch_and_its_jobs_expire_together(batch_stack):
    stack = batch_stack(retention_seconds=1)
    bid = stack.submit(items=[{"seconds": 0}] * 3).get_json()["id"]
    ids = stack.redis.lrange(keys.batch_items(bid), 0, -1)
    stack.client.post(f"/api/v1/batches/{bid}/cancel")
    # Finished items keep no TTL of their own: they go when their batch goes.
    assert all(stack.redis.ttl(keys.job(i)) == -1 for i in ids)
    store = JobStore.from_settings(stack.settings)
    assert batch_pass(store, ArtifactStore(stack.settings.artifacts_dir))["batches_expired"] == []

    time.sleep(1.1)
    assert batch_pass(store, ArtifactStore(stack.settings.artifacts_dir))["batches_expired"] == [bid]

    assert not any(stack.redis.exists(keys.job(i)) for i in ids)
    response = stack.client.get(f"/api/v1/batches/{bid}")
    assert response.status_code == 410 and response.get_json()["error"]["code"] == "expired"


def test_the_batch_webhook_fires_once_when_the_batch_ends(batch_stack, webhook_receiver, poll_until):
    secret = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQ="
    stack = batch_stack(webhook_secret=secret, url_allowlist="127.0.0.1")
    stack.start_worker(concurrency=2, LONGRUN_WEBHOOK_SECRET=secret, LONGRUN_URL_ALLOWLIST="127.0.0.1")

    bid = stack.submit(
        items=[{"seconds": 0}] * 4 + [{"seconds": 0, "fail": True}], webhook={"url": webhook_receiver.url}
    ).get_json()["id"]

    received = poll_until(webhook_receiver.received, timeout=40, interval=0.2, message="the batch webhook")
    body = json.loads(received[0]["body"])
    assert body["type"] == "batch.completed"
    assert body["data"]["id"] == bid and body["data"]["counts"]["completed"] == 4
    assert body["data"]["counts"]["failed"] == 1 and body["data"]["status"] == "completed"
    assert received[0]["headers"]["webhook-signature"].startswith("v1,")
    time.sleep(6)  # a janitor pass later: still one delivery
    assert len(webhook_receiver.received()) == 1
