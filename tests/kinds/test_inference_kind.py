"""The ``inference`` kind end to end: API -> real worker -> fake OpenAI server (streamed)."""

import pytest

from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_prompt_job_completes_with_output_model_and_usage(submit, wait_for_status, openai_server):
    openai_server.reply("Paris is the capital of France.")

    job = submit(
        "inference",
        {
            "input": "What is the capital of France?",
            "options": {"model": "big-model", "temperature": 0.3, "max_tokens": 32},
        },
    )
    done = wait_for_status(job["id"], "completed", "failed")

    assert done["status"] == "completed", done["error"]
    assert done["result"]["output"] == "Paris is the capital of France."
    assert done["result"]["model"] == "big-model"
    assert done["result"]["usage"]["completion_tokens"] == 6
    sent = openai_server.requests[-1]
    assert sent["messages"] == [{"role": "user", "content": "What is the capital of France?"}]
    assert (sent["model"], sent["temperature"], sent["max_tokens"], sent["stream"]) == ("big-model", 0.3, 32, True)
    assert done["progress"]["output"] == "Paris is the capital of France."


def test_messages_are_sent_to_the_model_as_given(submit, wait_for_status, openai_server):
    conversation = [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Colour of the sky?"},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "And grass?"},
    ]
    openai_server.reply("Green.")

    job = submit("inference", {"messages": conversation})
    done = wait_for_status(job["id"], "completed", "failed")

    assert done["result"]["output"] == "Green."
    assert done["result"]["model"] == "fake-model"  # LLM_MODEL when the job names none
    assert openai_server.requests[-1]["messages"] == conversation


@pytest.mark.parametrize(
    "job_input, field",
    [
        ({}, "input"),
        ({"input": "hi", "messages": [{"role": "user", "content": "hi"}]}, "input"),
        ({"input": ""}, "input"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages"),
        ({"input": "hi", "options": {"temperature": 7}}, "options"),
        ({"input": "hi", "options": {"max_tokens": 0}}, "options"),
        ({"input": "hi", "options": {"top_k": 3}}, "options"),
    ],
)
def test_bad_input_is_400_naming_the_field(client, job_input, field):
    response = client.post("/api/v1/jobs", json={"kind": "inference", "input": job_input})

    assert response.status_code == 400
    assert field in response.get_json()["error"]["details"]["input"]


def test_partial_output_is_readable_while_the_answer_streams(client, submit, wait_for_status, openai_server):
    words = [f"word{i} " for i in range(30)]
    openai_server.reply(tokens=words, token_delay=0.15)

    job = submit("inference", {"input": "Count slowly.", "options": {"max_tokens": 60}})

    def partial():
        doc = client.get(f"/api/v1/jobs/{job['id']}").get_json()
        output = doc["progress"].get("output")
        return doc if doc["status"] == "running" and output and len(output) < len("".join(words)) else None

    running = wait_until(partial, timeout=30, interval=0.05, message="a partial output")
    done = wait_for_status(job["id"], "completed", "failed")

    assert "".join(words).startswith(running["progress"]["output"])
    assert running["progress"]["message"].startswith("generated ")
    assert 0 < running["progress"]["percentage"] < 100
    assert done["result"]["output"] == "".join(words)


def _cancel_or_timeout_scenario(client, submit, wait_for_status, openai_server, *, timeout_seconds=None):
    openai_server.reply(tokens=[f"t{i} " for i in range(400)], token_delay=0.1)
    body = {"timeout_seconds": timeout_seconds} if timeout_seconds else {}
    job = submit("inference", {"input": "Talk forever."}, **body)
    wait_until(
        lambda: client.get(f"/api/v1/jobs/{job['id']}").get_json()["progress"].get("output"),
        timeout=30,
        message="the stream to start",
    )
    return job


def test_cancel_stops_a_streaming_job_and_closes_the_model_connection(
    client, submit, wait_for_status, openai_server, worker
):
    pool = set(worker.pool_pids())
    job = _cancel_or_timeout_scenario(client, submit, wait_for_status, openai_server)

    assert client.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 202
    done = wait_for_status(job["id"], "cancelled", "failed", "completed", timeout=30)

    assert done["status"] == "cancelled"
    wait_until(lambda: openai_server.disconnects >= 1, timeout=20, message="the stream to be closed")
    assert set(worker.pool_pids()) == pool  # stopped at a token, not by ending its process
    # The worker is not hung: the next job completes.
    openai_server.reply("still here")
    after = submit("inference", {"input": "Are you there?"})
    assert wait_for_status(after["id"], "completed", "failed")["result"]["output"] == "still here"


def test_timeout_fails_a_streaming_job_and_closes_the_model_connection(
    client, submit, wait_for_status, openai_server, worker
):
    pool = set(worker.pool_pids())
    job = _cancel_or_timeout_scenario(client, submit, wait_for_status, openai_server, timeout_seconds=3)

    done = wait_for_status(job["id"], "failed", "cancelled", "completed", timeout=30)

    assert done["status"] == "failed"
    assert done["error"]["type"] == "Timeout"
    assert len(done["progress"]["output"]) < len("t0 ") * 400
    wait_until(lambda: openai_server.disconnects >= 1, timeout=20, message="the stream to be closed")
    assert set(worker.pool_pids()) == pool  # the soft limit ended the job, not its process
    openai_server.reply("still here")
    after = submit("inference", {"input": "Are you there?"})
    assert wait_for_status(after["id"], "completed", "failed")["result"]["output"] == "still here"
