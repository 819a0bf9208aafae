"""A whole worker goes away mid-job: killed with its process group (host lost,
container killed) or asked to stop (SIGTERM). The job is not lost."""

import pytest

from longrun import keys
from tests.support.jobs import events, job_process
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(redis_factory, start_worker, settings_for, api_headers):
    """A Redis of our own (so that no other worker takes the job), an app on it;
    the test starts the workers."""
    from api import create_app

    server = redis_factory()
    app = create_app({"TESTING": True, "LONGRUN_SETTINGS": settings_for(server.url)})

    class Stack:
        redis = server
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = api_headers["Authorization"]
        db = app.extensions["longrun"].store.redis

        def start_worker(self, name):
            return start_worker(name, redis=server.url)

        def submit(self, **job_input):
            response = self.client.post("/api/v1/jobs", json={"kind": "sleep", "input": job_input})
            assert response.status_code == 202
            return response.get_json()["id"]

        def job(self, job_id):
            return self.client.get(f"/api/v1/jobs/{job_id}").get_json()

        def wait_for(self, job_id, status, timeout=30):
            return wait_until(
                lambda: (doc := self.job(job_id))["status"] == status and doc,
                timeout=timeout,
                message=f"job {job_id} to be {status}",
            )

    return Stack()


def test_other_worker_finishes_the_job_of_a_worker_killed_with_its_process_group(stack):
    first, second = stack.start_worker("pair-a"), stack.start_worker("pair-b")
    job_id = stack.submit(seconds=4, steps=4)
    token = wait_until(lambda: stack.db.get(keys.lease(job_id)), message="the job to start")
    victim, survivor = (first, second) if token.startswith(first.hostname + ":") else (second, first)

    victim.kill_group()  # SIGKILL to the main process and its pool: nobody acks, nobody reports

    # The survivor's janitor sees the heartbeat go stale (lease 4 s + a 5 s tick)
    # and re-queues the job; the broker's own redelivery would come only after
    # its visibility timeout (LONGRUN_VISIBILITY_TIMEOUT_SECONDS, hours by default).
    done = stack.wait_for(job_id, "completed", timeout=60)
    assert done["attempts"] == 2
    assert done["result"] == {"slept": 4.0, "steps": 4}
    assert f"jobs.sleep[{job_id}] succeeded" in survivor.log()
    statuses = [e["status"] for e in events(stack.db, job_id)]
    assert statuses.count("completed") == 1
    assert "pending" in statuses[statuses.index("running") :]  # re-queued by the reaper


def test_sigterm_mid_step_lets_the_worker_finish_the_step_before_it_exits(stack):
    # A job of one step ends with that step; one of several steps is handed back
    # at the next step boundary instead (tests/faults/test_durable_steps.py).
    worker = stack.start_worker("warm")
    job_id = stack.submit(seconds=3, steps=1)
    job_process(stack.db, worker, job_id, attempt=1)
    # In its step (a job stopped before its first step starts is handed back at once).
    wait_until(lambda: stack.db.hexists(keys.steps(job_id), "1"), message="the job's step to start")

    worker.process.terminate()  # SIGTERM: Celery's warm shutdown

    assert worker.process.wait(30) == 0
    done = stack.job(job_id)
    assert (done["status"], done["attempts"]) == ("completed", 1)
    assert done["result"] == {"slept": 3.0, "steps": 1}
