"""Redis crashes, hangs or goes away.

- A job accepted (202) survives ``kill -9`` of Redis when Redis keeps an
  append-only file (``appendonly yes``): after a restart on the same data
  directory it still runs and completes.
- While Redis is down or hung, the API answers ``503`` with ``Retry-After``
  within a bounded time and leaves no record behind; when Redis returns,
  workers and API recover by themselves and new jobs run.

One Redis with an append-only file (``appendfsync always``) on a fixed port,
one worker and one app serve the whole module.
"""

import signal
import time
import uuid

import pytest

from longrun import keys
from tests.support.jobs import events
from tests.support.ports import free_port
from tests.support.processes import WorkerProcess, subprocess_env
from tests.support.redis_server import RedisServer
from tests.support.session import SESSION_DIR
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

# How long a request may take while Redis is unreachable: one socket timeout
# (LONGRUN_REDIS_TIMEOUT_SECONDS, 2 s) and change.
BOUND_SECONDS = 5


class Stack:
    def __init__(self, settings_for, api_headers):
        from api import create_app

        self.redis = RedisServer(SESSION_DIR / f"redis-aof-{uuid.uuid4().hex[:6]}", appendonly=True).start()
        self.worker = WorkerProcess("aof", subprocess_env(REDIS_URL=self.redis.url), concurrency=1, log_dir=SESSION_DIR)
        self.worker.start(self.redis.url)
        self.app = create_app({"TESTING": True, "LONGRUN_SETTINGS": settings_for(self.redis.url)})
        self.client = self.app.test_client()
        self.client.environ_base["HTTP_AUTHORIZATION"] = api_headers["Authorization"]
        self.db = self.app.extensions["longrun"].store.redis

    def ensure_up(self):
        if self.redis.process.poll() is not None:
            self.redis.start()

    def crash(self):
        self.redis.kill(signal.SIGKILL)

    def submit(self, **job_input):
        return self.client.post("/api/v1/jobs", json={"kind": "sleep", "input": job_input})

    def status(self, job_id):
        response = self.client.get(f"/api/v1/jobs/{job_id}")
        return response.get_json()["status"] if response.status_code == 200 else None

    def wait_for(self, job_id, status, timeout=60):
        wait_until(
            lambda: self.status(job_id) == status, timeout=timeout, interval=0.2, message=f"job {job_id} to be {status}"
        )
        return self.client.get(f"/api/v1/jobs/{job_id}").get_json()

    def close(self):
        self.worker.stop(timeout=10)
        self.worker.kill_group()
        self.redis.kill()


@pytest.fixture(scope="module")
def module_settings_for():
    import os

    from longrun.settings import from_env

    return lambda url, **overrides: from_env({**os.environ, "REDIS_URL": url}, **overrides)


@pytest.fixture(scope="module")
def aof(module_settings_for, api_headers):
    stack = Stack(module_settings_for, api_headers)
    yield stack
    stack.close()


@pytest.fixture
def stack(aof):
    aof.ensure_up()
    yield aof
    aof.ensure_up()


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def assert_unavailable(response, elapsed):
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "service_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert elapsed < BOUND_SECONDS


def test_accepted_jobs_survive_kill_9_of_redis_and_complete_after_restart(stack):
    running = stack.submit(seconds=3, steps=3)
    queued = stack.submit(seconds=0.5)  # one pool process: waits in the queue
    assert (running.status_code, queued.status_code) == (202, 202)
    running, queued = running.get_json()["id"], queued.get_json()["id"]
    wait_until(lambda: stack.db.get(keys.lease(running)), timeout=30, message="the first job to start")

    stack.crash()
    stack.redis.start()  # same port, same data directory: Redis replays its append-only file

    for job_id in (running, queued):
        done = stack.wait_for(job_id, "completed")
        assert [e["status"] for e in events(stack.db, job_id)].count("completed") == 1
    assert done["result"] == {"slept": 0.5, "steps": 1}


def test_redis_down_or_hung_answers_503_with_retry_after_in_bounded_time(stack):
    known = stack.submit(seconds=0).get_json()["id"]

    for fault in ("hung", "down"):
        if fault == "hung":
            stack.redis.process.send_signal(signal.SIGSTOP)  # accepts connections, never answers
        else:
            stack.redis.process.send_signal(signal.SIGCONT)
            stack.crash()
        try:
            assert_unavailable(*timed(lambda: stack.submit(seconds=0)))
            assert_unavailable(*timed(lambda: stack.client.get(f"/api/v1/jobs/{known}")))
            assert_unavailable(*timed(lambda: stack.client.get("/api/v1/jobs")))
        finally:
            stack.redis.process.send_signal(signal.SIGCONT)


def tenant_indexes(db) -> dict[str, int]:
    """Every tenant's job index and per-status indexes, with their sizes."""
    patterns = (keys.tenant_index("*"), keys.tenant_index("*", "*"))
    return {key: db.zcard(key) for pattern in patterns for key in db.scan_iter(match=pattern)}


def test_failed_publish_leaves_no_orphaned_record(stack, module_settings_for, api_headers):
    from api import create_app

    # Job index reachable, broker not: the record is written, then the publish fails.
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"
    settings = module_settings_for(stack.redis.url, broker_url=dead_broker)
    client = create_app({"TESTING": True, "LONGRUN_SETTINGS": settings}).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = api_headers["Authorization"]
    jobs_before = set(stack.db.scan_iter(match=keys.job("*")))
    indexed_before = tenant_indexes(stack.db)

    response, elapsed = timed(
        lambda: client.post(
            "/api/v1/jobs", headers={"Idempotency-Key": "orphan-check"}, json={"kind": "sleep", "input": {"seconds": 0}}
        )
    )

    assert_unavailable(response, elapsed)
    assert set(stack.db.scan_iter(match=keys.job("*"))) == jobs_before
    assert tenant_indexes(stack.db) == indexed_before
    assert not list(stack.db.scan_iter(match=keys.idempotency("*", "orphan-check")))


def test_workers_and_api_recover_by_themselves_when_redis_returns(stack):
    stack.crash()
    assert stack.submit(seconds=0).status_code == 503

    stack.redis.start()

    # Nothing restarted but Redis: the same app and worker processes carry on.
    response = stack.submit(seconds=0.2)
    assert response.status_code == 202
    done = stack.wait_for(response.get_json()["id"], "completed")
    assert done["attempts"] == 1
    assert stack.worker.process.poll() is None
