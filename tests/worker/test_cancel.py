"""Cancelling: a pending job never starts, a running job stops within seconds,
a finished job keeps its result, and a cancel survives a restart of every worker."""

import time

import pytest

from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(redis_factory, start_worker, settings_for, client_for):
    """A Redis of our own with an app on it; workers are started by the test."""
    server = redis_factory()

    class Stack:
        redis = server
        client = client_for(settings_for(server.url))

        def start_worker(self, **env):
            return start_worker("cancel", redis=server.url, **env)

        def status(self, job_id):
            return self.client.get(f"/api/v1/jobs/{job_id}").get_json()["status"]

    return Stack()


def test_cancelled_pending_job_never_starts(stack):
    job = stack.client.post("/api/v1/jobs", json={"kind": "sleep", "input": {"seconds": 0}}).get_json()

    response = stack.client.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"

    stack.start_worker()
    marker = stack.client.post("/api/v1/jobs", json={"kind": "sleep", "input": {"seconds": 0}}).get_json()
    wait_until(lambda: stack.status(marker["id"]) == "completed", message="a later job to run")

    doc = stack.client.get(f"/api/v1/jobs/{job['id']}").get_json()
    assert doc["status"] == "cancelled"
    assert doc["started_at"] is None
    assert doc["attempts"] == 0


def test_running_job_stops_within_seconds(client, submit, wait_for_status):
    job = submit(input={"seconds": 60, "steps": 60})
    wait_for_status(job["id"], "running")

    response = client.post(f"/api/v1/jobs/{job['id']}/cancel")

    assert response.status_code == 202
    assert response.get_json()["cancel_requested"] is True
    started = time.monotonic()
    done = wait_for_status(job["id"], "cancelled", timeout=15)
    assert time.monotonic() - started < 10
    assert done["result"] is None


def test_finished_job_answers_409_and_keeps_its_result(client, submit, wait_for_status):
    job = submit(input={"seconds": 0})
    wait_for_status(job["id"], "completed")

    response = client.post(f"/api/v1/jobs/{job['id']}/cancel")

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "already_finished"
    assert client.get(f"/api/v1/jobs/{job['id']}/result").get_json()["result"] == {"slept": 0.0, "steps": 1}


def test_cancel_of_a_running_job_survives_a_restart_of_every_worker(stack):
    # Short visibility timeout: the dead worker's unacked message comes back quickly.
    env = {"LONGRUN_VISIBILITY_TIMEOUT_SECONDS": "3"}
    first = stack.start_worker(**env)
    job = stack.client.post("/api/v1/jobs", json={"kind": "sleep", "input": {"seconds": 60, "steps": 60}}).get_json()
    wait_until(lambda: stack.status(job["id"]) == "running", message="job to start")

    first.kill_group()  # every worker gone, mid-job
    assert stack.client.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 202
    stack.start_worker(**env)

    wait_until(lambda: stack.status(job["id"]) == "cancelled", timeout=40, message="cancel after restart")
    time.sleep(1)
    assert stack.status(job["id"]) == "cancelled"
