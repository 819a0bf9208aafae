"""Fair dispatch with real Redis and real worker processes: tenants take turns,
weights give shares, caps hold jobs in Redis (never in a worker), and no job
is dispatched twice however many API processes and workers there are."""

import json
import threading
from collections import Counter
from itertools import pairwise

import pytest
import requests

from longrun import keys
from tests.support.tenants import bearer

pytestmark = pytest.mark.integration


def started_order(rig, jobs):
    """(tenant, job id) of ``jobs`` (id -> tenant) that have started, in start order."""
    docs = [(rig.job(job_id, tenant), tenant) for job_id, tenant in jobs.items()]
    started = [(doc["started_at"], tenant, doc["id"]) for doc, tenant in docs if doc.get("started_at")]
    return [(tenant, job_id) for _, tenant, job_id in sorted(started)]


def test_a_second_tenant_is_not_stuck_behind_the_first_ones_backlog(flow_rig, wait_for):
    rig = flow_rig()
    rig.worker(concurrency=2)
    alices = {rig.submit("alice", input={"seconds": 1})["id"]: "alice" for _ in range(200)}
    bobs = {rig.submit("bob", input={"seconds": 0.2})["id"]: "bob" for _ in range(5)}

    wait_for(
        lambda: all(rig.job(j, "bob")["status"] == "completed" for j in bobs), timeout=60, message="bob's five jobs"
    )
    order = started_order(rig, {**alices, **bobs})

    alice_starts = [i for i, (tenant, _) in enumerate(order) if tenant == "alice"]
    last_bob = max(i for i, (tenant, _) in enumerate(order) if tenant == "bob")
    assert len(alice_starts) < 12 or last_bob < alice_starts[11], order[:20]
    # Only as many messages are out as the worker has slots; the rest wait in Redis.
    assert rig.redis.zcard(keys.flow_out("sleep")) <= 2
    assert rig.redis.zcard(keys.flow_waiting("sleep", "alice")) >= 150
    stats = rig.call("GET", "/api/v1/jobs?limit=1").get_json()["stats"]
    assert stats["held"] >= 150 and stats["queues"]["sleep"] >= 150
    for job_id in alices:  # the backlog is not needed any more
        rig.call("DELETE", f"/api/v1/jobs/{job_id}")


def test_weights_give_shares_of_the_dispatch_turns(flow_rig):
    """alice=3, bob=1: over 100 dispatches about 75 of alice's jobs and 25 of bob's.

    No worker: the test plays one (one slot, each sent job finished at once), so
    the order in which the Lua scripts send messages is what is measured.
    """
    rig = flow_rig(tenant_weights="alice=3")
    store = rig.svc.store
    rig.redis.hset(keys.FLOW_SLOTS, "sleep", 1)
    for _ in range(100):
        rig.submit("alice")
        rig.submit("bob")
    sent = []
    queue_keys = keys.queue_keys("sleep")
    for _ in range(100):
        raw = next(m for m in (rig.redis.rpop(k) for k in queue_keys) if m)
        job_id = json.loads(raw)["headers"]["id"]
        sent.append(rig.redis.hget(keys.job(job_id), "tenant"))
        store.transition(job_id, "completed")  # its end sends the next one

    shares = Counter(sent)
    assert 72 <= shares["alice"] <= 78, shares
    assert shares["alice"] + shares["bob"] == 100
    # Within the run, the pattern is three of alice's then one of bob's.
    assert sent[4:12].count("bob") == 2


def test_priority_orders_a_tenants_own_jobs_before_the_turn_goes_on(flow_rig):
    rig = flow_rig()
    rig.redis.hset(keys.FLOW_SLOTS, "sleep", 1)
    first = rig.submit("alice")["id"]  # takes the one slot
    low = rig.submit("alice", priority=0)["id"]
    high = rig.submit("alice", priority=9)["id"]
    bob = rig.submit("bob", priority=0)["id"]

    sent = []
    for _ in range(4):
        raw = next(m for m in (rig.redis.rpop(k) for k in keys.queue_keys("sleep")) if m)
        sent.append(json.loads(raw)["headers"]["id"])
        rig.svc.store.transition(sent[-1], "completed")

    assert sent[0] == first
    assert sent.index(high) < sent.index(low)  # alice's own order: priority first
    assert set(sent[1:3]) == {high, bob}  # turns alternate between tenants


