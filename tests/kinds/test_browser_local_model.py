"""A browser agent job driven by the real local model (SmolLM2-135M-Instruct on
llama.cpp, one thread), through a worker configured only by LLM_BASE_URL and
LLM_MODEL. We assert that the model really answered each turn, never the
quality of its browsing (a 135M model rarely finishes a task)."""

import pytest

from tests.support.isolated import IsolatedService

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smollm2_browser_service(smollm2_server):
    service = IsolatedService(
        "smollm2-browser",
        LLM_BASE_URL=smollm2_server.url,
        LLM_MODEL=smollm2_server.model,
        LLM_API_KEY="",
        LONGRUN_LLM_READ_TIMEOUT_SECONDS="120",
    ).start()
    yield service
    service.stop()


def test_agent_job_gets_real_answers_from_the_local_model(smollm2_browser_service, test_pages, chromium_processes):
    job = smollm2_browser_service.submit(
        "browser",
        {
            "task": "Open the form.",
            "start_url": test_pages.url("/links"),
            "max_steps": 1,
            "max_tokens": 48,
            "temperature": 0,
        },
    )

    done = smollm2_browser_service.wait(job["id"], "completed", "failed", timeout=180)

    assert done["status"] == "completed", done["error"]
    result = done["result"]
    assert result["model"] == "smollm2"
    # The turn holds the action the model chose, or why its answer was not one.
    assert len(result["history"]) == 1
    assert all(turn.get("action") or turn.get("error") for turn in result["history"])
    assert not chromium_processes(job["id"])
