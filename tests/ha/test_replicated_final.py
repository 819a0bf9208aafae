"""With LONGRUN_REDIS_MIN_REPLICAS=1 a job's final state reaches a replica
before its message is acked: while no replica confirms it, the message stays
in the broker (requeued, not acked); once one does, it is acked, and the job
has one final state and one run."""

import signal
import time
import uuid

import pytest

from longrun import keys
from tests.support.redis_cluster import RedisNode
from tests.support.session import SESSION_DIR
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def broker_copies(db, job_id) -> int:
    queued = sum(job_id in m for key in keys.queue_keys("sleep") for m in db.lrange(key, 0, -1))
    return queued + sum(job_id in m for m in db.hvals(keys.BROKER_UNACKED))


def test_a_final_state_no_replica_confirms_keeps_its_message_until_one_does(start_worker, settings_for, client_for):
    base = SESSION_DIR / f"final-{uuid.uuid4().hex[:6]}"
    master = RedisNode(base / "master").start()
    replica = RedisNode(base / "replica", replica_of=master.port).start()
    try:
        db = master.client(decode_responses=True)
        wait_until(
            lambda: replica.client().info("replication").get("master_link_status") == "up",
            timeout=20,
            message="the replica in sync",
        )
        start_worker("final", redis=master.url, LONGRUN_REDIS_MIN_REPLICAS=1, LONGRUN_REDIS_REPLICA_TIMEOUT_SECONDS=0.3)
        client = client_for(settings_for(master.url, redis_min_replicas=1))
        response = client.post("/api/v1/jobs", json={"kind": "sleep", "input": {"seconds": 1.5}})
        assert response.status_code == 202, response.get_json()
        job_id = response.get_json()["id"]
        wait_until(lambda: db.hget(keys.job(job_id), "status") == "running", timeout=30, message="the job to run")

        replica.process.send_signal(signal.SIGSTOP)  # it confirms nothing from now on
        try:
            wait_until(
                lambda: db.hget(keys.job(job_id), "status") == "completed",
                timeout=30,
                message="the job's final state on the master",
            )
            for _ in range(10):  # for a while: final on the master, its message still not acked
                assert broker_copies(db, job_id) >= 1
                time.sleep(0.3)
        finally:
            replica.process.send_signal(signal.SIGCONT)

        wait_until(lambda: broker_copies(db, job_id) == 0, timeout=30, message="the message to be acked")
        events = [e["status"] for _, e in db.xrange(keys.events(job_id))]
        assert events.count("completed") == 1
        assert db.hget(keys.job(job_id), "attempts") == "1"  # the requeued copy found it done: one run
        assert replica.client(decode_responses=True).hget(keys.job(job_id), "status") == "completed"
    finally:
        replica.kill(signal.SIGKILL)
        master.kill()