def test_a_tenant_cap_holds_jobs_in_redis_not_in_the_worker(flow_rig, wait_for):
    rig = flow_rig(max_running_per_tenant=1)
    worker = rig.worker("capped", concurrency=3)
    alices = [rig.submit("alice", input={"seconds": 2})["id"] for _ in range(3)]
    bob = rig.submit("bob", input={"seconds": 1})["id"]

    rig.wait_status(alices[0], "running")
    rig.wait_status(bob, "running", tenant="bob")
    # Look everywhere a deferred message could hide: the worker's memory, the queues.
    from workers.celery_app import make_celery

    celery = make_celery(rig.svc.settings)
    inspect = celery.control.inspect(destination=[worker.hostname], timeout=5)
    scheduled = inspect.scheduled() or {}
    reserved = inspect.reserved() or {}
    assert scheduled.get(worker.hostname) == [], scheduled  # no countdown/ETA message
    held_ids = set(alices[1:])
    reserved_ids = {r["id"] for r in reserved.get(worker.hostname, [])}
    assert not reserved_ids & held_ids, reserved
    queued = [json.loads(m)["headers"]["id"] for k in keys.queue_keys("sleep") for m in rig.redis.lrange(k, 0, -1)]
    assert not set(queued) & held_ids
    assert set(rig.redis.zrange(keys.flow_waiting("sleep", "alice"), 0, -1)) == held_ids
    assert [rig.job(j)["status"] for j in alices[1:]] == ["pending", "pending"]

    docs = [rig.wait_status(j, "completed", timeout=60) for j in alices]
    for earlier, later in pairwise(docs):
        assert later["started_at"] >= earlier["finished_at"]  # one at a time
    assert [d["attempts"] for d in docs] == [1, 1, 1]  # waiting is no attempt, and nothing failed
    assert "MaxRetriesExceededError" not in worker.log()
    assert "Retry in" not in worker.log()


def test_a_kind_cap_limits_the_messages_out(flow_rig, wait_for):
    rig = flow_rig(max_running_per_kind="sleep=1")
    rig.worker(concurrency=3)
    jobs = [rig.submit("alice", input={"seconds": 0.5})["id"] for _ in range(3)]
    jobs += [rig.submit("bob", input={"seconds": 0.5})["id"]]
    peak = 0

    def done():
        nonlocal peak
        peak = max(peak, rig.redis.zcard(keys.flow_out("sleep")))
        return all(rig.redis.hget(keys.job(j), "status") == "completed" for j in jobs)

    wait_for(done, timeout=60, interval=0.02, message="all jobs")
    assert peak == 1
    runs = sorted(
        (rig.job(j, t)["started_at"], rig.job(j, t)["finished_at"])
        for j, t in zip(jobs, ["alice"] * 3 + ["bob"], strict=True)
    )
    assert all(b[0] >= a[1] for a, b in pairwise(runs))


def test_two_api_processes_and_two_workers_dispatch_each_job_once(
    redis_factory, start_api, start_worker, tenant_keys_env, wait_for
):
    redis = redis_factory()
    env = {"REDIS_URL": redis.url, **tenant_keys_env}
    apis = [start_api(env=env, workers=2) for _ in range(2)]
    workers = [start_worker(f"once{n}", concurrency=2, redis=redis.url, **tenant_keys_env) for n in range(2)]
    ids: list[tuple[str, str]] = []
    lock = threading.Lock()

    def client(n):
        session = requests.Session()
        for i in range(25):
            tenant = ("alice", "bob")[(n + i) % 2]
            response = session.post(
                apis[(n + i) % 2].url + "/api/v1/jobs",
                headers=bearer(tenant),
                json={"kind": "sleep", "input": {"seconds": 0.05}},
                timeout=30,
            )
            assert response.status_code == 202, response.text
            with lock:
                ids.append((response.json()["id"], tenant))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    import redis as redis_py

    r = redis_py.Redis.from_url(redis.url, decode_responses=True)
    wait_for(
        lambda: all(r.hget(keys.job(j), "status") == "completed" for j, _ in ids), timeout=120, message="all 100 jobs"
    )

    assert len({j for j, _ in ids}) == 100
    logs = "".join(w.log() for w in workers)
    for job_id, _ in ids:
        assert logs.count(f"jobs.sleep[{job_id}] received") == 1, job_id
        assert r.hget(keys.job(job_id), "attempts") == "1"
        events = [e for _, e in r.xrange(keys.events(job_id))]
        starts = [e for e in events if e["status"] == "running" and "progress" not in e]  # claims, not reports
        assert len(starts) == 1 and [e["status"] for e in events].count("completed") == 1
    # Nothing is left out or held once all have finished.
    assert r.zcard(keys.flow_out("sleep")) == 0 and r.zcard(keys.flow_held("sleep")) == 0


