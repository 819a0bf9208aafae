"""The job store's own Redis code, against fakeredis (Lua included)."""

import json

import fakeredis
import pytest

from longrun import keys
from longrun.errors import JobExpired, JobNotFound
from longrun.jobstore import JobStore
from longrun.settings import Settings
from longrun.states import JobStatus

LOST = {"type": "WorkerLost", "message": "lost"}


@pytest.fixture
def redis():
    client = fakeredis.FakeRedis(decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def store(redis):
    return JobStore(redis, Settings(retention_seconds=100, tombstone_seconds=50))


@pytest.fixture
def new_job(store):
    def make(tenant="acme", **kwargs):
        job_id, outcome, _ = store.create(
            tenant=tenant, kind="sleep", input={"seconds": 1}, timeout_seconds=60, **kwargs
        )
        assert outcome == "created"
        return job_id

    return make


def run(store, job_id, token="t1"):
    return store.claim(job_id, token, lost_error=LOST, lost_meta="{}")


def test_created_job_is_pending_and_indexed(store, new_job, redis):
    job_id = new_job()

    job = store.get(job_id, "acme")

    assert job["status"] == "pending"
    assert job["progress"]["seq"] == 0
    assert redis.zscore(keys.tenant_index("acme"), job_id) is not None
    assert redis.zscore(keys.tenant_index("acme", "pending"), job_id) is not None


def test_another_tenant_gets_not_found(store, new_job):
    job_id = new_job()

    with pytest.raises(JobNotFound):
        store.get(job_id, "intruder")


def test_idempotency_key_returns_existing_or_conflict(store, new_job):
    job_id = new_job(idempotency_key="k1", request_hash="h1")

    same = store.create(
        tenant="acme", kind="sleep", input={}, timeout_seconds=1, idempotency_key="k1", request_hash="h1"
    )
    other = store.create(
        tenant="acme", kind="sleep", input={}, timeout_seconds=1, idempotency_key="k1", request_hash="h2"
    )
    elsewhere = store.create(
        tenant="beta", kind="sleep", input={}, timeout_seconds=1, idempotency_key="k1", request_hash="h1"
    )

    assert same[:2] == (job_id, "existing")
    assert other[:2] == (job_id, "conflict")
    assert elsewhere[1] == "created"  # keys are per tenant


def test_claim_runs_once_then_reports_busy_to_another_copy(store, new_job):
    job_id = new_job()

    first = run(store, job_id, "copy-1")
    second = run(store, job_id, "copy-2")

    assert (first.verdict, first.attempts, first.input) == ("run", 1, {"seconds": 1})
    assert second.verdict == "busy" and second.retry_in >= 1
    assert store.get(job_id)["status"] == "running"


def test_final_status_is_never_overwritten(store, new_job):
    job_id = new_job()
    run(store, job_id)
    store.transition(job_id, JobStatus.COMPLETED, meta=json.dumps({"status": "SUCCESS", "result": 7}))

    assert store.transition(job_id, JobStatus.FAILED, error={"type": "X", "message": "late"}) is None
    assert store.transition(job_id, JobStatus.RUNNING, progress={"percentage": 5}) is None
    assert run(store, job_id, "redelivered").verdict == "done"
    job = store.get(job_id)
    assert (job["status"], job["result"], job["error"]) == ("completed", 7, None)


def test_transition_moves_the_job_between_status_indexes_and_appends_events(store, new_job, redis):
    job_id = new_job()
    run(store, job_id)
    seq = store.transition(job_id, JobStatus.RUNNING, progress={"percentage": 40, "step_name": "b"})

    assert redis.zscore(keys.tenant_index("acme", "pending"), job_id) is None
    assert redis.zscore(keys.tenant_index("acme", "running"), job_id) is not None
    events = redis.xrange(keys.events(job_id))
    assert [e["status"] for _, e in events] == ["pending", "running", "running"]
    assert [int(e["seq"]) for _, e in events] == [0, 1, seq]
    assert json.loads(events[-1][1]["progress"])["step_name"] == "b"


def test_final_transition_sets_retention_and_tombstone(store, new_job, redis):
    job_id = new_job(idempotency_key="k", request_hash="h")
    run(store, job_id)
    store.transition(job_id, JobStatus.FAILED, error={"type": "Boom", "message": "no"})

    assert 0 < redis.ttl(keys.job(job_id)) <= 100
    assert 0 < redis.ttl(keys.meta(job_id)) <= 100
    assert 0 < redis.ttl(keys.events(job_id)) <= 100
    assert 0 < redis.ttl(keys.idempotency("acme", "k")) <= 100
    assert 100 < redis.ttl(keys.tombstone(job_id)) <= 150
    assert redis.exists(keys.lease(job_id)) == 0


def test_expired_job_raises_expired_until_its_tombstone_goes(store, new_job, redis):
    job_id = new_job()
    run(store, job_id)
    store.transition(job_id, JobStatus.COMPLETED, meta="{}")
    redis.delete(keys.job(job_id), keys.meta(job_id))  # what the TTL does

    with pytest.raises(JobExpired):
        store.get(job_id, "acme")
    with pytest.raises(JobNotFound):
        store.get(job_id, "intruder")  # a tombstone tells nothing to other tenants
    redis.delete(keys.tombstone(job_id))
    with pytest.raises(JobNotFound):
        store.get(job_id, "acme")


def test_expire_due_drops_index_entries_of_expired_jobs(store, new_job, redis):
    job_id = new_job()
    run(store, job_id)
    store.transition(job_id, JobStatus.COMPLETED, meta="{}")
    redis.delete(keys.job(job_id))

    assert store.expire_due(now=10**12) == [job_id]
    assert redis.zscore(keys.tenant_index("acme"), job_id) is None
    assert redis.zscore(keys.tenant_index("acme", "completed"), job_id) is None
    assert redis.zcard(keys.EXPIRY) == 0


def test_retention_zero_keeps_finished_jobs(redis):
    store = JobStore(redis, Settings(retention_seconds=0))
    job_id, _, _ = store.create(tenant="acme", kind="sleep", input={}, timeout_seconds=1)
    run(store, job_id)
    store.transition(job_id, JobStatus.COMPLETED, meta="{}")

    assert redis.ttl(keys.job(job_id)) == -1
    assert redis.zcard(keys.EXPIRY) == 0


def test_cancel_of_pending_job_is_immediate_and_of_running_job_is_a_request(store, new_job, redis):
    pending, running = new_job(), new_job()
    run(store, running)

    assert store.request_cancel(pending) == "cancelled"
    assert store.request_cancel(running) == "requested"
    assert redis.exists(keys.cancel(running)) == 1
    assert store.get(pending)["status"] == "cancelled"
    assert store.request_cancel(pending) == "final:cancelled"
    assert run(store, running, "after-restart").verdict == "cancelled"


def test_claim_past_the_attempt_cap_fails_the_job(redis):
    store = JobStore(redis, Settings(max_attempts=2))
    job_id, _, _ = store.create(tenant="acme", kind="sleep", input={}, timeout_seconds=1)
    for attempt in range(2):
        assert run(store, job_id, f"copy-{attempt}").verdict == "run"
        redis.delete(keys.lease(job_id))  # its process died

    assert run(store, job_id, "copy-3").verdict == "exhausted"
    job = store.get(job_id)
    assert (job["status"], job["attempts"], job["error"]) == ("failed", 2, LOST)


def test_list_pages_newest_first_and_filters_by_kind(store, redis):
    ids = [
        store.create(tenant="acme", kind=kind, input={}, timeout_seconds=1)[0]
        for kind in ("sleep", "other", "sleep", "sleep")
    ]

    page1, cursor = store.list_jobs("acme", kind="sleep", limit=2)
    page2, last = store.list_jobs("acme", kind="sleep", limit=2, cursor=cursor)

    assert [j["id"] for j in page1 + page2] == [ids[3], ids[2], ids[0]]
    assert last is None


def test_delete_and_clear_leave_nothing(store, new_job, redis):
    done = new_job(idempotency_key="k", request_hash="h")
    run(store, done)
    store.transition(done, JobStatus.COMPLETED, meta="{}")
    other = new_job()

    assert store.clear("acme", JobStatus.COMPLETED) == [done]
    store.delete(other, "acme")

    # Only service-wide entries stay: the tenant set and the metric counters.
    assert set(redis.keys()) - set(keys.METRICS_KEYS) == {keys.TENANTS}
