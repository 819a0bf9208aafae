"""The janitor's heartbeat reaper, on fakeredis: a running job whose heartbeat
went stale and whose lease lapsed is re-queued (its id republished), or failed
as "worker lost" at the attempt cap; a job whose lease is alive is left alone."""

import time

import pytest

from longrun import keys
from tests.support.jobs import claim, events, new_job
from workers.janitor import reap_stale


class Published(list):
    def __call__(self, job_id, kind, priority, timeout):
        self.append((job_id, kind, priority, timeout))


@pytest.fixture
def published():
    return Published()


def vanish(store, job_id):
    """What a worker that vanished mid-job leaves: no lease, a heartbeat in the past."""
    store.redis.delete(keys.lease(job_id))
    store.redis.zadd(keys.RUNNING, {job_id: time.time() - 1})


def test_stale_job_without_a_lease_is_requeued_as_pending_and_republished(fake_store, published):
    job_id = new_job(fake_store, priority=7, timeout=120)
    claim(fake_store, job_id)
    vanish(fake_store, job_id)

    outcome = reap_stale(fake_store, published)

    assert outcome == {"requeue": [job_id]}
    assert published == [(job_id, "sleep", 7, 120)]
    doc = fake_store.get(job_id)
    assert (doc["status"], doc["attempts"]) == ("pending", 1)
    assert [e["status"] for e in events(fake_store.redis, job_id)][-2:] == ["running", "pending"]


def test_requeued_job_is_not_republished_again_before_the_grace(fake_store, published):
    job_id = new_job(fake_store)
    claim(fake_store, job_id)
    vanish(fake_store, job_id)
    reap_stale(fake_store, published)

    assert reap_stale(fake_store, published) == {}
    grace = fake_store.settings.visibility_timeout_seconds
    assert reap_stale(fake_store, published, now=time.time() + grace + 1) == {"requeue": [job_id]}
    assert len(published) == 2


def test_requeued_copy_is_claimed_as_the_next_attempt(fake_store, published):
    job_id = new_job(fake_store)
    claim(fake_store, job_id, token="gone:1:x")
    vanish(fake_store, job_id)
    reap_stale(fake_store, published)

    again = claim(fake_store, job_id, token="other:2:y")

    assert (again.verdict, again.attempts) == ("run", 2)
    assert fake_store.get(job_id)["status"] == "running"
    assert fake_store.redis.zscore(keys.RUNNING, job_id) > time.time()


def test_stale_job_at_the_attempt_cap_fails_as_worker_lost(fake_store, published):
    job_id = new_job(fake_store)
    for attempt in range(1, 4):
        claim(fake_store, job_id, token=f"w:{attempt}:x")
        vanish(fake_store, job_id)

    assert reap_stale(fake_store, published) == {"failed": [job_id]}

    assert published == []
    doc = fake_store.get(job_id)
    assert (doc["status"], doc["attempts"]) == ("failed", 3)
    assert doc["error"]["type"] == "WorkerLost"
    assert fake_store.redis.zscore(keys.RUNNING, job_id) is None


def test_job_whose_lease_is_alive_is_left_running(fake_store, published):
    job_id = new_job(fake_store)
    claim(fake_store, job_id)
    fake_store.redis.zadd(keys.RUNNING, {job_id: time.time() - 1})  # heartbeat late, lease still held

    assert reap_stale(fake_store, published) == {"alive": [job_id]}
    assert published == []
    assert fake_store.get(job_id)["status"] == "running"


def test_job_not_yet_stale_is_not_looked_at(fake_store, published):
    job_id = new_job(fake_store)
    claim(fake_store, job_id)
    fake_store.redis.delete(keys.lease(job_id))

    assert reap_stale(fake_store, published) == {}


def test_stale_job_with_a_cancel_request_is_cancelled_not_requeued(fake_store, published):
    job_id = new_job(fake_store)
    claim(fake_store, job_id)
    fake_store.request_cancel(job_id)
    vanish(fake_store, job_id)

    assert reap_stale(fake_store, published) == {"cancelled": [job_id]}
    assert published == []
    assert fake_store.get(job_id)["status"] == "cancelled"


def test_finished_or_deleted_jobs_are_dropped_from_the_heartbeat_set(fake_store, published):
    deleted = new_job(fake_store)
    claim(fake_store, deleted)
    fake_store.redis.delete(keys.job(deleted))
    vanish(fake_store, deleted)

    assert reap_stale(fake_store, published) == {"gone": [deleted]}
    assert fake_store.redis.zscore(keys.RUNNING, deleted) is None
    assert published == []
