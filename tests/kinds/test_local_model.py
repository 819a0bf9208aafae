"""The real local default model (SmolLM2-135M-Instruct on llama.cpp, one thread):
the client alone, then an inference and a chat job end to end through a worker
configured only by LLM_BASE_URL/LLM_MODEL, as in production.

We assert that a real answer came back, never its quality; max_tokens stays
small (~30 tokens/s on one thread).
"""

import pytest

from backends import local_model
from backends.llm import LLMClient
from tests.support.isolated import IsolatedService

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smollm2_service(smollm2_server):
    service = IsolatedService(
        "smollm2",
        LLM_BASE_URL=smollm2_server.url,
        LLM_MODEL=smollm2_server.model,
        LLM_API_KEY="",
        LONGRUN_LLM_READ_TIMEOUT_SECONDS="120",
    ).start()
    yield service
    service.stop()


def test_model_file_is_found_without_importing_its_package():
    import sys

    path = local_model.model_path()

    assert path is not None and path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert local_model.MODEL_PACKAGE not in sys.modules


def test_server_runs_on_loopback_with_one_thread():
    command = local_model.server_command(8089)

    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--n_threads") + 1] == "1"


def test_server_gets_none_of_our_environment_settings():
    env = local_model.server_env(
        {
            "PATH": "/usr/bin",
            "LC_ALL": "C",
            "PORT": "8000",
            "HOST": "0.0.0.0",
            "CONFIG_FILE": "x.json",
            "LLM_API_KEY": "sk-secret",
        }
    )

    assert env == {"PATH": "/usr/bin", "LC_ALL": "C"}


def test_client_streams_a_real_answer(smollm2_server):
    llm = LLMClient(smollm2_server.url, smollm2_server.model)
    tokens = []

    result = llm.chat([{"role": "user", "content": "Say hello."}], max_tokens=8, temperature=0, on_token=tokens.append)

    assert result.content.strip() and result.content == "".join(tokens)
    assert len(tokens) > 1
    assert llm.models() == ["smollm2"]


def test_inference_job_gets_a_real_answer(smollm2_service):
    job = smollm2_service.submit(
        "inference", {"input": "What is the capital of France?", "options": {"max_tokens": 12, "temperature": 0}}
    )

    done = smollm2_service.wait(job["id"], "completed", "failed", timeout=120)

    assert done["status"] == "completed", done["error"]
    assert done["result"]["output"].strip()
    assert done["result"]["model"] == "smollm2"
    assert done["progress"]["output"] == done["result"]["output"]


def test_chat_job_gets_a_real_answer_and_keeps_history(smollm2_service):
    first = smollm2_service.submit(
        "chat",
        {"input": "My name is Ada. Say hi.", "chat_id": "real-chat", "options": {"max_tokens": 10, "temperature": 0}},
    )
    first_done = smollm2_service.wait(first["id"], "completed", "failed", timeout=120)
    second = smollm2_service.submit(
        "chat", {"input": "What is my name?", "chat_id": "real-chat", "options": {"max_tokens": 10, "temperature": 0}}
    )
    done = smollm2_service.wait(second["id"], "completed", "failed", timeout=120)

    assert first_done["status"] == "completed", first_done["error"]
    assert done["status"] == "completed", done["error"]
    assert done["result"]["messages"][1]["content"].strip()
    assert done["result"]["chat_meta"]["turns"] == 2
