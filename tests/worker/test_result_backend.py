"""How a task's exception becomes the job document's error."""

import pytest

from longrun import keys
from workers.result_backend import describe_error


def test_timeouts_become_type_timeout():
    encoded = {"exc_type": "TimeLimitExceeded", "exc_message": [12.0], "exc_module": "billiard.exceptions"}

    assert describe_error(encoded)["type"] == "Timeout"


@pytest.mark.parametrize(
    "encoded,error",
    [
        pytest.param(
            {"exc_type": "WorkerLostError", "exc_message": [], "exc_module": "billiard.exceptions"},
            {"type": "WorkerLost", "message": "the worker running the job died"},
            id="worker_lost_is_named",
        ),
        pytest.param(
            {"exc_type": "ValueError", "exc_message": ["bad value"], "exc_module": "builtins"},
            {"type": "ValueError", "message": "bad value"},
            id="other_exceptions_keep_type_and_message",
        ),
    ],
)
def test_an_exception_becomes_its_error(encoded, error):
    assert describe_error(encoded) == error


def subscribe_calls(redis_client) -> int:
    return redis_client.info("commandstats").get("cmdstat_subscribe", {}).get("calls", 0)


def test_submitting_a_job_does_not_subscribe_the_api_to_its_result_channel(client, redis_client):
    before = subscribe_calls(redis_client)

    response = client.post("/api/v1/jobs", json={"kind": "sleep", "input": {"seconds": 0}})

    assert response.status_code == 202
    assert subscribe_calls(redis_client) == before


def test_the_final_state_carries_progress_the_reporter_still_held_back(app):
    from celery.app.task import Context

    from longrun.jobstore import worker_lost
    from workers.celery_app import app as celery_app

    store = app.extensions["longrun"].store
    job_id, _, _ = store.create(tenant="t-backend", kind="sleep", input={}, timeout_seconds=30)
    assert store.claim(job_id, "test:1", lost_error=worker_lost(3)[0], lost_meta=worker_lost(3)[1]).verdict == "run"
    held_back = {"percentage": 99.0, "current_step": 100, "total_steps": 100, "step_name": None, "message": "last"}

    celery_app.backend.store_result(
        job_id, {"done": True}, "SUCCESS", request=Context(task=keys.task_name("sleep"), longrun_progress=held_back)
    )

    job = store.get(job_id)
    assert job["status"] == "completed"
    assert job["result"] == {"done": True}
    assert job["progress"]["current_step"] == 100
    assert job["progress"]["message"] == "last"
