"""Idempotency-Key: the same key with the same body returns the same job, run once."""

import pytest

pytestmark = pytest.mark.integration


def test_same_key_and_body_returns_the_same_job_and_runs_it_once(client, worker, wait_for_status):
    body = {"kind": "sleep", "input": {"seconds": 0.2}}
    headers = {"Idempotency-Key": "order-42-first"}

    first = client.post("/api/v1/jobs", json=body, headers=headers)
    second = client.post("/api/v1/jobs", json=body, headers=headers)

    assert first.status_code == 202
    assert second.status_code == 200
    assert second.get_json()["id"] == first.get_json()["id"]
    done = wait_for_status(first.get_json()["id"], "completed")
    assert done["attempts"] == 1
    third = client.post("/api/v1/jobs", json=body, headers=headers)
    assert third.get_json()["id"] == first.get_json()["id"]
    assert third.get_json()["status"] == "completed"


def test_same_key_with_another_body_is_409(client, worker):
    headers = {"Idempotency-Key": "order-42-second"}
    first = client.post("/api/v1/jobs", json={"kind": "sleep", "input": {"seconds": 0}}, headers=headers)

    response = client.post("/api/v1/jobs", json={"kind": "sleep", "input": {"seconds": 1}}, headers=headers)

    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "idempotency_conflict"
    assert error["details"]["job_id"] == first.get_json()["id"]


def test_without_a_key_each_submit_is_a_new_job(client, worker):
    body = {"kind": "sleep", "input": {"seconds": 0}}

    ids = {client.post("/api/v1/jobs", json=body).get_json()["id"] for _ in range(2)}

    assert len(ids) == 2
