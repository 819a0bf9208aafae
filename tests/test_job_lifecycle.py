"""A job's life through the HTTP API, on real Redis with a real worker process."""

import pytest

pytestmark = pytest.mark.integration


def test_submit_answers_202_with_location_and_pending_document(client, worker):
    response = client.post("/api/v1/jobs", json={"kind": "sleep", "input": {"seconds": 0.1}})

    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    assert job["status"] in ("pending", "running", "completed")
    assert set(job) >= {"id", "kind", "status", "progress", "created_at", "started_at",
                        "finished_at", "attempts", "result", "error"}


def test_job_reports_each_step_then_completes_with_result(client, submit, wait_for_status):
    job = submit(input={"seconds": 1.2, "steps": 3})

    seen_steps = set()

    def finished():
        doc = client.get(f"/api/v1/jobs/{job['id']}").get_json()
        if doc["status"] == "running":
            seen_steps.add(doc["progress"]["current_step"])
        return doc if doc["status"] == "completed" else None

    from conftest import wait_until
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