def test_the_mover_frees_a_slot_left_by_a_job_that_is_gone(flow_rig):
    """The safety net: a slot counted for a job whose record vanished (removed by hand, an old
    snapshot) is freed, and the held job behind it is sent."""
    import time

    from workers.celery_app import make_celery
    from workers.dispatcher import Mover

    rig = flow_rig()
    rig.redis.hset(keys.FLOW_SLOTS, "sleep", 1)
    lost = rig.submit("alice")["id"]
    waiting = rig.submit("bob")["id"]
    rig.redis.delete(keys.job(lost))  # behind the job store's back: its slot stays counted
    assert rig.redis.zscore(keys.flow_out("sleep"), lost) is not None

    mover = Mover(make_celery(rig.svc.settings), rig.svc.store)
    assert mover.tidy(now=time.time()) == []  # too recent to judge
    assert mover.tidy(now=time.time() + 120) == [lost]

    assert rig.redis.zscore(keys.flow_out("sleep"), waiting) is not None
    assert rig.redis.zscore(keys.flow_tenant_out("alice"), lost) is None


def test_the_reconciler_leaves_held_jobs_alone_and_republishes_a_sent_one_that_was_lost(flow_rig):
    """A held job has no message by design: never "stranded". Once sent, a lost message is."""
    import time

    from workers import broker, reconciler
    from workers.publish import publish_job

    rig = flow_rig(reconcile_seconds=3)
    store, db = rig.svc.store, rig.redis

    def capture(job_id, kind, priority, timeout):
        with broker.capture() as messages:
            publish_job(rig.svc.celery, rig.svc.settings, job_id, kind, priority, timeout)
        return messages[0]

    db.hset(keys.FLOW_SLOTS, "sleep", 1)
    sent = rig.submit("alice")["id"]
    held = [rig.submit("bob")["id"] for _ in range(2)]
    for key in keys.queue_keys("sleep"):  # the sent job's message is lost (a failover, say)
        db.delete(key)
    later = time.time() + 60
    first = reconciler.reconcile(store, capture, ["sleep"], now=later)
    time.sleep(reconciler.period(store) + 0.1)  # a stranded job is pushed on a later pass only
    second = reconciler.reconcile(store, capture, ["sleep"], now=later + reconciler.period(store) + 1)

    assert sorted(first.get("held", [])) == sorted(held)
    assert "pushed" not in first and sent in first.get("suspect", [])
    assert sorted(second.get("held", [])) == sorted(held)
    queued = [m for key in keys.queue_keys("sleep") for m in db.lrange(key, 0, -1)]
    assert len(queued) == 1 and sent in queued[0]  # the sent one again, never a held one
    assert db.zcard(keys.flow_waiting("sleep", "bob")) == 2


def test_a_sent_message_lost_with_redis_is_sent_again_when_others_wait_behind_it(flow_rig):
    import time

    from workers.celery_app import make_celery
    from workers.dispatcher import LOST_AFTER_SECONDS, Mover

    rig = flow_rig()
    db = rig.redis
    db.hset(keys.FLOW_SLOTS, "sleep", 1)
    sent = rig.submit("alice")["id"]
    waiting = rig.submit("bob")["id"]
    for key in keys.queue_keys("sleep"):  # delivered to a client that never got it, say
        db.delete(key)
    mover = Mover(make_celery(rig.svc.settings), rig.svc.store)

    time.sleep(LOST_AFTER_SECONDS + 0.1)
    assert mover.resend_lost() == []  # seen lost once: not yet
    time.sleep(LOST_AFTER_SECONDS + 0.1)
    assert mover.resend_lost() == [sent]
    assert mover.resend_lost() == []  # its message exists again: never a second copy

    queued = [m for key in keys.queue_keys("sleep") for m in db.lrange(key, 0, -1)]
    assert len(queued) == 1 and sent in queued[0]
    assert db.zscore(keys.flow_waiting("sleep", "bob"), waiting) is not None  # still its turn to come


def test_metrics_and_stats_show_per_tenant_waiting_and_running_and_the_oldest_wait(flow_rig):
    import time

    rig = flow_rig()
    rig.redis.hset(keys.FLOW_SLOTS, "sleep", 1)
    rig.submit("alice")  # sent
    for _ in range(3):
        rig.submit("bob")  # held
    rig.submit("bob", delay_seconds=60)  # scheduled
    time.sleep(0.2)

    text = rig.call("GET", "/metrics").get_data(as_text=True)
    assert 'longrun_tenant_jobs{state="held",tenant="bob"} 3.0' in text
    assert 'longrun_tenant_jobs{state="waiting",tenant="bob"} 3.0' in text
    assert 'longrun_tenant_jobs{state="scheduled",tenant="bob"} 1.0' in text
    assert 'longrun_tenant_jobs{state="waiting",tenant="alice"} 1.0' in text
    assert 'longrun_jobs_held{queue="longrun.sleep"} 3.0' in text
    assert 'longrun_queue_depth{queue="longrun.sleep"} 4.0' in text  # one message, three held
    stats = rig.call("GET", "/api/v1/jobs?limit=1", tenant="bob").get_json()["stats"]
    assert (stats["waiting"], stats["held"], stats["scheduled"], stats["running"]) == (3, 3, 1, 0)
    assert stats["oldest_waiting_seconds"]["sleep"] >= 0.2
