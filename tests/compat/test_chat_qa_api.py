"""Seed 001 (chat QA workflow) against Longrun: its documented JavaScript
client (fetch + polling with a timeout), ported to Python, through a live API
and a real worker; and the old synchronous route."""

import time
import uuid

from tests.support.waiting import wait_until


def test_the_documented_polling_client(seed_session, base_url, openai_server):
    openai_server.set_default("多休息，监测血压，如持续头晕请及时就医。")
    chat_id = f"chat_123_pregnant_mother_{uuid.uuid4().hex[:8]}"

    # --- the seed's client ("客户端使用流程"), fetch() ported to requests ---
    # 1. 发起异步请求
    response = seed_session.post(
        f"{base_url}/api/v2/chat/qa/async",
        json={
            "input": "孕妇最近出现头晕症状，需要什么建议？",
            "maternal_id": 123,
            "chat_id": chat_id,
            "user_type": "pregnant_mother",
            "file_id": [],
        },
    )
    task_info = response.json()
    task_id = task_info["data"]["task_id"]

    # 2. 带超时的轮询 (pollTaskStatusWithTimeout)
    def poll_task_status_with_timeout(task_id, timeout_ms=120000):
        start_time = time.time() * 1000
        while time.time() * 1000 - start_time < timeout_ms:
            status_response = seed_session.get(f"{base_url}/api/v2/chat/qa/task/{task_id}/status")
            status_data = status_response.json()
            status = status_data["data"]["status"]
            print(f"任务状态: {status}, 进度: {status_data['data']['progress']}%")
            if status == "completed":
                return status_data["data"]["result"]
            elif status == "failed":
                raise RuntimeError(status_data["data"]["error"])
            time.sleep(2)
        raise RuntimeError("任务超时")

    result = poll_task_status_with_timeout(task_id)
    # --- end of the seed's client ---

    assert response.status_code == 200 and task_info["code"] == 200
    assert task_info["data"]["status"] == "pending"
    assert task_info["data"]["status_url"] == f"/api/v2/chat/qa/task/{task_id}/status"
    assert result["code"] == 200 and result["msg"] == "success"
    data = result["data"]
    assert data["error"] is None and data["session_title"]
    assert data["chat_meta"]["chat_id"] == chat_id and data["chat_meta"]["user_id"] == "123"
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    assert data["messages"][-1]["content"] == "多休息，监测血压，如持续头晕请及时就医。"

    final = seed_session.get(f"{base_url}/api/v2/chat/qa/task/{task_id}/status").json()["data"]
    assert final["progress"] == 100 and final["started_at"] and final["completed_at"]

    # The old synchronous route continues the same conversation (history is sent to the model).
    sync = seed_session.post(
        f"{base_url}/api/v2/chat/qa",
        timeout=150,
        json={
            "input": "需要吃药吗？",
            "maternal_id": 123,
            "chat_id": chat_id,
            "user_type": "pregnant_mother",
            "file_id": [],
        },
    )
    assert sync.status_code == 200, sync.text
    assert sync.json()["code"] == 200 and sync.json()["data"]["chat_meta"]["turns"] == 2
    sent = [m["content"] for m in openai_server.requests[-1]["messages"]]
    assert "孕妇最近出现头晕症状，需要什么建议？" in sent and sent[-1] == "需要吃药吗？"


def test_errors_keep_the_code_msg_data_envelope(client):
    missing = client.get("/api/v2/chat/qa/task/task_0123456789abcdef0123456789abcdef/status")
    assert missing.status_code == 404
    assert missing.get_json()["code"] == 404 and missing.get_json()["data"] is None
    bad = client.post("/api/v2/chat/qa/async", json={"maternal_id": 123})
    assert bad.status_code == 400 and bad.get_json()["code"] == 400 and "input" in bad.get_json()["msg"]


def test_the_sync_route_gives_up_after_its_bounded_wait_with_a_way_to_poll(
    settings_for, redis_url, api_headers, worker, openai_server
):
    from api import create_app

    openai_server.set_default("slow " * 4, token_delay=0.5)
    app = create_app({"TESTING": True, "LONGRUN_SETTINGS": settings_for(redis_url, sync_wait_seconds=1)})
    with app.test_client() as client:
        response = client.post("/api/v2/chat/qa", headers=api_headers, json={"input": "你好", "file_id": []})
        assert response.status_code == 504
        body = response.get_json()
        assert body["code"] == 504 and body["data"]["task_id"].startswith("task_")
        status_url = body["data"]["status_url"]
        done = wait_until(
            lambda: (
                (d := client.get(status_url, headers=api_headers).get_json()["data"])["status"]
                in ("completed", "failed")
                and d
            ),
            timeout=60,
        )
    assert done["status"] == "completed"
    assert done["result"]["data"]["messages"][-1]["content"].startswith("slow")
