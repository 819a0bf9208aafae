"""The step runner and its Lua scripts on a fakeredis job store: what a resumed
attempt gets back, what it refuses, what only the lease holder may write, and
how checkpoints end with the job."""

import json

import pytest

from longrun import keys
from longrun.artifacts import ArtifactStore
from longrun.errors import JobRequeued, LeaseLost, StepsChanged
from longrun.job import Job
from longrun.states import JobStatus
from longrun.steps import StepRunner, StepStore
from tests.support.jobs import claim, new_job
from tests.support.waiting import wait_until


class Progress:
    """Stands in for the worker's ProgressReporter: keeps the state a checkpoint carries."""

    interval = 0.0

    def __init__(self):
        self.state: dict = {}
        self.reports: list[dict] = []

    def report(self, *, force=False, **fields):
        self.state.update(fields)
        self.reports.append(dict(fields))

    def step(self, current_step, total_steps, step_name, message=None):
        self.report(current_step=current_step, total_steps=total_steps, step_name=step_name, message=message)

    def check_cancelled(self):
        pass

    def checkpointed(self, **fields):
        self.state.update(fields)
        return dict(self.state)


def attempt(store, job_id, token, *, artifacts=None, draining=lambda: False, output_max_bytes=64 * 1024) -> Job:
    """A new attempt of the job (its claim, a job context with a step runner)."""
    store.redis.delete(keys.lease(job_id))  # the earlier attempt's process is gone
    number = claim(store, job_id, token).attempts
    progress = Progress()
    runner = StepRunner(
        StepStore(store),
        job_id,
        token,
        number,
        progress,
        artifacts,
        draining=draining,
        output_max_bytes=output_max_bytes,
    )
    return Job(
        id=job_id, attempt=number, progress=progress, artifacts=artifacts, timeout_seconds=60, store=store, steps=runner
    )


class Calls:
    def __init__(self):
        self.made: list[str] = []

    def __call__(self, name, value):
        self.made.append(name)
        return value


def test_a_resumed_attempt_gets_finished_steps_back_without_running_them(fake_store):
    job_id = new_job(fake_store)
    calls = Calls()
    first = attempt(fake_store, job_id, "w:1:a")
    first.plan(["a", "b", "c"])
    assert first.step("a", calls, "a", {"n": 1}) == {"n": 1}
    assert first.step("b", calls, "b", (1, 2)) == [1, 2]  # as JSON gives it back, both times

    second = attempt(fake_store, job_id, "w:2:b")  # the first attempt died in step c
    second.plan(["a", "b", "c"])
    assert second.step("a", calls, "a", {"n": "other"}) == {"n": 1}
    assert second.step("b", calls, "b", None) == [1, 2]
    assert second.step("c", calls, "c", "done") == "done"
    second.steps.close()  # the task does it when the job's function returns

    assert calls.made == ["a", "b", "c"]
    doc = fake_store.get(job_id)
    assert [(s["name"], s["status"], s["attempt"]) for s in doc["steps"]] == [
        ("a", "completed", 1),
        ("b", "completed", 1),
        ("c", "completed", 2),
    ]
    resumed = [
        json.loads(e["progress"])["resumed"]
        for _, e in fake_store.redis.xrange(keys.events(job_id))
        if "resumed" in json.loads(e.get("progress") or "{}")
    ]
    assert resumed == [{"attempt": 2, "from_step": 3, "step_name": "c", "steps_done": 2}]


def test_a_job_whose_steps_changed_between_attempts_fails_clearly(fake_store):
    job_id = new_job(fake_store)
    first = attempt(fake_store, job_id, "w:1:a")
    first.step("parse", lambda: 1)

    second = attempt(fake_store, job_id, "w:2:b")
    with pytest.raises(StepsChanged) as raised:
        second.step("download", lambda: 2)
    assert raised.value.details == {"position": 1, "before": "parse", "now": "download"}
    # A plan that contradicts the stored steps is refused before anything runs.
    third = attempt(fake_store, job_id, "w:3:c")
    with pytest.raises(StepsChanged):
        third.plan(["download", "parse"])


def test_only_the_attempt_holding_the_lease_writes_a_checkpoint(fake_store):
    job_id = new_job(fake_store)
    stale = attempt(fake_store, job_id, "w:1:a")
    fake_store.redis.set(keys.lease(job_id), "w:2:b")  # another attempt took the job over

    with pytest.raises(LeaseLost):
        stale.step("a", lambda: 1)
    assert not fake_store.redis.hexists(keys.step_outputs(job_id), "1")


