"""Native batches: one handle over many ordinary jobs, with exact counts kept by
the job state scripts, results in item order, a live event stream and cancel."""

import json

import pytest

from longrun import keys

pytestmark = pytest.mark.integration


def test_batch_runs_to_completion_with_exact_counts_and_results_in_item_order(batch_stack):
    stack = batch_stack()
    stack.start_worker(concurrency=2)
    items = [{"seconds": 0.05 * (i % 3)} for i in range(8)] + [{"seconds": 0, "fail": True}]

    response = stack.submit(items=items, metadata={"run": "a"})

    created = response.get_json()
    assert response.headers["Location"] == f"/api/v1/batches/{created['id']}"
    assert created["status"] == "pending"
    assert created["counts"] == {"total": 9, "pending": 9, "running": 0, "completed": 0, "failed": 0, "cancelled": 0}
    done = stack.wait_batch(created["id"], "completed")
    assert done["counts"] == {"total": 9, "pending": 0, "running": 0, "completed": 8, "failed": 1, "cancelled": 0}
    assert done["finished_at"] and done["metadata"] == {"run": "a"}

    results = stack.results(created["id"])
    assert [r["index"] for r in results] == list(range(9))
    assert [r["status"] for r in results] == ["completed"] * 8 + ["failed"]
    assert results[0]["result"] is not None and results[8]["error"]["message"]

    # Items are ordinary jobs: in the job list, and each one readable with its batch.
    jobs = stack.client.get(f"/api/v1/batches/{created['id']}/jobs?limit=4").get_json()
    assert [j["batch_index"] for j in jobs["jobs"]] == [0, 1, 2, 3]
    rest = stack.client.get(f"/api/v1/batches/{created['id']}/jobs?limit=10&cursor={jobs['next_cursor']}").get_json()
    assert [j["batch_index"] for j in rest["jobs"]] == [4, 5, 6, 7, 8] and rest["next_cursor"] is None
    failed = stack.client.get(f"/api/v1/batches/{created['id']}/jobs?status=failed").get_json()["jobs"]
    assert [j["batch_index"] for j in failed] == [8]
    listed = stack.client.get("/api/v1/jobs?limit=100").get_json()["jobs"]
    assert {j["id"] for j in listed} >= {r["job_id"] for r in results}
    one = stack.client.get(f"/api/v1/jobs/{results[3]['job_id']}").get_json()
    assert one["batch_id"] == created["id"] and one["batch_index"] == 3

    assert stack.client.get("/api/v1/batches").get_json()["batches"][0]["id"] == created["id"]


