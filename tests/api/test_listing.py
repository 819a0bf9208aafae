"""Listing jobs (filters, pages, stats), deleting one, and clearing finished ones
in bulk — deletion leaves no key behind in Redis."""

import pytest

from longrun import keys

pytestmark = pytest.mark.integration


def keys_mentioning(redis_client, job_id) -> list[str]:
    found = list(redis_client.scan_iter(match=f"*{job_id}*"))
    for key in redis_client.scan_iter(match=f"{keys.PREFIX}*"):
        kind = redis_client.type(key)
        if kind == "zset" and redis_client.zscore(key, job_id) is not None:
            found.append(key)
        if kind == "zset" and any(m.endswith(job_id) for m in redis_client.zrange(key, 0, -1)):
            found.append(key)
    return found


def test_list_is_newest_first_filtered_and_paginated(client, submit, wait_for_status):
    ids = [submit(input={"seconds": 0}, metadata={"n": n})["id"] for n in range(3)]
    for job_id in ids:
        wait_for_status(job_id, "completed")

    first_page = client.get("/api/v1/jobs?status=completed&kind=sleep&limit=2").get_json()
    second_page = client.get(f"/api/v1/jobs?status=completed&limit=2&cursor={first_page['next_cursor']}").get_json()

    listed = [job["id"] for job in first_page["jobs"] + second_page["jobs"]]
    assert listed[:3] == ids[::-1]
    assert all(job["status"] == "completed" for job in first_page["jobs"])
    assert client.get("/api/v1/jobs?kind=no-such-kind").get_json()["jobs"] == []


def test_list_stats_count_statuses_queues_and_running(client, submit, wait_for_status):
    running = submit(input={"seconds": 30, "steps": 30})
    wait_for_status(running["id"], "running")

    stats = client.get("/api/v1/jobs?limit=1").get_json()["stats"]

    assert stats["running"] >= 1
    assert stats["counts"]["running"] == stats["running"]
    assert set(stats["counts"]) == {"scheduled", "pending", "running", "completed", "failed", "cancelled"}
    assert "sleep" in stats["queues"]
    client.post(f"/api/v1/jobs/{running['id']}/cancel")
    wait_for_status(running["id"], "cancelled")


def test_delete_removes_the_job_and_leaves_no_key(client, submit, wait_for_status, redis_client):
    job = submit(input={"seconds": 0})
    wait_for_status(job["id"], "completed")
    assert keys_mentioning(redis_client, job["id"])

    response = client.delete(f"/api/v1/jobs/{job['id']}")

    assert response.status_code == 204
    assert client.get(f"/api/v1/jobs/{job['id']}").status_code == 404
    assert keys_mentioning(redis_client, job["id"]) == []


def test_bulk_clear_deletes_only_that_status_and_leaves_no_key(client, submit, wait_for_status, redis_client):
    failed = submit(input={"seconds": 0, "fail": True})
    completed = submit(input={"seconds": 0})
    wait_for_status(failed["id"], "failed")
    wait_for_status(completed["id"], "completed")

    response = client.delete("/api/v1/jobs?status=failed")

    assert response.status_code == 200
    assert response.get_json()["deleted"] >= 1
    assert client.get(f"/api/v1/jobs/{failed['id']}").status_code == 404
    assert keys_mentioning(redis_client, failed["id"]) == []
    assert client.get(f"/api/v1/jobs/{completed['id']}").status_code == 200