def test_a_large_output_is_kept_as_a_hidden_file_of_the_job(fake_store, tmp_path):
    artifacts = ArtifactStore(tmp_path)
    job_id = new_job(fake_store)
    big = {"text": "x" * 5000}
    first = attempt(fake_store, job_id, "w:1:a", artifacts=artifacts, output_max_bytes=1000)
    assert first.step("big", lambda: big) == big

    stored = json.loads(fake_store.redis.hget(keys.step_outputs(job_id), "1"))
    assert stored == {"file": "1.json"}
    assert artifacts.names(job_id) == []  # not one of the job's files
    second = attempt(fake_store, job_id, "w:2:b", artifacts=artifacts, output_max_bytes=1000)
    assert second.step("big", lambda: {"text": "recomputed"}) == big


def test_a_worker_shutting_down_requeues_at_the_step_boundary_without_charging_the_attempt(fake_store):
    job_id = new_job(fake_store)
    stopping = {"now": False}
    job = attempt(fake_store, job_id, "w:1:a", draining=lambda: stopping["now"])
    job.step("a", lambda: 1)
    stopping["now"] = True

    with pytest.raises(JobRequeued):
        job.step("b", lambda: 2)
    back = StepStore(fake_store).requeue(job_id, "w:1:a")

    assert back == {"kind": "sleep", "priority": 0, "timeout": 60}
    doc = fake_store.get(job_id)
    assert (doc["status"], doc["attempts"], doc["requeues"]) == ("pending", 0, 1)
    assert not fake_store.redis.exists(keys.lease(job_id))
    # The requeued job's next claim is attempt 1 again, and it resumes at step b.
    resumed = attempt(fake_store, job_id, "w:2:b")
    assert resumed.attempt == 1
    assert resumed.step("a", lambda: "again") == 1


def test_partial_state_of_a_running_step_is_handed_to_the_next_attempt(fake_store):
    job_id = new_job(fake_store)
    first = attempt(fake_store, job_id, "w:1:a")

    def stream(job):
        assert job.partial() is None
        job.save_partial({"text": "Hello, "}, output="Hello, ")
        raise KeyboardInterrupt  # the process dies mid-step

    with pytest.raises(KeyboardInterrupt):
        first.step("generate", stream, first)
    assert fake_store.get(job_id)["progress"]["output"] == "Hello, "  # saved with its progress event

    second = attempt(fake_store, job_id, "w:2:b")
    assert second.step("generate", lambda job: job.partial()["text"] + "world", second) == "Hello, world"
    assert not fake_store.redis.hexists(keys.step_outputs(job_id), "1:partial")


def test_checkpoints_end_with_the_job(fake_store):
    job_id = new_job(fake_store)
    job = attempt(fake_store, job_id, "w:1:a")
    job.step("a", lambda: 1)
    fake_store.transition(job_id, JobStatus.COMPLETED)

    assert not fake_store.redis.exists(keys.step_outputs(job_id))  # only a resume needed them
    assert 0 < fake_store.redis.ttl(keys.steps(job_id)) <= fake_store.settings.retention_seconds
    fake_store.delete(job_id)
    assert not fake_store.redis.exists(keys.steps(job_id))


def test_the_idempotency_key_names_the_job_and_the_step(fake_store):
    job_id = new_job(fake_store)
    job = attempt(fake_store, job_id, "w:1:a")

    seen = job.step("charge", lambda: job.idempotency_key())

    assert seen == f"longrun:{job_id}:charge" == job.idempotency_key("charge")
    assert job.idempotency_key("mail") != seen
    again = attempt(fake_store, job_id, "w:2:b")
    assert again.step("charge", lambda: "not run") == seen


def test_quick_steps_are_written_together_at_most_an_interval_apart(fake_store):
    job_id = new_job(fake_store)
    job = attempt(fake_store, job_id, "w:1:a")
    job.progress.interval = 0.2
    writes = []
    store = job.steps.store
    original = store.write
    store.write = lambda *a, **kw: writes.append(kw) or original(*a, **kw)

    for n in range(1, 6):
        job.step(f"s{n}", lambda n=n: n)
    assert len(writes) == 1 and not writes[0]["outputs"]  # the first start; the rest waits for the interval
    wait_until(lambda: len(writes) == 2, timeout=5, message="the timer to write the held steps")
    assert sorted(writes[1]["outputs"]) == ["1", "2", "3", "4", "5"]
    assert writes[1]["progress"]["current_step"] == 5  # one event for them, the latest state

    again = attempt(fake_store, job_id, "w:2:b")
    assert [again.step(f"s{n}", lambda: "rerun") for n in range(1, 6)] == [1, 2, 3, 4, 5]
