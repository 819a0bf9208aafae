"""Seed 003 (task orchestrator) against Longrun: its client (submit, then the
documented poll with exponential backoff), cancel, 404, 400 for unknown task
types, and 503 when overloaded."""

import time

import pytest

from api import create_app


def test_the_documented_client_flow(seed_session, base_url, redis_client):
    get = lambda path: seed_session.get(base_url + path)  # noqa: E731 - the seed's `get(...)`

    created = seed_session.post(
        f"{base_url}/tasks",
        json={
            "task_type": "sleep",
            "description": "nightly report",
            "parameters": {"seconds": 1, "steps": 2},
            "priority": 10,
            "timeout_seconds": 60,
        },
    )
    assert created.status_code == 200, created.text
    task = created.json()
    assert task["status"] == "created" and task["priority"] == 10 and task["task_type"] == "sleep"
    task_id = task["task_id"]

    # --- the seed's client ("客户端实现建议": retry logic), ported from asyncio ---
    def poll_task_status(task_id, max_retries=5):
        delay = 1
        for i in range(max_retries):
            try:
                response = get(f"/tasks/{task_id}")
                if response.status_code == 200:
                    return response.json()
            except Exception:
                if i == max_retries - 1:
                    raise
                time.sleep(delay)
                delay *= 2  # 指数退避

    # "状态查询与轮询最佳实践": while running, wait with exponential backoff and ask again.
    status = poll_task_status(task_id)
    delay = 0.5
    while status["status"] in ("created", "running"):
        time.sleep(delay)
        delay = min(delay * 2, 4)
        status = poll_task_status(task_id)
    # --- end of the seed's client ---

    assert status["status"] == "completed"
    assert status["result"] == {"slept": 1.0, "steps": 2}
    assert status["description"] == "nightly report" and status["completed_at"]
    # Priority 10 (the seed's highest) is the core's 9.
    core = seed_session.get(f"{base_url}/api/v1/jobs/{task_id}").json()
    assert core["priority"] == 9


def test_cancel_a_running_task(seed_session, base_url):
    task_id = seed_session.post(
        f"{base_url}/tasks",
        json={"task_type": "sleep", "description": "long", "parameters": {"seconds": 30, "steps": 30}},
    ).json()["task_id"]
    deadline = time.monotonic() + 60
    while seed_session.get(f"{base_url}/tasks/{task_id}").json()["status"] == "created":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    cancel = seed_session.post(f"{base_url}/tasks/{task_id}/cancel")
    assert cancel.status_code in (200, 202)
    while (status := seed_session.get(f"{base_url}/tasks/{task_id}").json())["status"] != "cancelled":
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    again = seed_session.post(f"{base_url}/tasks/{task_id}/cancel")
    assert again.status_code == 409 and "detail" in again.json()


def test_unknown_ids_types_and_bad_fields(client):
    missing = client.get("/tasks/0123456789abcdef0123456789abcdef")
    assert missing.status_code == 404 and "detail" in missing.get_json()
    unknown = client.post("/tasks", json={"task_type": "teleport", "description": "x"})
    assert unknown.status_code == 400
    assert "teleport" in unknown.get_json()["detail"] and "sleep" in unknown.get_json()["detail"]
    for body, field in [
        ({"task_type": "sleep"}, "description"),
        ({"task_type": "sleep", "description": "x", "priority": 11}, "priority"),
        ({"task_type": "sleep", "description": "x", "parameters": {"seconds": -1}}, "seconds"),
    ]:
        response = client.post("/tasks", json=body)
        assert response.status_code == 400 and field in response.get_json()["detail"], body


@pytest.fixture
def idle_redis(redis_factory):
    return redis_factory()  # no worker consumes its queues


def test_overloaded_is_a_503_with_retry_after(idle_redis, settings_for, api_headers):
    app = create_app({"TESTING": True, "LONGRUN_SETTINGS": settings_for(idle_redis.url, max_queue_depth=2)})
    body = {"task_type": "sleep", "description": "queued", "parameters": {"seconds": 0}}
    with app.test_client() as client:
        for _ in range(2):
            assert client.post("/tasks", json=body, headers=api_headers).status_code == 200
        refused = client.post("/tasks", json=body, headers=api_headers)
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] and "overloaded" in refused.get_json()["detail"]
