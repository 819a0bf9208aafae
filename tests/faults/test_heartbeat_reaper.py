"""No job stays ``running`` forever: one that stopped reporting and whose worker
vanished is found by the janitor's heartbeat reaper (every 5 s, on any worker)
and re-queued, or failed as "worker lost" once it used its attempts.

The vanished worker is played by what it leaves behind: a job claimed by an
attempt whose process no longer exists (lease lapsed, heartbeat deadline past)
and no message anywhere, as when the broker's copy is gone too. The session
worker, the only worker on this Redis, reaps it.
"""

import time

import pytest

from longrun import keys
from tests.support.jobs import claim, events
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

# Lease (4 s in the tests) + janitor tick (5 s) + a loaded machine.
BOUND_SECONDS = 30


@pytest.fixture
def ghost_job(app, worker):
    """Factory: a job that a vanished worker claimed ``attempts`` times."""
    store = app.extensions["longrun"].store
    made = []

    def make(attempts: int) -> str:
        job_id, _, _ = store.create(tenant="reaper-test", kind="sleep", input={"seconds": 0.5}, timeout_seconds=60)
        for attempt in range(attempts):
            assert claim(store, job_id, token=f"ghost@gone:{99000 + attempt}:x").verdict == "run"
            store.redis.delete(keys.lease(job_id))
        store.redis.zadd(keys.RUNNING, {job_id: time.time() - 1})
        made.append(job_id)
        return job_id

    yield make
    for job_id in made:
        store.delete(job_id)


def test_job_whose_worker_vanished_is_requeued_and_completes(app, ghost_job, worker):
    store = app.extensions["longrun"].store
    job_id = ghost_job(attempts=1)

    done = wait_until(
        lambda: (doc := store.get(job_id))["status"] == "completed" and doc,
        timeout=BOUND_SECONDS,
        message="the reaper to re-queue the job and a worker to run it",
    )

    assert done["attempts"] == 2
    statuses = [e["status"] for e in events(store.redis, job_id)]
    assert statuses[:3] == ["pending", "running", "pending"]  # created, ghost's claim, re-queued
    assert statuses[3:].count("completed") == 1 and statuses[-1] == "completed"


def test_job_whose_worker_vanished_at_the_attempt_cap_fails_as_worker_lost(app, ghost_job, worker):
    store = app.extensions["longrun"].store
    job_id = ghost_job(attempts=store.settings.max_attempts)

    done = wait_until(
        lambda: (doc := store.get(job_id))["status"] == "failed" and doc,
        timeout=BOUND_SECONDS,
        message="the reaper to fail the job",
    )

    assert done["attempts"] == store.settings.max_attempts
    assert done["error"]["type"] == "WorkerLost"
    assert store.redis.zscore(keys.RUNNING, job_id) is None
