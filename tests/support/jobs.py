"""Looking at a job from outside: its events, its runs, the process that runs it,
its copies in the broker; and jobs made directly on a (fake) job store for unit tests."""

import json
import os
import signal

from longrun import keys
from longrun.jobstore import worker_lost
from tests.support.waiting import wait_until

# kombu's Redis transport keeps delivered, not yet acknowledged messages in this hash.
KOMBU_UNACKED = "unacked"


def new_job(store, *, tenant="t1", kind="sleep", seconds=1.0, priority=0, timeout=60) -> str:
    job_id, outcome, _ = store.create(
        tenant=tenant, kind=kind, input={"seconds": seconds}, priority=priority, timeout_seconds=timeout
    )
    assert outcome == "created"
    return job_id


def claim(store, job_id, token="worker-a:1:abc"):
    error, meta = worker_lost(store.settings.max_attempts)
    return store.claim(job_id, token, lost_error=error, lost_meta=meta)


def events(redis_client, job_id) -> list[dict]:
    """The job's event stream, oldest first."""
    return [fields for _, fields in redis_client.xrange(keys.events(job_id))]


def runs(redis_client, job_id) -> int:
    """How many times the job's code started step 1: each run of `sleep` reports it once."""
    return sum(
        1
        for e in events(redis_client, job_id)
        if e.get("progress") and json.loads(e["progress"]).get("current_step") == 1
    )


def attempts_started(redis_client, job_id) -> int:
    """How many attempts the job's code started: each claim writes one "running"
    event without progress (a resumed attempt skips the steps it finished, and
    progress is coalesced, so step events cannot count attempts)."""
    return sum(1 for e in events(redis_client, job_id) if e.get("status") == "running" and not e.get("progress"))


def job_process(redis_client, worker, job_id, attempt: int, timeout: float = 30) -> int:
    """The pid of the pool process running ``attempt`` of the job, read from its lease
    token (``<hostname>:<pid>:<nonce>``); checked to be a child of ``worker``."""

    def running():
        record = redis_client.hmget(keys.job(job_id), "status", "attempts")
        token = redis_client.get(keys.lease(job_id))
        if record == ["running", str(attempt)] and token:
            return token
        return None

    token = wait_until(running, timeout=timeout, message=f"attempt {attempt} of job {job_id} to run")
    hostname, pid, _ = token.rsplit(":", 2)
    assert hostname == worker.hostname
    pid = int(pid)
    assert pid in worker.pool_pids(), "the lease names a process that is not our worker's child"
    return pid


def kill_job_process(redis_client, worker, job_id, attempt: int) -> int:
    pid = job_process(redis_client, worker, job_id, attempt)
    os.kill(pid, signal.SIGKILL)
    return pid


def broker_copies(redis_client, job_id, kind="sleep") -> int:
    """Copies of the job's message in the broker: queued, or delivered and not yet acked."""
    queued = sum(job_id in message for key in keys.queue_keys(kind) for message in redis_client.lrange(key, 0, -1))
    unacked = sum(job_id in message for message in redis_client.hvals(KOMBU_UNACKED))
    return queued + unacked
