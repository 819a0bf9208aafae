"""Retry and replay: POST /api/v1/jobs/{id}/retry makes a new job from a
finished one; POST /api/v1/jobs/retry replays every job of the tenant that
matches a filter. Real Redis and the session's worker."""

import io
import json
import os
from datetime import UTC, datetime

import pytest

from longrun import keys, replay
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def finished(client, job_id, timeout=30):
    return wait_until(
        lambda: (
            (doc := client.get(f"/api/v1/jobs/{job_id}").get_json())["status"] in ("completed", "failed", "cancelled")
            and doc
        ),
        timeout=timeout,
        message=f"job {job_id}",
    )


def submit(client, **body):
    response = client.post("/api/v1/jobs", json={"kind": "sleep", **body})
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def iso_now() -> str:
    return datetime.now(UTC).isoformat()


def test_retry_of_a_failed_job_is_a_new_job_with_the_same_input_and_options(as_tenant, worker, redis_client):
    alice = as_tenant("alice")
    old = submit(
        alice, input={"seconds": 0.1, "fail": True}, priority=3, timeout_seconds=77, metadata={"batch": "nightly"}
    )
    assert finished(alice, old)["status"] == "failed"

    response = alice.post(f"/api/v1/jobs/{old}/retry")

    assert response.status_code == 202, response.get_json()
    new = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/jobs/{new['id']}")
    assert new["id"] != old and new["retried_from"] == old
    assert (new["kind"], new["priority"], new["timeout_seconds"], new["metadata"]) == (
        "sleep",
        3,
        77,
        {"batch": "nightly"},
    )
    done = finished(alice, new["id"])
    assert done["status"] == "failed" and done["error"]["type"] == "SleepFailed"  # the same input ran again
    inputs = [json.loads(redis_client.hget(keys.job(job_id), "input")) for job_id in (old, new["id"])]
    assert inputs[0] == inputs[1] and inputs[0]["fail"] is True
    assert alice.get(f"/api/v1/jobs/{old}").get_json()["retries"] == [new["id"]]


def test_retry_of_a_pending_or_running_job_is_409(as_tenant, tenants_app, worker):
    alice = as_tenant("alice")
    running = submit(alice, input={"seconds": 30, "steps": 30})
    wait_until(
        lambda: alice.get(f"/api/v1/jobs/{running}").get_json()["status"] == "running",
        timeout=30,
        message="the job to run",
    )
    # A pending job that no message will run (written straight to the store).
    store = tenants_app.extensions["longrun"].store
    pending, _, _ = store.create(tenant="alice", kind="sleep", input={"seconds": 1}, timeout_seconds=60)
    try:
        for job_id, status in ((running, "running"), (pending, "pending")):
            response = alice.post(f"/api/v1/jobs/{job_id}/retry")
            assert response.status_code == 409
            error = response.get_json()["error"]
            assert error["code"] == "not_retryable" and error["details"] == {"status": status}
        assert alice.get(f"/api/v1/jobs/{running}").get_json()["retries"] == []
    finally:
        alice.post(f"/api/v1/jobs/{running}/cancel")
        alice.delete(f"/api/v1/jobs/{pending}")


def test_a_retried_codegen_job_shares_its_uploaded_files(
    client, worker, openai_server, datasheet_pdf, schematic_pdf, app
):
    openai_server.set_default("```c\nint main(void) { return 0; }\n```")
    response = client.post(
        "/api/v1/jobs",
        content_type="multipart/form-data",
        data={
            "kind": "codegen",
            "input": json.dumps({"instruction": "nothing", "language": "c"}),
            "datasheet": (io.BytesIO(datasheet_pdf), "ds.pdf"),
            "schematic": (io.BytesIO(schematic_pdf), "sch.pdf"),
        },
    )
    assert response.status_code == 202, response.get_json()
    old = response.get_json()["id"]
    assert finished(client, old, timeout=90)["status"] == "completed"

    new = client.post(f"/api/v1/jobs/{old}/retry").get_json()["id"]

    assert finished(client, new, timeout=90)["status"] == "completed"
    artifacts = app.extensions["longrun"].artifacts
    for name in ("datasheet.pdf", "schematic.pdf"):
        # The same file (one inode), not a copy; deleting the old job leaves the new one's.
        assert os.stat(artifacts.open(old, name)).st_ino == os.stat(artifacts.open(new, name)).st_ino
    assert client.delete(f"/api/v1/jobs/{old}").status_code == 204
    assert artifacts.open(new, "datasheet.pdf").read_bytes() == datasheet_pdf
    client.delete(f"/api/v1/jobs/{new}")


