"""Every pool keeps every guarantee: on prefork, threads and solo workers (real
worker processes) a job past its timeout ends failed with error type Timeout,
and a cancelled job ends cancelled. On the threads pool a job that ignores both
is abandoned: marked final, its slot freed for the next job, and its late
result refused."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

from longrun import keys

pytestmark = pytest.mark.integration

POOLS = ["prefork", "threads", "solo"]
ROOT = Path(__file__).resolve().parents[2]


def poll(predicate, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(0.1)
    return value


@pytest.fixture
def stack(redis_factory, settings_for, client_for):
    """A Redis of our own, an app on it, and a way to start workers of any pool on it."""
    server = redis_factory()
    settings = settings_for(server.url)
    procs: list[subprocess.Popen] = []
    logs: list[Path] = []

    class Stack:
        client = client_for(settings)
        redis = redis.Redis.from_url(server.url, decode_responses=True)

        def worker(self, pool: str, app: str = "workers.celery_app", queues: str = "") -> subprocess.Popen:
            hostname = f"pools-{pool}-{uuid.uuid4().hex[:6]}@test"
            env = {
                **os.environ,
                "REDIS_URL": server.url,
                "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            }
            args = [
                sys.executable,
                "-m",
                "celery",
                "-A",
                app,
                "worker",
                "-n",
                hostname,
                "-P",
                pool,
                "-c",
                "2",
                "-l",
                "info",
                "--without-gossip",
                "--without-mingle",
                *(["-Q", queues] if queues else []),
            ]
            logs.append(Path(server.directory) / f"{hostname}.log")
            with open(logs[-1], "ab") as log:  # the child keeps its own copy
                proc = subprocess.Popen(
                    args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            procs.append(proc)
            r = redis.Redis.from_url(server.url, decode_responses=True)
            poll(lambda: r.zscore(keys.WORKERS, hostname) is not None or proc.poll() is not None, 60, hostname)
            assert proc.poll() is None, (Path(server.directory) / f"{hostname}.log").read_text()[-3000:]
            return proc

        def submit(self, **body) -> str:
            response = self.client.post("/api/v1/jobs", json=body)
            assert response.status_code == 202, response.get_json()
            return response.get_json()["id"]

        def doc(self, job_id: str) -> dict:
            return self.client.get(f"/api/v1/jobs/{job_id}").get_json()

        def wait(self, job_id: str, *statuses: str, timeout: float = 30) -> dict:
            try:
                return poll(
                    lambda: (d := self.doc(job_id))["status"] in statuses and d,
                    timeout,
                    f"job {job_id} to be {statuses}",
                )
            except AssertionError as exc:
                tail = "".join(p.read_text(errors="replace")[-3000:] for p in logs)
                raise AssertionError(f"{exc}; {self.doc(job_id)}; worker logs:\n{tail}") from None

        def submit_stubborn(self, seconds: float, timeout: int) -> str:
            from longrun.jobstore import JobStore
            from workers.celery_app import make_celery
            from workers.publish import publish_job

            store = JobStore.from_settings(settings)
            job_id, _, _ = store.create(
                tenant="default", kind="stubborn", input={"seconds": seconds}, timeout_seconds=timeout
            )
            publish_job(make_celery(settings), settings, job_id, "stubborn", 0, timeout)
            return job_id

    yield Stack()
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


@pytest.mark.parametrize("pool", POOLS)
def test_a_job_past_its_timeout_fails_with_timeout(stack, pool):
    stack.worker(pool)
    job_id = stack.submit(kind="sleep", input={"seconds": 20, "steps": 1}, timeout_seconds=2)

    done = stack.wait(job_id, "completed", "failed", "cancelled", timeout=20)

    assert done["status"] == "failed"
    assert done["error"]["type"] == "Timeout"
    assert done["result"] is None


@pytest.mark.parametrize("pool", POOLS)
def test_a_cancelled_job_ends_cancelled(stack, pool):
    stack.worker(pool)
    job_id = stack.submit(kind="sleep", input={"seconds": 60, "steps": 60})
    stack.wait(job_id, "running")

    assert stack.client.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 202

    done = stack.wait(job_id, "completed", "failed", "cancelled", timeout=15)
    assert done["status"] == "cancelled"


@pytest.mark.parametrize("pool", ["threads", "solo"])
def test_a_job_that_ignores_its_timeout_is_abandoned_and_its_late_result_refused(stack, pool):
    stack.worker(pool, app="tests.worker.stubborn_worker", queues="longrun.stubborn,longrun.sleep")
    # Timeout 2 s, grace 5 s (job_grace_seconds): abandoned at about 7 s, it sleeps on until 12 s.
    submitted = time.monotonic()
    job_id = stack.submit_stubborn(seconds=12, timeout=2)

    done = stack.wait(job_id, "completed", "failed", "cancelled", timeout=11)
    assert done["status"] == "failed" and done["error"]["type"] == "Timeout"
    # Its slot is free (solo has one; threads -c 2 has one more anyway): the next job runs meanwhile.
    other = stack.submit(kind="sleep", input={"seconds": 0})
    stack.wait(other, "completed", timeout=4)

    time.sleep(max(0.0, submitted + 13.5 - time.monotonic()))  # past the end of its sleep
    after = stack.doc(job_id)
    assert after["status"] == "failed" and after["error"]["type"] == "Timeout"
    assert after["result"] is None


@pytest.mark.parametrize("pool", ["threads", "solo"])
def test_a_job_that_ignores_its_cancel_is_abandoned_as_cancelled(stack, pool):
    stack.worker(pool, app="tests.worker.stubborn_worker", queues="longrun.stubborn,longrun.sleep")
    job_id = stack.submit_stubborn(seconds=12, timeout=60)
    stack.wait(job_id, "running")

    assert stack.client.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 202

    # Seen at the next heartbeat, abandoned after the cancel grace (2 s in tests).
    done = stack.wait(job_id, "completed", "failed", "cancelled", timeout=8)
    assert done["status"] == "cancelled"
    other = stack.submit(kind="sleep", input={"seconds": 0})
    stack.wait(other, "completed", timeout=4)


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_concurrent_jobs_of_one_process_each_keep_their_lease_and_their_own_log(stack, pool):
    stack.worker(pool)  # -c 2: two jobs at once (one process on threads, two on prefork)
    first = stack.submit(kind="sleep", input={"seconds": 4, "steps": 2, "log_lines": 2})
    second = stack.submit(kind="sleep", input={"seconds": 4, "steps": 2, "log_lines": 5})
    stack.wait(first, "running")
    stack.wait(second, "running")
    r = stack.redis
    deadlines = {job: r.zscore(keys.RUNNING, job) for job in (first, second)}
    time.sleep(1.5)  # several heartbeats (0.3 s in tests)

    for job in (first, second):  # the watchdog renews every job of its process, not only the last one
        assert r.zscore(keys.RUNNING, job) > deadlines[job]
        assert r.get(keys.lease(job))
    stack.wait(first, "completed")
    stack.wait(second, "completed")
    logs = {job: stack.client.get(f"/api/v1/jobs/{job}/logs").get_json()["lines"] for job in (first, second)}
    # Per step: its "step i of 2" line plus log_lines more; none of the other job's.
    lines = {job: [x["message"] for x in logs[job] if x["logger"] == "longrun.job"] for job in logs}
    assert lines[first] == [f"step {i} {what}" for i in (1, 2) for what in ("of 2: sleeping 2s", "line 1", "line 2")]
    assert lines[second] == [
        f"step {i} {what}" for i in (1, 2) for what in ("of 2: sleeping 2s", *(f"line {n}" for n in range(1, 6)))
    ]
