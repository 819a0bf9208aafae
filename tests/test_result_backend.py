"""How a task's exception becomes the job document's error."""

from workers.result_backend import describe_error


def test_timeouts_become_type_timeout():
    encoded = {"exc_type": "TimeLimitExceeded", "exc_message": [12.0], "exc_module": "billiard.exceptions"}

    assert describe_error(encoded)["type"] == "Timeout"


def test_worker_lost_is_named():
    encoded = {"exc_type": "WorkerLostError", "exc_message": [], "exc_module": "billiard.exceptions"}

    assert describe_error(encoded) == {"type": "WorkerLost", "message": "the worker running the job died"}


def test_other_exceptions_keep_type_and_message():
    encoded = {"exc_type": "ValueError", "exc_message": ["bad value"], "exc_module": "builtins"}

    assert describe_error(encoded) == {"type": "ValueError", "message": "bad value"}



def subscribe_calls(redis_client) -> int:
    return redis_client.info("commandstats").get("cmdstat_subscribe", {}).get("calls", 0)


def test_submitting_a_job_does_not_subscribe_the_api_to_its_result_channel(client, redis_client):
    before = subscribe_calls(redis_client)

    response = client.post("/api/v1/jobs", json={"kind": "sleep", "input": {"seconds": 0}})

    assert response.status_code == 202
    assert subscribe_calls(redis_client) == before
