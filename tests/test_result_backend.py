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