def test_jsonl_upload_and_idempotency_key(batch_stack):
    stack = batch_stack()
    lines = "\n".join(json.dumps({"seconds": 0}) for _ in range(3)) + "\n"
    form = {"kind": "sleep", "priority": "3", "items": (__import__("io").BytesIO(lines.encode()), "items.jsonl")}
    response = stack.client.post("/api/v1/batches", data=form, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["counts"]["total"] == 3 and response.get_json()["priority"] == 3

    body = {"kind": "sleep", "items": [{"seconds": 0}]}
    first = stack.client.post("/api/v1/batches", json=body, headers={"Idempotency-Key": "k1"})
    again = stack.client.post("/api/v1/batches", json=body, headers={"Idempotency-Key": "k1"})
    other = stack.client.post("/api/v1/batches", json={**body, "priority": 1}, headers={"Idempotency-Key": "k1"})
    assert first.status_code == 202 and again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert other.status_code == 409


def test_an_invalid_item_rejects_the_whole_batch(batch_stack):
    stack = batch_stack()
    before = stack.longrun_keys()
    items = [{"seconds": 0}, {"seconds": 0}, {"seconds": "soon"}, {"seconds": 0, "steps": 0}]

    response = stack.submit(items=items, expect=400)

    error = response.get_json()["error"]
    assert error["code"] == "invalid_input"
    assert "item 2" in error["message"] and "seconds" in error["message"]
    assert set(error["details"]["items"]) == {"2", "3"}
    assert "seconds" in error["details"]["items"]["2"] and "steps" in error["details"]["items"]["3"]
    assert stack.longrun_keys() == before  # nothing was created

    bad_line = stack.client.post(
        "/api/v1/batches",
        data={"kind": "sleep", "items": (__import__("io").BytesIO(b'{"seconds": 0}\nnot json\n'), "i.jsonl")},
        content_type="multipart/form-data",
    )
    assert bad_line.status_code == 400 and "line 2" in bad_line.get_json()["error"]["message"]
    assert stack.submit(kind="nope", items=[{}], expect=400).get_json()["error"]["code"] == "unknown_kind"
    assert stack.submit(items=[], expect=400)
    assert stack.longrun_keys() == before


def test_results_are_partial_while_the_batch_runs(batch_stack, poll_until):
    stack = batch_stack()
    stack.start_worker(concurrency=1)
    items = [{"seconds": 0}, {"seconds": 0}, {"seconds": 30, "steps": 30}, {"seconds": 0}]
    bid = stack.submit(items=items).get_json()["id"]

    poll_until(
        lambda: stack.batch(bid)["counts"]["completed"] == 2 and stack.batch(bid)["counts"]["running"] == 1,
        message="two items done, the third running",
    )
    partial = stack.results(bid)
    assert [(r["index"], r["status"]) for r in partial] == [(0, "completed"), (1, "completed")]
    assert stack.batch(bid)["status"] == "running"
    stack.client.post(f"/api/v1/batches/{bid}/cancel")
    stack.wait_batch(bid, "cancelled")


def test_cancel_mid_batch_pending_items_never_start(batch_stack, poll_until):
    stack = batch_stack()
    stack.start_worker(concurrency=1)
    items = [{"seconds": 30, "steps": 300}] + [{"seconds": 0}] * 6
    bid = stack.submit(items=items).get_json()["id"]
    poll_until(lambda: stack.batch(bid)["counts"]["running"] == 1, message="the first item to run")

    response = stack.client.post(f"/api/v1/batches/{bid}/cancel")

    assert response.status_code == 200
    assert response.get_json()["cancel_requested"] is True
    done = stack.wait_batch(bid, "cancelled", timeout=20)
    assert done["counts"] == {"total": 7, "pending": 0, "running": 0, "completed": 0, "failed": 0, "cancelled": 7}
    jobs = stack.client.get(f"/api/v1/batches/{bid}/jobs?limit=10").get_json()["jobs"]
    assert all(j["started_at"] is None and j["attempts"] == 0 for j in jobs[1:])
    assert jobs[0]["started_at"] is not None
    assert stack.client.post(f"/api/v1/batches/{bid}/cancel").status_code == 409


def test_delete_leaves_no_key(batch_stack, poll_until):
    stack = batch_stack()
    before = stack.longrun_keys()
    worker = stack.start_worker(concurrency=2)
    bid = stack.submit(items=[{"seconds": 0}] * 4 + [{"seconds": 30, "steps": 300}]).get_json()["id"]
    poll_until(
        lambda: stack.batch(bid)["counts"]["completed"] == 4 and stack.batch(bid)["counts"]["running"] == 1,
        message="four done, one running",
    )

    assert stack.client.delete(f"/api/v1/batches/{bid}").status_code == 204

    assert stack.client.get(f"/api/v1/batches/{bid}").status_code == 404
    worker.stop()  # its running item stopped; nothing it wrote late may survive

    def leftover():
        return [k for k in stack.longrun_keys() if k not in before and k != keys.TENANTS]

    # The running item's cancel flag (what stops its worker) lapses by itself within lease_seconds x 4.
    assert all(k == keys.cancel(k.rsplit(":", 1)[1]) for k in leftover()), leftover()
    poll_until(lambda: not leftover(), timeout=30, interval=0.5, message="no key of the batch left")


def test_events_stream_item_changes_and_resumes(batch_stack):
    stack = batch_stack()
    stack.start_worker(concurrency=2)
    bid = stack.submit(items=[{"seconds": 0}] * 3).get_json()["id"]
    stack.wait_batch(bid, "completed")

    events = sse(stack.client.get(f"/api/v1/batches/{bid}/events"))
    items = [e for e in events if e["event"] == "item"]
    assert sorted((e["data"]["index"], e["data"]["status"]) for e in items) == sorted(
        [(i, s) for i in range(3) for s in ("running", "completed")]
    )
    assert events[-1]["event"] == "done" and events[-1]["data"]["counts"]["completed"] == 3

    resumed = sse(stack.client.get(f"/api/v1/batches/{bid}/events", headers={"Last-Event-ID": items[2]["id"]}))
    assert [e["id"] for e in resumed if e["event"] == "item"] == [e["id"] for e in items[3:]]
    assert resumed[-1]["event"] == "done"


def sse(response) -> list[dict]:
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    events, current = [], {}
    for line in response.get_data(as_text=True).splitlines():
        if not line:
            if "data" in current:
                current["data"] = json.loads(current["data"])
                events.append(current)
            current = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            current[name] = value
    return events


def test_an_item_cancelled_on_its_own_moves_the_batch_counts(batch_stack):
    stack = batch_stack()
    bid = stack.submit(items=[{"seconds": 0}] * 3).get_json()["id"]
    job_id = stack.client.get(f"/api/v1/batches/{bid}/jobs?limit=1").get_json()["jobs"][0]["id"]

    assert stack.client.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 200

    assert stack.batch(bid)["counts"] == {
        "total": 3,
        "pending": 2,
        "running": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 1,
    }
    assert stack.batch(bid)["status"] == "pending"
    stack.client.delete(f"/api/v1/jobs/{job_id}")  # an item deleted on its own: the batch reads on
    assert stack.client.get(f"/api/v1/batches/{bid}/jobs").get_json()["jobs"][0]["batch_index"] == 1
    assert [r["index"] for r in stack.results(bid)] == []
