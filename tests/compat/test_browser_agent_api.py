"""Seed 000 (browser agent) against Longrun: its documented Python client,
unchanged but for the API key header, through a live API and a real worker
driving Chromium as the (scripted) model directs."""

import json
import time


def test_the_documented_client_flow(seed_session, base_url, openai_server, test_pages):
    for action in (
        {"action": "goto", "url": test_pages.url("/form")},
        {"action": "fill", "element": 1, "value": "Grace"},
        {"action": "click", "selector": "#submit"},
        {"action": "done", "answer": "The page says: Hello, Grace!"},
    ):
        openai_server.reply(json.dumps(action))
    requests = seed_session  # the seed's client called requests.* directly
    seen = []

    # --- the seed's client ("使用流程"), with its URLs on the live API ---
    # 1. 提交任务
    response = requests.post(
        f"{base_url}/run_task", json={"task": "前往表单页，填写名字 Grace 并提交", "max_steps": 10, "headless": True}
    )

    task_id = response.json()["task_id"]
    print(f"任务已提交，ID: {task_id}")

    # 2. 监控任务状态
    while True:
        # 获取任务状态
        status_response = requests.get(f"{base_url}/task_status/{task_id}")
        status_data = status_response.json()
        seen.append(status_data)

        print(f"状态: {status_data['status']}, 进度: {status_data['progress']:.1%}")

        if status_data["status"] in ["completed", "failed"]:
            break

        time.sleep(2)  # 等待2秒后再次检查

    # 3. 获取执行结果
    if status_data["status"] == "completed":
        result = status_data["result"]
        execution_time = status_data["end_time"] - status_data["start_time"]
        print(f"任务完成！耗时: {execution_time:.2f}秒")
        print(f"结果: {result}")
    else:
        error = status_data["error"]
        print(f"任务失败: {error}")
    # --- end of the seed's client ---

    assert response.status_code == 200 and response.json()["success"] is True
    assert task_id.startswith("task_") and task_id in response.json()["message"]
    assert status_data["status"] == "completed", status_data["error"]
    assert result == "The page says: Hello, Grace!"
    assert status_data["progress"] == 1.0 and 0 < execution_time < 120
    assert all(0 <= s["progress"] <= 1 for s in seen)
    assert "/hello" in test_pages.hits

    listing = requests.get(f"{base_url}/list_tasks").json()
    assert task_id in listing["tasks"] and listing["total"] == len(listing["tasks"])
    assert set(listing["status_summary"]) == {"pending", "running", "completed", "failed"}
    assert listing["status_summary"]["completed"] >= 1

    cleared = requests.delete(f"{base_url}/clear_completed_tasks").json()
    assert cleared["success"] is True and cleared["cleared_count"] >= 1
    assert requests.get(f"{base_url}/task_status/{task_id}").status_code == 404
    assert task_id not in requests.get(f"{base_url}/list_tasks").json()["tasks"]


def test_bad_input_is_a_fastapi_422_and_unsafe_urls_are_refused(client):
    missing = client.post("/run_task", json={"max_steps": 3})
    assert missing.status_code == 422 and missing.get_json()["detail"][0]["loc"] == ["body", "task"]
    # cdp_url and host pass the URL rules: a link-local (metadata) address is never allow-listed.
    unsafe = client.post("/run_task", json={"task": "x", "cdp_url": "http://169.254.169.254:9222"})
    assert unsafe.status_code == 422 and unsafe.get_json()["detail"][0]["loc"] == ["body", "cdp_url"]
    assert client.get("/task_status/task_nope").status_code == 404
