"""The codegen kind end to end: real PDFs (pages, tables) uploaded, parsed by a
real worker with pypdf, the model asked through the LLM client, the code
saved as a downloadable artifact."""

import io
import json

from longrun import keys
from tasks.codegen import artifact_name, code_from_answer

ANSWER = 'Here is the code:\n```c\n#include "bf7615.h"\nvoid touch_init(void) { TK_CTRL = 0x01; }\n```\nDone.'


def test_code_is_taken_from_fenced_blocks_or_the_whole_answer():
    assert code_from_answer(ANSWER) == '#include "bf7615.h"\nvoid touch_init(void) { TK_CTRL = 0x01; }\n'
    assert code_from_answer("int x = 1;") == "int x = 1;\n"
    assert artifact_name("C") == "generated.c" and artifact_name("klingon") == "generated.txt"


def test_pdfs_in_code_out_as_a_downloadable_artifact(
    client, worker, wait_for_status, openai_server, redis_client, datasheet_pdf, schematic_pdf
):
    openai_server.set_default(ANSWER)
    response = client.post(
        "/api/v1/jobs",
        content_type="multipart/form-data",
        data={
            "kind": "codegen",
            "input": json.dumps({"instruction": "initialise the touch keys", "language": "c"}),
            "datasheet": (io.BytesIO(datasheet_pdf), "BF7615CMXX.pdf"),
            "schematic": (io.BytesIO(schematic_pdf), "Schematic Prints.pdf"),
        },
    )
    assert response.status_code == 202, response.get_json()
    job = wait_for_status(response.get_json()["id"], "completed", "failed", timeout=90)
    assert job["status"] == "completed", job["error"]

    result = job["result"]
    assert result["language"] == "c"
    assert "void touch_init(void)" in result["generated_code"]
    meta = result["metadata"]
    assert meta["datasheet"]["pages"] == 4 and meta["schematic"]["pages"] == 2
    assert meta["artifact"] == "generated.c" and meta["model"]
    assert job["progress"]["total_steps"] == 3 and job["progress"]["step_name"] == "generate code"

    # The model saw the PDFs' text, tables included, page by page.
    prompts = [r["messages"][-1]["content"] for r in openai_server.requests]
    prompt = next(p for p in prompts if "initialise the touch keys" in p)
    assert "TK_IRQ" in prompt and "--- page 4 ---" in prompt and "LED1" in prompt

    download = client.get(f"/api/v1/jobs/{job['id']}/artifacts/generated.c")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    assert download.data.decode() == result["generated_code"]
    download.close()

    # The steps were reported in order through the job's events; quick ones are
    # coalesced (at most one event per progress interval), the last one is there.
    steps = [e for e in _events(redis_client, job["id"]) if e.get("step_name")]
    assert [s["current_step"] for s in steps] == sorted(s["current_step"] for s in steps)
    assert steps[-1]["step_name"] == "generate code"


def _events(redis_client, job_id):
    return [
        json.loads(fields["progress"])
        for _, fields in redis_client.xrange(keys.events(job_id))
        if fields.get("progress")
    ]


def test_a_model_failure_fails_the_job_with_a_clear_error(
    client, worker, wait_for_status, openai_server, datasheet_pdf, schematic_pdf
):
    openai_server.set_default(status=400)
    response = client.post(
        "/api/v1/jobs",
        content_type="multipart/form-data",
        data={
            "kind": "codegen",
            "input": json.dumps({"instruction": "x"}),
            "datasheet": (io.BytesIO(datasheet_pdf), "a.pdf"),
            "schematic": (io.BytesIO(schematic_pdf), "b.pdf"),
        },
    )
    job = wait_for_status(response.get_json()["id"], "completed", "failed", timeout=90)
    assert job["status"] == "failed"
    assert "400" in job["error"]["message"]
