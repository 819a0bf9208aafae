"""A copy of a job's message delivered while the job still runs (the broker's
visibility timeout ran out, or the reaper republished it) is harmless: the
lease per job id lets only one copy run it, so there is one result and one
run of the job's code."""

import pytest

from tests.support.jobs import broker_copies, events, runs
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_redelivered_copy_while_the_job_runs_gives_one_result_and_one_run(
    client, submit, wait_for_status, worker, redis_client
):
    from longrun.settings import get_settings
    from workers.celery_app import app as celery_app
    from workers.publish import publish_job

    job = submit(input={"seconds": 3, "steps": 3})
    wait_for_status(job["id"], "running")

    # The redelivered copy: the same message (task id = job id) published again.
    publish_job(celery_app, get_settings(), job["id"], "sleep", 0, 60)

    # It finds the lease held and is dropped at once: no countdown copy is parked in the worker
    # (the running attempt finishes the job; the reaper re-queues it should that worker vanish).
    wait_until(
        lambda: f"job {job['id']} not run: busy" in worker.log(),
        timeout=30,
        message="the second copy to find the job's lease held",
    )
    done = wait_for_status(job["id"], "completed", timeout=60)
    assert done["attempts"] == 1
    assert done["result"] == {"slept": 3.0, "steps": 3}
    assert runs(redis_client, job["id"]) == 1
    assert [e["status"] for e in events(redis_client, job["id"])].count("completed") == 1
    wait_until(lambda: broker_copies(redis_client, job["id"]) == 0, timeout=10, message="both copies acked")
