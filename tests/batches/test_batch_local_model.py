"""One small batch against the real local model (skipped when it is not installed):
native inference items and an OpenAI Batch API request line, through one worker
configured only by LLM_BASE_URL/LLM_MODEL. A real answer must come back; its quality is not judged."""

import io
import json
import time

import pytest

pytestmark = pytest.mark.integration


def test_a_small_batch_on_the_real_model(smollm2_server, isolated_service):
    service = isolated_service(
        "batch-smollm2",
        LLM_BASE_URL=smollm2_server.url,
        LLM_MODEL=smollm2_server.model,
        LLM_API_KEY="",
        LONGRUN_LLM_READ_TIMEOUT_SECONDS="120",
    )
    client = service.client
    options = {"max_tokens": 8, "temperature": 0}
    bid = client.post(
        "/api/v1/batches",
        json={
            "kind": "inference",
            "items": [{"input": "Name a colour.", "options": options}, {"input": "Name a fruit.", "options": options}],
        },
    ).get_json()["id"]
    line = {
        "custom_id": "q1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": smollm2_server.model,
            "max_tokens": 8,
            "messages": [{"role": "user", "content": "Say hello."}],
        },
    }
    uploaded = client.post(
        "/v1/files",
        data={"purpose": "batch", "file": (io.BytesIO(json.dumps(line).encode()), "q.jsonl")},
        content_type="multipart/form-data",
    ).get_json()
    openai_batch = client.post(
        "/v1/batches",
        json={"input_file_id": uploaded["id"], "completion_window": "24h", "endpoint": "/v1/chat/completions"},
    ).get_json()

    deadline = time.monotonic() + 150  # under pytest-timeout's 180 s
    while time.monotonic() < deadline:
        native = client.get(f"/api/v1/batches/{bid}").get_json()
        other = client.get(f"/v1/batches/{openai_batch['id']}").get_json()
        if native["status"] == "completed" and other["status"] == "completed":
            break
        time.sleep(0.5)
    assert native["counts"]["completed"] == 2, native
    lines = client.get(f"/api/v1/batches/{bid}/results").get_data(as_text=True).splitlines()
    results = [json.loads(x) for x in lines]
    assert all(r["result"]["output"].strip() for r in results)
    assert other["request_counts"]["completed"] == 1, other
    (out,) = [
        json.loads(x)
        for x in client.get(f"/v1/files/{other['output_file_id']}/content").get_data(as_text=True).splitlines()
    ]
    assert out["response"]["body"]["choices"][0]["message"]["content"].strip()
