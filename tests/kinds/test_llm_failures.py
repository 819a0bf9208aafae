"""A model that is unreachable, failing, slow or talking garbage fails the job
with a clear error after bounded retries, and the worker goes on serving.

The session's LLM settings (tests/support/fake_llm.py): 1 retry, 2 s read timeout.
"""

import pytest

from tests.support.ports import free_port

pytestmark = pytest.mark.integration


def _next_job_completes(submit, wait_for_status, openai_server):
    openai_server.set_default("recovered")
    job = submit("inference", {"input": "ping"})
    assert wait_for_status(job["id"], "completed", "failed")["result"]["output"] == "recovered"


def test_model_answering_500_fails_the_job_after_bounded_retries(submit, wait_for_status, openai_server):
    openai_server.set_default(status=500)

    job = submit("inference", {"input": "hello"})
    done = wait_for_status(job["id"], "failed", "completed", timeout=60)

    assert done["error"]["type"] == "LLMUnavailable"
    assert "answered 500" in done["error"]["message"]
    assert "after 2 attempts" in done["error"]["message"]
    assert len(openai_server.requests) == 2
    _next_job_completes(submit, wait_for_status, openai_server)


def test_model_answering_garbage_fails_the_job(submit, wait_for_status, openai_server):
    openai_server.set_default(body=b"\x00\xffnot an event stream")

    job = submit("chat", {"input": "hello", "chat_id": "garbage-chat"})
    done = wait_for_status(job["id"], "failed", "completed", timeout=60)

    assert done["error"]["type"] == "LLMBadResponse"
    assert "not JSON" in done["error"]["message"]
    _next_job_completes(submit, wait_for_status, openai_server)


def test_model_that_never_answers_fails_the_job_on_its_read_timeout(submit, wait_for_status, openai_server):
    openai_server.set_default(hang=True)

    job = submit("inference", {"input": "hello"})
    done = wait_for_status(job["id"], "failed", "completed", timeout=60)

    assert done["error"]["type"] == "LLMUnavailable"
    assert "did not answer in time" in done["error"]["message"]
    assert len(openai_server.requests) == 2
    _next_job_completes(submit, wait_for_status, openai_server)


def test_model_that_cannot_be_reached_fails_the_job(isolated_service):
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    service = isolated_service("unreachable", LLM_BASE_URL=dead)

    job = service.submit("inference", {"input": "hello"})
    done = service.wait(job["id"], "failed", "completed")

    assert done["error"]["type"] == "LLMUnavailable"
    assert f"cannot reach {dead}" in done["error"]["message"]
    # The worker goes on serving.
    assert service.wait(service.submit("sleep", {"seconds": 0})["id"], "completed")["result"]["steps"] == 1
