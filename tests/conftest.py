"""Shared fixtures.

The session runs against a private ``redis-server`` on a free port (never the
machine's 6379), started in ``pytest_configure`` so that every Longrun module
reads its URL from the environment when first imported. Real Celery workers
and gunicorn run as subprocesses that the fixtures start and end by pid.
The helpers behind the fixtures are in ``tests/support/``.
"""

import os
import shutil
import uuid

import pytest

from tests.support.processes import LiveServer, WorkerProcess, subprocess_env
from tests.support.redis_server import MISSING, RedisServer, redis_server_binary
from tests.support.session import SESSION_DIR, TEST_API_KEY, TEST_ENV
from tests.support.waiting import wait_until

# Each area keeps its fixtures in tests/plugins/<area>.py and lists it here.
pytest_plugins: list[str] = [
    "tests.plugins.llm",
    "tests.plugins.browser",
    "tests.plugins.live",
    "tests.plugins.security",
    "tests.plugins.codegen",
    "tests.plugins.compat",
    "tests.plugins.client",
    "tests.plugins.faults",
    "tests.plugins.flow",
]

SESSION_REDIS: RedisServer | None = None


def pytest_configure(config):
    global SESSION_REDIS
    if shutil.which(redis_server_binary()) is None:
        pytest.exit(MISSING, returncode=2)
    SESSION_REDIS = RedisServer(SESSION_DIR / "redis").start()
    os.environ["REDIS_URL"] = SESSION_REDIS.url
    os.environ.update(TEST_ENV)


def pytest_unconfigure(config):
    if SESSION_REDIS:
        SESSION_REDIS.stop()
    shutil.rmtree(SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return SESSION_REDIS.url


@pytest.fixture(scope="session")
def redis_client(redis_url):
    import redis

    return redis.Redis.from_url(redis_url, decode_responses=True)


@pytest.fixture(scope="session")
def worker(redis_url):
    """One real worker process for the session (two pool processes)."""
    proc = WorkerProcess("main", subprocess_env(), log_dir=SESSION_DIR).start(redis_url)
    yield proc
    proc.stop()


@pytest.fixture
def start_worker(redis_url):
    """Factory: start extra workers (own env overrides allowed); all stopped after the test."""
    started: list[WorkerProcess] = []

    def start(name="extra", concurrency=1, redis=None, extra_args=(), **env) -> WorkerProcess:
        url = redis or redis_url
        proc = WorkerProcess(name, subprocess_env(REDIS_URL=url, **env), concurrency, extra_args, log_dir=SESSION_DIR)
        started.append(proc)
        return proc.start(url)

    yield start
    for proc in started:
        proc.stop(timeout=10)


@pytest.fixture
def redis_factory():
    """Factory: start extra redis-server processes (e.g. with an append-only file)."""
    servers: list[RedisServer] = []

    def start(**kwargs) -> RedisServer:
        server = RedisServer(SESSION_DIR / f"redis-{uuid.uuid4().hex[:6]}", **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill()


@pytest.fixture(scope="session")
def api_headers() -> dict:
    """Headers for any raw HTTP request to a live test server."""
    return {"Authorization": f"Bearer {TEST_API_KEY}"}


@pytest.fixture(scope="session")
def app():
    from api import create_app

    return create_app({"TESTING": True})


@pytest.fixture
def client(app, api_headers):
    """In-process client of the session app; sends the test API key."""
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = api_headers["Authorization"]
    return test_client


@pytest.fixture
def client_for(api_headers):
    """Factory: a test client (sending the test key) of an app with its own settings."""

    def make(settings):
        from api import create_app

        test_client = create_app({"TESTING": True, "LONGRUN_SETTINGS": settings}).test_client()
        test_client.environ_base["HTTP_AUTHORIZATION"] = api_headers["Authorization"]
        return test_client

    return make


@pytest.fixture
def settings_for():
    """Settings for another Redis, with overrides (for an app on that Redis)."""
    from longrun.settings import from_env

    def make(redis_url: str, **overrides):
        return from_env({**os.environ, "REDIS_URL": redis_url}, **overrides)

    return make


@pytest.fixture(scope="session")
def live_api(worker):
    """The API under gunicorn (2 workers) with the session worker behind it."""
    server = LiveServer(subprocess_env(), log_dir=SESSION_DIR).start()
    yield server
    server.stop()


@pytest.fixture
def start_api():
    """Factory: start extra gunicorn servers with their own env; stopped after the test."""
    servers: list[LiveServer] = []

    def start(**kwargs) -> LiveServer:
        env = subprocess_env(**kwargs.pop("env", {}))
        server = LiveServer(env, log_dir=SESSION_DIR, **kwargs)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def submit(client, worker):
    """Submit a job through the API and return its document (asserts 202)."""

    def do(kind="sleep", input=None, **body):
        response = client.post("/api/v1/jobs", json={"kind": kind, "input": input or {}, **body})
        assert response.status_code == 202, response.get_json()
        return response.get_json()

    return do


@pytest.fixture
def wait_for_status(client):
    """Poll GET /jobs/{id} until its status is one of ``statuses``; returns the document."""

    def wait(job_id, *statuses, timeout=30.0):
        def check():
            doc = client.get(f"/api/v1/jobs/{job_id}").get_json()
            return doc if doc.get("status") in statuses else None

        return wait_until(check, timeout=timeout, message=f"job {job_id} to be {statuses}")

    return wait
