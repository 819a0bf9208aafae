"""The official ``openai`` package runs its whole batch flow against Longrun,
changed only in ``base_url`` and ``api_key``: gunicorn, real workers, and the
fake OpenAI-compatible server as the model backend (LLM_BASE_URL)."""

import json

import openai
import pytest

pytestmark = pytest.mark.integration


def request_line(custom_id, text, model="fake-model", url="/v1/chat/completions"):
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": url,
        "body": {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 20},
    }


def jsonl(lines) -> bytes:
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines).encode()


@pytest.fixture
def sdk(batch_stack, start_api, api_headers, openai_server):
    stack = batch_stack()
    api = start_api(env={"REDIS_URL": stack.server.url}, workers=1)
    key = api_headers["Authorization"].split(" ", 1)[1]
    client = openai.OpenAI(base_url=api.url + "/v1", api_key=key, max_retries=0, timeout=30)
    client.stack = stack
    return client


def wait_status(sdk, batch_id, poll_until, *statuses):
    return poll_until(
        lambda: (b := sdk.batches.retrieve(batch_id)).status in statuses and b,
        timeout=60,
        interval=0.2,
        message=f"batch {batch_id} to be {statuses}",
    )


def test_the_official_sdk_batch_flow(sdk, openai_server, poll_until):
    sdk.stack.start_worker(concurrency=2)
    lines = [request_line(f"req-{i}", f"question {i}", model=f"model-{i % 2}") for i in range(6)]
    uploaded = sdk.files.create(file=("requests.jsonl", jsonl(lines)), purpose="batch")
    assert uploaded.purpose == "batch" and uploaded.bytes == len(jsonl(lines))
    assert sdk.files.retrieve(uploaded.id).filename == "requests.jsonl"
    assert sdk.files.content(uploaded.id).content == jsonl(lines)
    assert uploaded.id in [f.id for f in sdk.files.list()]

    batch = sdk.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h", metadata={"job": "nightly"}
    )

    assert batch.object == "batch" and batch.status in ("validating", "in_progress", "completed")
    assert batch.request_counts.total == 6 and batch.metadata == {"job": "nightly"}
    assert batch.expires_at - batch.created_at == 24 * 3600
    done = wait_status(sdk, batch.id, poll_until, "completed")
    assert done.request_counts.completed == 6 and done.request_counts.failed == 0
    assert done.output_file_id and done.error_file_id is None and done.completed_at

    output = [json.loads(line) for line in sdk.files.content(done.output_file_id).text.splitlines()]
    assert [line["custom_id"] for line in output] == [f"req-{i}" for i in range(6)]
    for i, line in enumerate(output):
        assert line["error"] is None and line["response"]["status_code"] == 200
        body = line["response"]["body"]
        assert body["object"] == "chat.completion"
        assert body["choices"][0]["message"]["content"] == f"echo: question {i}"
        assert body["model"] == f"model-{i % 2}"  # each body's model was passed through
    assert sorted(r["model"] for r in openai_server.requests) == ["model-0"] * 3 + ["model-1"] * 3
    assert not any(r.get("stream") for r in openai_server.requests)

    second = sdk.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    page = sdk.batches.list(limit=1)
    assert [b.id for b in page.data] == [second.id] and page.has_more
    assert [b.id for b in sdk.batches.list(limit=1, after=second.id).data] == [batch.id]
    assert {b.id for b in sdk.batches.list(limit=1)} >= {batch.id, second.id}  # the SDK pages by `after`

    with pytest.raises(openai.NotFoundError) as missing:
        sdk.batches.retrieve("batch_" + "0" * 32)
    assert set(missing.value.body) >= {"message", "type", "param", "code"}
    assert sdk.files.delete(uploaded.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        sdk.files.retrieve(uploaded.id)


def test_refused_requests_go_to_the_error_file(sdk, openai_server, poll_until):
    sdk.stack.start_worker(concurrency=1)
    openai_server.reply(
        status=400,
        body={
            "error": {
                "message": "model not found",
                "type": "invalid_request_error",
                "param": "model",
                "code": "model_not_found",
            }
        },
    )
    uploaded = sdk.files.create(file=("one.jsonl", jsonl([request_line("only", "hi", model="nope")])), purpose="batch")
    batch = sdk.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")

    done = wait_status(sdk, batch.id, poll_until, "completed")

    assert done.request_counts.failed == 1 and done.output_file_id is None
    (line,) = [json.loads(x) for x in sdk.files.content(done.error_file_id).text.splitlines()]
    assert line["custom_id"] == "only" and line["response"]["status_code"] == 400
    assert line["response"]["body"]["error"]["code"] == "model_not_found"


def test_cancel_through_the_sdk(sdk, openai_server, poll_until):
    # No worker yet: every request is pending when the batch is cancelled.
    lines = [request_line(f"c-{i}", "x") for i in range(6)]
    uploaded = sdk.files.create(file=("c.jsonl", jsonl(lines)), purpose="batch")
    batch = sdk.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")

    cancelled = sdk.batches.cancel(batch.id)

    assert cancelled.status == "cancelled" and cancelled.cancelling_at and cancelled.cancelled_at
    assert cancelled.request_counts.total == 6 and cancelled.request_counts.completed == 0
    errors = [json.loads(x) for x in sdk.files.content(cancelled.error_file_id).text.splitlines()]
    assert [e["custom_id"] for e in errors] == [f"c-{i}" for i in range(6)]
    assert {e["error"]["code"] for e in errors} == {"batch_cancelled"}
    with pytest.raises(openai.NotFoundError):
        sdk.batches.create(input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h")

    sdk.stack.start_worker(concurrency=1)
    marker = sdk.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    wait_status(sdk, marker.id, poll_until, "completed")
    assert len(openai_server.requests) == 6  # the marker's six; the cancelled batch's never started
    with pytest.raises(openai.BadRequestError):
        sdk.batches.cancel(marker.id)


def test_bad_lines_fail_the_batch_with_openai_errors(sdk, openai_server):
    lines = [
        request_line("a", "fine"),
        "{not json",
        request_line("a", "again"),
        request_line("b", "wrong", url="/v1/embeddings"),
        {"custom_id": "c", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m"}},
    ]
    uploaded = sdk.files.create(file=("bad.jsonl", jsonl(lines)), purpose="batch")

    batch = sdk.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")

    assert batch.status == "failed" and batch.failed_at
    assert batch.errors.object == "list"
    assert [(e.code, e.line) for e in batch.errors.data] == [
        ("invalid_json_line", 2),
        ("duplicate_custom_id", 3),
        ("url_mismatch", 4),
        ("invalid_request", 5),
    ]
    assert all(e.message for e in batch.errors.data)
    assert sdk.batches.retrieve(batch.id).status == "failed"
    assert openai_server.requests == []  # nothing ran

    with pytest.raises(openai.BadRequestError) as refused:
        sdk.batches.create(input_file_id=uploaded.id, endpoint="/v1/completions", completion_window="24h")
    assert refused.value.body["param"] == "endpoint" and refused.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError):
        sdk.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="48h")
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=str(sdk.base_url), api_key="wrong", max_retries=0).batches.list()