def test_bulk_replay_retries_the_tenants_jobs_that_match_the_filter(as_tenant, worker):
    alice, bob = as_tenant("alice"), as_tenant("bob")
    since = iso_now()
    failed = [submit(alice, input={"seconds": 0, "fail": True}) for _ in range(3)]
    ok = submit(alice, input={"seconds": 0})
    bobs = submit(bob, input={"seconds": 0, "fail": True})
    for job_id in failed + [ok]:
        finished(alice, job_id)
    finished(bob, bobs)

    # A time bound is required unless the body says "all".
    refused = alice.post("/api/v1/jobs/retry", json={"statuses": ["failed"]})
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "invalid_input"

    response = alice.post(
        "/api/v1/jobs/retry",
        json={"statuses": ["failed"], "kind": "sleep", "finished_after": since, "finished_before": iso_now()},
    )

    assert response.status_code == 200, response.get_json()
    done = response.get_json()
    assert (done["status"], done["retried"], done["failed"]) == ("done", 3, 0)
    assert response.headers["Location"].endswith(f"/api/v1/jobs/retry/{done['id']}")
    assert sorted(alice.get(f"/api/v1/jobs/{job_id}").get_json()["retried_from"] for job_id in done["jobs"]) == sorted(
        failed
    )
    assert alice.get(f"/api/v1/jobs/{ok}").get_json()["retries"] == []
    # Bob's failed job is not alice's to replay, nor is her replay his to read.
    assert bob.get(f"/api/v1/jobs/{bobs}").get_json()["retries"] == []
    assert bob.get(f"/api/v1/jobs/retry/{done['id']}").status_code == 404
    assert alice.get(f"/api/v1/jobs/retry/{done['id']}").get_json()["retried"] == 3
    # Bob's own replay of everything sees only his job.
    his = bob.post("/api/v1/jobs/retry", json={"all": True, "finished_after": since}).get_json()
    assert (his["retried"], bob.get(f"/api/v1/jobs/{bobs}").get_json()["retries"]) == (1, his["jobs"])
    for job_id in done["jobs"]:  # the next test's filter starts after these
        finished(alice, job_id)
    finished(bob, his["jobs"][0])


def test_a_replay_that_outgrows_its_request_is_carried_on_by_the_janitor(as_tenant, tenants_app, worker, monkeypatch):
    from workers import janitor
    from workers.publish import publish_job

    alice = as_tenant("alice")
    since = iso_now()
    failed = [submit(alice, input={"seconds": 0, "fail": True}) for _ in range(3)]
    for job_id in failed:
        finished(alice, job_id)
    # One job per chunk and no time to spare: the request stops after its first chunk.
    monkeypatch.setattr(replay, "CHUNK", 1)
    monkeypatch.setattr("api.service.REPLAY_REQUEST_BUDGET_SECONDS", 0)

    response = alice.post("/api/v1/jobs/retry", json={"finished_after": since})

    assert response.status_code == 202
    started = response.get_json()
    assert (started["status"], started["scanned"]) == ("running", 1)
    svc = tenants_app.extensions["longrun"]

    def publish(job_id, kind, priority, timeout):
        publish_job(svc.celery, svc.settings, job_id, kind, priority, timeout)

    while svc.store.redis.sismember(keys.REPLAYS_ACTIVE, started["id"]):
        janitor.run_once(svc.store, svc.artifacts, publish)
    done = alice.get(response.headers["Location"]).get_json()
    assert (done["status"], done["retried"]) == ("done", 3)
    assert sorted(alice.get(f"/api/v1/jobs/{j}").get_json()["retried_from"] for j in done["jobs"]) == sorted(failed)
    for job_id in done["jobs"]:
        finished(alice, job_id)
