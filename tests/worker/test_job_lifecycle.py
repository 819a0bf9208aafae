"""A job's life through the HTTP API, on real Redis with a real worker process."""

import pytest

from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_submit_answers_202_with_location_and_pending_document(client, worker):
    response = client.post("/api/v1/jobs", json={"kind": "sleep", "input": {"seconds": 0.1}})

    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    assert job["status"] in ("pending", "running", "completed")
    assert set(job) >= {
        "id",
        "kind",
        "status",
        "progress",
        "created_at",
        "started_at",
        "finished_at",
        "attempts",
        "result",
        "error",
    }


def test_job_reports_each_step_then_completes_with_result(client, submit, wait_for_status):
    job = submit(input={"seconds": 1.2, "steps": 3})

    seen_steps = set()

    def finished():
        doc = client.get(f"/api/v1/jobs/{job['id']}").get_json()
        if doc["status"] == "running":
            seen_steps.add(doc["progress"]["current_step"])
        return doc if doc["status"] == "completed" else None

    done = wait_until(finished, timeout=30, interval=0.05, message="completion")

    assert seen_steps >= {1, 2, 3}
    assert done["result"] == {"slept": 1.2, "steps": 3}
    assert done["progress"]["percentage"] == 100
    assert done["attempts"] == 1
    assert done["started_at"] and done["finished_at"]
    assert client.get(f"/api/v1/jobs/{job['id']}/result").get_json()["result"] == done["result"]


def test_failing_job_ends_failed_with_its_error_message(submit, wait_for_status, client):
    job = submit(input={"seconds": 0, "fail": True})

    done = wait_for_status(job["id"], "failed")

    assert done["error"] == {"type": "SleepFailed", "message": "failed on purpose after 1 steps"}
    assert done["result"] is None
    response = client.get(f"/api/v1/jobs/{job['id']}/result")
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "no_result"


def test_unknown_id_is_404_with_the_error_body(client, worker):
    response = client.get("/api/v1/jobs/0123456789abcdef0123456789abcdef")

    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_result_is_409_while_the_job_runs(client, submit, wait_for_status):
    job = submit(input={"seconds": 3, "steps": 3})
    wait_for_status(job["id"], "running")

    response = client.get(f"/api/v1/jobs/{job['id']}/result")

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "not_finished"
    client.post(f"/api/v1/jobs/{job['id']}/cancel")


def test_job_past_its_timeout_fails_and_the_worker_keeps_serving(submit, wait_for_status):
    job = submit(input={"seconds": 30, "steps": 1}, timeout_seconds=1)

    done = wait_for_status(job["id"], "failed", timeout=30)

    assert done["error"]["type"] == "Timeout"
    assert "1 seconds" in done["error"]["message"]
    after = submit(input={"seconds": 0})
    assert wait_for_status(after["id"], "completed")["result"] == {"slept": 0.0, "steps": 1}


def test_prefer_wait_answers_200_with_the_finished_job(client, worker):
    response = client.post(
        "/api/v1/jobs", json={"kind": "sleep", "input": {"seconds": 0.2}}, headers={"Prefer": "wait=20"}
    )

    assert response.status_code == 200
    assert response.get_json()["status"] == "completed"
    assert response.headers["Preference-Applied"] == "wait=20"
    assert response.headers["Location"].endswith(response.get_json()["id"])


def test_prefer_wait_answers_202_when_the_job_outlasts_it(client, worker):
    response = client.post(
        "/api/v1/jobs", json={"kind": "sleep", "input": {"seconds": 5}}, headers={"Prefer": "wait=1"}
    )

    assert response.status_code == 202
    assert response.get_json()["status"] in ("pending", "running")
    client.post(f"/api/v1/jobs/{response.get_json()['id']}/cancel")
