"""Seed 002 (code from PDFs) against Longrun: its documented Python client,
unchanged but for the API key header, through a live API and a real worker."""

import time

from tests.support.pdfs import make_pdf

CODE = '#include "bf7615.h"\nvoid touch_init(void) { TK_CTRL = 0x01; }'
ANSWER = f"```c\n{CODE}\n```"


def test_the_documented_python_client_flow(
    seed_session, base_url, openai_server, tmp_path, datasheet_pdf, schematic_pdf
):
    openai_server.set_default(ANSWER)
    (tmp_path / "datasheet.pdf").write_bytes(datasheet_pdf)
    (tmp_path / "schematic.pdf").write_bytes(schematic_pdf)
    requests = seed_session  # the seed's client called requests.* directly

    # --- the seed's client, as documented ("Python" in 使用示例) ---
    # 1. 提交任务
    with open(tmp_path / "datasheet.pdf", "rb") as datasheet, open(tmp_path / "schematic.pdf", "rb") as schematic:
        files = {"datasheet": datasheet, "schematic": schematic}
        response = requests.post(
            f"{base_url}/api/v1/generate/async", files=files, data={"instruction": "生成初始化代码"}
        )
    task_id = response.json()["task_id"]

    # 2. 轮询状态
    polls = []
    while True:
        time.sleep(5)
        status = requests.get(f"{base_url}/api/v1/tasks/{task_id}").json()
        print(f"Progress: {status['progress']['percentage']}%")
        polls.append(status)
        if status["status"] != "processing":
            break

    # 3. 下载结果
    result = requests.get(f"{base_url}/api/v1/tasks/{task_id}/result").json()
    with open(tmp_path / "generated.c", "w", encoding="utf-8") as f:
        f.write(result["generated_code"])
    # --- end of the seed's client ---

    assert response.status_code == 202 and response.json()["status"] == "accepted"
    assert task_id.startswith("task_")
    assert polls[-1]["status"] == "completed"
    assert polls[-1]["progress"] == {
        "current_step": 3,
        "total_steps": 3,
        "step_name": "generate code",
        "percentage": 100,
    }
    assert (tmp_path / "generated.c").read_text(encoding="utf-8") == CODE + "\n"
    assert result["language"] == "c" and result["metadata"]["datasheet"]["pages"] == 4

    # The same result as a file download, and the task in the list with its stats.
    download = requests.get(f"{base_url}/api/v1/tasks/{task_id}/result", params={"download": "true"})
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    assert download.text == CODE + "\n"
    listing = requests.get(f"{base_url}/api/v1/tasks", params={"status": "completed", "limit": 5}).json()
    assert task_id in [t["task_id"] for t in listing["tasks"]]
    assert {"total", "pending", "processing", "completed", "failed", "queue_length", "current_processing"} <= set(
        listing["stats"]
    )

    # DELETE removes the task and its files.
    deleted = requests.delete(f"{base_url}/api/v1/tasks/{task_id}")
    assert deleted.status_code == 200 and deleted.json()["success"] is True
    gone = requests.get(f"{base_url}/api/v1/tasks/{task_id}")
    assert gone.status_code == 404 and gone.json()["success"] is False


def test_the_synchronous_route_answers_with_the_code(
    seed_session, base_url, openai_server, datasheet_pdf, schematic_pdf
):
    openai_server.set_default(ANSWER)
    response = seed_session.post(
        f"{base_url}/api/v1/generate",
        data={"instruction": "init", "language": "c"},
        files={"datasheet": ("d.pdf", datasheet_pdf), "schematic": ("s.pdf", schematic_pdf)},
        timeout=150,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["generated_code"] == CODE + "\n"


def test_bad_uploads_are_4xx_in_the_seed_envelope(seed_session, base_url, datasheet_pdf):
    not_pdf = seed_session.post(
        f"{base_url}/api/v1/generate/async",
        data={"instruction": "init"},
        files={"datasheet": ("d.pdf", datasheet_pdf), "schematic": ("s.pdf", b"MZ\x90\x00" * 50)},
    )
    assert not_pdf.status_code == 400
    assert not_pdf.json()["success"] is False and "schematic" in not_pdf.json()["error"]
    no_instruction = seed_session.post(
        f"{base_url}/api/v1/generate/async",
        files={"datasheet": ("d.pdf", datasheet_pdf), "schematic": ("s.pdf", make_pdf("s", pages=1))},
    )
    assert no_instruction.status_code == 400 and "instruction" in no_instruction.json()["error"]


def test_a_result_asked_for_too_early_is_a_409(seed_session, base_url, openai_server, datasheet_pdf, schematic_pdf):
    openai_server.set_default(ANSWER, token_delay=0.5)
    submitted = seed_session.post(
        f"{base_url}/api/v1/generate/async",
        data={"instruction": "init"},
        files={"datasheet": ("d.pdf", datasheet_pdf), "schematic": ("s.pdf", schematic_pdf)},
    )
    task_id = submitted.json()["task_id"]
    early = seed_session.get(f"{base_url}/api/v1/tasks/{task_id}/result")
    assert early.status_code == 409 and early.json()["success"] is False
    seed_session.delete(f"{base_url}/api/v1/tasks/{task_id}")
