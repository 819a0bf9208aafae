"""Durable steps: an 8-step ``sleep`` job that loses its process, its whole
worker or its Redis during step 4 resumes at step 4, not at step 1; a worker
asked to stop (SIGTERM) hands its job back at a step boundary instead of
waiting for it.

Each test has a Redis of its own (so that no other worker takes the job) and
real worker processes, killed by pid. Steps last STEP seconds: a resumed job
takes about the remaining steps after the fault, not all eight.
"""

import json
import os
import signal
import time

import pytest

from longrun import keys
from tests.support.jobs import events, job_process, runs
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

STEPS = 8
STEP = 1.0


class Stack:
    def __init__(self, server, app, start_worker):
        self.redis = server
        self.client = app.test_client()
        self.db = app.extensions["longrun"].store.redis
        self._start_worker = start_worker

    def start_worker(self, name, **env):
        return self._start_worker(name, redis=self.redis.url, **env)

    def submit(self, **job_input):
        response = self.client.post("/api/v1/jobs", json={"kind": "sleep", "input": job_input})
        assert response.status_code == 202, response.get_json()
        return response.get_json()["id"]

    def job(self, job_id):
        return self.client.get(f"/api/v1/jobs/{job_id}").get_json()

    def wait_for(self, job_id, status, timeout=60):
        return wait_until(
            lambda: (doc := self.job(job_id)).get("status") == status and doc,
            timeout=timeout,
            interval=0.1,
            message=f"job {job_id} to be {status}",
        )

    def wait_for_step(self, job_id, position, status="running", timeout=60):
        def reached():
            entry = self.db.hget(keys.steps(job_id), str(position))
            return entry is not None and json.loads(entry)["status"] == status

        wait_until(reached, timeout=timeout, interval=0.02, message=f"step {position} of {job_id} to be {status}")


def make_stack(redis_factory, start_worker, settings_for, api_headers, **redis_options):
    from api import create_app

    server = redis_factory(**redis_options)
    app = create_app({"TESTING": True, "LONGRUN_SETTINGS": settings_for(server.url)})
    stack = Stack(server, app, start_worker)
    stack.client.environ_base["HTTP_AUTHORIZATION"] = api_headers["Authorization"]
    return stack


@pytest.fixture
def stack(redis_factory, start_worker, settings_for, api_headers):
    return make_stack(redis_factory, start_worker, settings_for, api_headers)


def assert_resumed_at_step_4(done, db, job_id, *, attempts=2):
    assert done["status"] == "completed", done["error"]
    assert done["attempts"] == attempts
    assert done["result"] == {"slept": STEPS * STEP, "steps": STEPS}
    steps = done["steps"]
    assert [s["name"] for s in steps] == [f"step {n}" for n in range(1, STEPS + 1)]
    assert {s["status"] for s in steps} == {"completed"}
    assert [s["attempt"] for s in steps[:3]] == [1, 1, 1]
    assert [s["attempt"] for s in steps[3:]] == [attempts] * (STEPS - 3)
    # The events say that attempt 2 resumed, and where.
    resumed = [
        json.loads(e["progress"])["resumed"]
        for e in events(db, job_id)
        if e.get("progress") and "resumed" in json.loads(e["progress"])
    ]
    assert resumed == [{"attempt": attempts, "from_step": 4, "step_name": "step 4", "steps_done": 3}]
    # Steps 1-3 ran once: their finish times come before the restart of step 4.
    restarted = steps[3]["started_at"]
    assert all(s["finished_at"] < restarted for s in steps[:3])


def test_sigkill_of_the_pool_process_in_step_4_resumes_at_step_4(stack):
    worker = stack.start_worker("steps-kill")
    job_id = stack.submit(seconds=STEPS * STEP, steps=STEPS)
    stack.wait_for_step(job_id, 4)
    pid = job_process(stack.db, worker, job_id, attempt=1)

    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()

    done = stack.wait_for(job_id, "completed")
    after_kill = time.monotonic() - killed
    assert_resumed_at_step_4(done, stack.db, job_id)
    assert runs(stack.db, job_id) == 1  # step 1 started once
    # Steps 4-8 again (5 s), not all eight (8 s) plus the restart.
    assert after_kill < STEPS * STEP, after_kill


