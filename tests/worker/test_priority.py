"""A higher-priority job queued behind lower ones starts first on a busy worker."""

import pytest

from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_higher_priority_job_starts_before_earlier_lower_ones(redis_factory, start_worker, settings_for, client_for):
    server = redis_factory()
    client = client_for(settings_for(server.url))
    start_worker("prio", redis=server.url, concurrency=1)

    def post(seconds, priority):
        body = {"kind": "sleep", "input": {"seconds": seconds}, "priority": priority}
        return client.post("/api/v1/jobs", json=body).get_json()["id"]

    def doc(job_id):
        return client.get(f"/api/v1/jobs/{job_id}").get_json()

    blocker = post(1.5, 0)
    wait_until(lambda: doc(blocker)["status"] == "running", message="the blocker to occupy the worker")
    low = [post(0, 0) for _ in range(3)]
    high = post(0, 9)
    middle = post(0, 5)

    order = low + [high, middle]
    wait_until(lambda: all(doc(j)["status"] == "completed" for j in order), timeout=30, message="all jobs")
    started = sorted(order, key=lambda j: doc(j)["started_at"])

    assert started[:2] == [high, middle]
    assert started[2:] == low  # equal priority: submission order
