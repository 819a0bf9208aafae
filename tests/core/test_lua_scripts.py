"""The job store's Lua scripts on fakeredis: the claim's verdicts and the rule
that a final state is never overwritten (what makes redelivered copies harmless)."""

import json

import pytest

from longrun import keys
from longrun.states import JobStatus
from tests.support.jobs import claim, events, new_job


def test_first_claim_runs_with_attempt_1_and_takes_the_lease(fake_store):
    job_id = new_job(fake_store, seconds=2.5)

    verdict = claim(fake_store, job_id, token="a:1:x")

    assert (verdict.verdict, verdict.input, verdict.attempts) == ("run", {"seconds": 2.5}, 1)
    db = fake_store.redis
    assert db.get(keys.lease(job_id)) == "a:1:x"
    assert 0 < db.ttl(keys.lease(job_id)) <= fake_store.settings.lease_seconds
    assert db.zscore(keys.RUNNING, job_id) is not None
    assert db.hget(keys.job(job_id), "status") == "running"


def test_claim_while_another_copy_holds_the_lease_is_busy_and_counts_no_attempt(fake_store):
    job_id = new_job(fake_store)
    claim(fake_store, job_id, token="a:1:x")

    second = claim(fake_store, job_id, token="b:2:y")

    assert second.verdict == "busy"
    assert 1 <= second.retry_in <= fake_store.settings.lease_seconds
    assert fake_store.redis.hget(keys.job(job_id), "attempts") == "1"
    assert fake_store.redis.get(keys.lease(job_id)) == "a:1:x"


def test_claim_after_the_lease_is_freed_is_the_next_attempt(fake_store):
    job_id = new_job(fake_store)
    claim(fake_store, job_id, token="a:1:x")
    fake_store.redis.delete(keys.lease(job_id))  # what JobRequest.on_failure does when the process died

    again = claim(fake_store, job_id, token="b:2:y")

    assert (again.verdict, again.attempts) == ("run", 2)


@pytest.mark.parametrize("final", [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_claim_of_a_finished_job_is_done_and_changes_nothing(fake_store, final):
    job_id = new_job(fake_store)
    claim(fake_store, job_id)
    fake_store.transition(job_id, final)
    before = fake_store.redis.hgetall(keys.job(job_id))

    assert claim(fake_store, job_id, token="late:9:z").verdict == "done"
    assert fake_store.redis.hgetall(keys.job(job_id)) == before


def test_claim_of_an_unknown_or_deleted_job_is_gone(fake_store):
    assert claim(fake_store, "0" * 32).verdict == "gone"
    assert not fake_store.redis.exists(keys.job("0" * 32))


def test_claim_of_a_job_with_a_cancel_request_cancels_it_instead_of_running(fake_store):
    job_id = new_job(fake_store)
    fake_store.redis.set(keys.cancel(job_id), "1")

    assert claim(fake_store, job_id).verdict == "cancelled"
    assert fake_store.get(job_id)["status"] == "cancelled"
    assert fake_store.redis.hget(keys.job(job_id), "attempts") == "0"


def test_claim_past_the_attempt_cap_fails_the_job_as_worker_lost(fake_store):
    job_id = new_job(fake_store)
    for attempt in range(1, 4):
        assert claim(fake_store, job_id, token=f"w:{attempt}:x").attempts == attempt
        fake_store.redis.delete(keys.lease(job_id))

    assert claim(fake_store, job_id, token="w:4:x").verdict == "exhausted"

    doc = fake_store.get(job_id)
    assert doc["status"] == "failed"
    assert doc["attempts"] == 3
    assert doc["error"]["type"] == "WorkerLost"
    assert doc["error"]["message"].startswith("worker lost")
    assert not fake_store.redis.exists(keys.lease(job_id))
    assert fake_store.redis.zscore(keys.RUNNING, job_id) is None


@pytest.mark.parametrize("final", [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_a_final_state_is_never_overwritten(fake_store, final):
    job_id = new_job(fake_store)
    claim(fake_store, job_id)
    assert fake_store.transition(job_id, final, meta=json.dumps({"status": "X", "result": "first"}))
    meta = fake_store.redis.get(keys.meta(job_id))
    seen = len(events(fake_store.redis, job_id))

    for late in JobStatus:
        assert fake_store.transition(job_id, late, error={"type": "Late", "message": "late copy"}) is None

    assert fake_store.get(job_id)["status"] == final.value
    assert fake_store.redis.get(keys.meta(job_id)) == meta
    assert len(events(fake_store.redis, job_id)) == seen


def test_reaching_a_final_state_frees_the_lease_and_the_heartbeat_entry(fake_store):
    job_id = new_job(fake_store)
    claim(fake_store, job_id)

    fake_store.transition(job_id, JobStatus.COMPLETED)

    assert not fake_store.redis.exists(keys.lease(job_id))
    assert fake_store.redis.zscore(keys.RUNNING, job_id) is None


def test_release_frees_only_the_lease_of_the_process_that_died(fake_store):
    job_id = new_job(fake_store)
    claim(fake_store, job_id, token="host@a:41:x")

    assert fake_store.release_lease(job_id, holder="host@a:4:") is False  # pid 4 is not pid 41
    assert fake_store.release_lease(job_id, holder="other@b:41:") is False
    assert fake_store.redis.get(keys.lease(job_id)) == "host@a:41:x"

    assert fake_store.release_lease(job_id, holder="host@a:41:") is True
    assert not fake_store.redis.exists(keys.lease(job_id))