def test_a_worker_lost_with_its_process_group_resumes_at_step_4_on_another(stack):
    first, second = stack.start_worker("steps-a"), stack.start_worker("steps-b")
    job_id = stack.submit(seconds=STEPS * STEP, steps=STEPS)
    token = wait_until(lambda: stack.db.get(keys.lease(job_id)), message="the job to start")
    if not token.startswith(first.hostname + ":"):
        first, second = second, first
    stack.wait_for_step(job_id, 4)

    first.kill_group()  # host lost: nobody acks, nobody reports; the survivor's reaper re-queues
    killed = time.monotonic()

    done = stack.wait_for(job_id, "completed")
    after_kill = time.monotonic() - killed
    assert_resumed_at_step_4(done, stack.db, job_id)
    assert f"jobs.sleep[{job_id}] succeeded" in second.log()
    # The reaper waits out the lease (4 s) and a janitor tick (5 s); then steps 4-8 (5 s), not 8 s of steps.
    assert after_kill < 4 + 5 + STEPS * STEP, after_kill


def test_kill_9_of_redis_and_worker_keeps_the_checkpoints_in_the_append_only_file(
    redis_factory, start_worker, settings_for, api_headers
):
    stack = make_stack(redis_factory, start_worker, settings_for, api_headers, appendonly=True)
    first = stack.start_worker("steps-aof-a")
    job_id = stack.submit(seconds=STEPS * STEP, steps=STEPS)
    stack.wait_for_step(job_id, 4)

    # The machine goes down: Redis and the worker together, no shutdown for either.
    stack.redis.kill(signal.SIGKILL)
    first.kill_group()
    stack.redis.start()  # same port and data directory: Redis replays its append-only file
    assert json.loads(stack.db.hget(keys.steps(job_id), "3"))["status"] == "completed"
    stack.start_worker("steps-aof-b")

    done = stack.wait_for(job_id, "completed", timeout=90)
    assert_resumed_at_step_4(done, stack.db, job_id)


def test_sigterm_hands_the_job_back_at_a_step_boundary_and_another_worker_finishes_it(stack):
    step = 2.0
    grace = 10  # the stop must take less than this (compose's stop_grace_period is 2 m)
    first = stack.start_worker("steps-warm-a")
    job_id = stack.submit(seconds=STEPS * step, steps=STEPS)
    stack.wait_for_step(job_id, 3)
    job_process(stack.db, first, job_id, attempt=1)

    first.process.send_signal(signal.SIGTERM)  # warm shutdown
    stopping = time.monotonic()
    assert first.process.wait(grace) == 0
    stop_took = time.monotonic() - stopping

    # The rest of step 3 and Celery's own shutdown, not the 5 steps (10 s) the job had left.
    assert stop_took < (STEPS - 3) * step, stop_took
    parked = stack.job(job_id)
    assert parked["status"] == "pending", first.log()[-4000:]
    assert (parked["attempts"], parked["requeues"]) == (0, 1)  # not a failed attempt
    assert [s["status"] for s in parked["steps"][:3]] == ["completed"] * 3
    assert f"job {job_id} re-queued" in first.log()

    second = stack.start_worker("steps-warm-b")
    done = stack.wait_for(job_id, "completed")
    assert done["attempts"] == 1 and done["requeues"] == 1
    assert [s["status"] for s in done["steps"]] == ["completed"] * STEPS
    assert f"jobs.sleep[{job_id}] succeeded" in second.log()
    resumed = [
        json.loads(e["progress"])["resumed"]
        for e in events(stack.db, job_id)
        if e.get("progress") and "resumed" in json.loads(e["progress"])
    ]
    assert resumed == [{"attempt": 1, "from_step": 4, "step_name": "step 4", "steps_done": 3}]
    assert runs(stack.db, job_id) == 1  # step 1 started once
