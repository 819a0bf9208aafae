"""The session's fake OpenAI-compatible server (tests/support/fake_llm.py), an
isolated service per test, and the real local model.

One fake server runs for the whole session, started in ``pytest_configure`` so
that ``LLM_BASE_URL`` (and short LLM timeouts) are in the environment before
any worker process starts: the session ``worker`` talks to it. The
``openai_server`` fixture hands it to a test with an empty script and no
recorded requests.
"""

import os

import pytest

from tests.support.fake_llm import LLM_TEST_ENV, FakeOpenAIServer
from tests.support.isolated import IsolatedService
from tests.support.ports import free_port
from tests.support.session import SESSION_DIR

_SESSION_SERVER: FakeOpenAIServer | None = None


def pytest_configure(config):
    global _SESSION_SERVER
    _SESSION_SERVER = FakeOpenAIServer().start()
    os.environ["LLM_BASE_URL"] = _SESSION_SERVER.url
    os.environ.update(LLM_TEST_ENV)


def pytest_unconfigure(config):
    if _SESSION_SERVER is not None:
        _SESSION_SERVER.stop()


@pytest.fixture
def openai_server() -> FakeOpenAIServer:
    """The session's fake OpenAI-compatible server, with an empty script; reset after the test too."""
    _SESSION_SERVER.reset()
    yield _SESSION_SERVER
    _SESSION_SERVER.reset()


@pytest.fixture
def isolated_service():
    """Factory: ``isolated_service(name, **worker_env)``; everything stopped after the test."""
    started: list[IsolatedService] = []

    def start(name: str = "isolated", **worker_env) -> IsolatedService:
        service = IsolatedService(name, **worker_env)
        started.append(service)
        return service.start()

    yield start
    for service in started:
        service.stop()


@pytest.fixture(scope="session")
def smollm2_server():
    """The real local model (SmolLM2-135M-Instruct on llama.cpp, one thread) on a free loopback port.

    Skipped when it is not installed, except where LONGRUN_REQUIRE_LOCAL_MODEL=1
    (scripts/test, and so CI): there a missing model fails the tests.
    """
    from backends import local_model

    if not local_model.available():
        message = "the local model is not installed (scripts/install-local-model)"
        if os.environ.get("LONGRUN_REQUIRE_LOCAL_MODEL") == "1":
            pytest.fail(message)
        pytest.skip(message)
    server = local_model.LocalModelServer(free_port(), log_path=SESSION_DIR / "smollm2-server.log").start()
    yield server
    server.stop()
