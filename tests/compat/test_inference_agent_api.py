"""Seed 004 (inference agent) against Longrun: its documented requests (curl,
ported to Python) through a live API and a real worker, and the health check
it shares with the core."""

import re
import time


def test_the_documented_requests(seed_session, base_url, openai_server):
    openai_server.set_default("Processed input: 这是一个测试输入")

    # --- the seed's requests ("API请求示例"), curl ported to requests ---
    created = seed_session.post(
        f"{base_url}/api/v1/task/inference",
        json={"input": "这是一个测试输入", "options": {"model": "gpt-3.5-turbo", "temperature": 0.7}},
    )
    task_id = created.json()["task_id"]
    deadline = time.monotonic() + 90
    while True:
        task = seed_session.get(f"{base_url}/api/v1/task/{task_id}").json()
        if task["status"] in ("completed", "failed") or time.monotonic() > deadline:
            break
        time.sleep(1)
    health = seed_session.get(f"{base_url}/api/v1/health")
    # --- end ---

    assert created.status_code == 200 and created.json()["status"] == "pending"
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", task_id)
    assert task["status"] == "completed", task
    assert task["result"]["output"] == "Processed input: 这是一个测试输入"
    assert task["error"] is None
    for name in ("created_at", "started_at", "completed_at"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", task[name]), task[name]
    # The options reached the model.
    assert openai_server.requests[-1]["model"] == "gpt-3.5-turbo"
    assert openai_server.requests[-1]["temperature"] == 0.7

    # One health endpoint: the seed's fields and the core's.
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "healthy" and body["version"] and isinstance(body["tasks_count"], int)
    assert body["tasks_count"] >= 1 and body["redis"] == "ok" and body["workers"] >= 1


def test_errors_are_fastapi_shaped(client):
    missing = client.get("/api/v1/task/3f2d8a9c-6e5b-4d1c-9a7f-8b3e5a4c2d6e")
    assert missing.status_code == 404 and "detail" in missing.get_json()
    bad = client.post("/api/v1/task/inference", json={"options": {}})
    assert bad.status_code == 422
    assert bad.get_json()["detail"][0]["loc"] == ["body", "input"]
