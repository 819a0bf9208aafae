"""A job's pool process dies (SIGKILL, OOM killer, native crash): the job runs
again, once, and a job that kills its process every time ends ``failed``
after the attempt cap instead of looping.

The tests kill exactly the process that runs the job: the job's lease token
names it (``<hostname>:<pid>:<nonce>``). A job that crashes its own process
is played by killing that process at every attempt: the worker sees the same
thing (WorkerLostError), and no job kind needs a self-destruct input that any
API client could use to kill worker processes.
"""

import pytest

from longrun import keys
from tests.support.jobs import attempts_started, broker_copies, events, kill_job_process
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_sigkill_of_the_pool_process_runs_the_job_again_and_it_completes_once(
    client, submit, wait_for_status, worker, redis_client
):
    job = submit(input={"seconds": 2, "steps": 4})

    kill_job_process(redis_client, worker, job["id"], attempt=1)

    done = wait_for_status(job["id"], "completed", timeout=60)
    assert done["attempts"] == 2
    assert done["result"] == {"slept": 2.0, "steps": 4}
    assert [e["status"] for e in events(redis_client, job["id"])].count("completed") == 1
    assert attempts_started(redis_client, job["id"]) == 2


def test_job_that_kills_its_process_every_time_fails_as_worker_lost_after_the_cap(
    client, submit, wait_for_status, worker, redis_client
):
    cap = 3  # LONGRUN_MAX_ATTEMPTS (default)
    job = submit(input={"seconds": 60, "steps": 60})

    for attempt in range(1, cap + 1):
        kill_job_process(redis_client, worker, job["id"], attempt)

    done = wait_for_status(job["id"], "failed", timeout=60)
    assert done["attempts"] == cap
    assert done["error"]["type"] == "WorkerLost"
    assert done["error"]["message"].startswith("worker lost")
    # No endless loop: the worker drops the last copy (its claim says the job
    # used its attempts); nothing waits or runs for the job any more.
    wait_until(
        lambda: broker_copies(redis_client, job["id"]) == 0,
        timeout=30,
        message="no copy of the job's message left in the broker",
    )
    assert attempts_started(redis_client, job["id"]) == cap
    assert not redis_client.exists(keys.lease(job["id"]))
    assert redis_client.zscore(keys.RUNNING, job["id"]) is None
