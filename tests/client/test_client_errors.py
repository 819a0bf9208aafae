"""The client's error tree mirrors the API's one error body, chosen by status and code."""

import pytest

from longrun_client import errors


def body(code, message="m", details=None):
    return {"error": {"code": code, "message": message, "details": details or {}}}


@pytest.mark.parametrize(
    "status, code, cls",
    [
        (400, "invalid_input", errors.InvalidInput),
        (400, "unknown_kind", errors.InvalidInput),
        (401, "unauthorized", errors.Unauthorized),
        (403, "forbidden", errors.Unauthorized),
        (404, "not_found", errors.NotFound),
        (410, "expired", errors.Expired),
        (409, "already_finished", errors.Conflict),
        (409, "idempotency_conflict", errors.Conflict),
        (409, "not_finished", errors.JobNotFinished),
        (429, "rate_limited", errors.RateLimited),
        (503, "service_unavailable", errors.Unavailable),
        (500, "internal_error", errors.ServerError),
        (502, "error", errors.ServerError),
        (418, "teapot", errors.LongrunClientError),
    ],
)
def test_status_and_code_choose_the_class(status, code, cls):
    error = errors.from_response(status, body(code, "why", {"field": ["bad"]}))
    assert type(error) is cls
    assert (error.status, error.code, error.message, error.details) == (status, code, "why", {"field": ["bad"]})
    assert isinstance(error, errors.LongrunClientError)


def test_no_result_is_job_failed_or_cancelled_by_the_status_in_details():
    failed = errors.from_response(
        409, body("no_result", details={"status": "failed", "error": {"type": "Boom", "message": "x"}})
    )
    cancelled = errors.from_response(409, body("no_result", details={"status": "cancelled"}))
    assert type(failed) is errors.JobFailed and failed.error == {"type": "Boom", "message": "x"}
    assert type(cancelled) is errors.JobCancelled
    assert isinstance(failed, errors.Conflict)


def test_unavailable_carries_retry_after_seconds():
    error = errors.from_response(503, body("service_unavailable"), {"Retry-After": "7"})
    assert error.retry_after == 7.0
    assert errors.from_response(429, body("rate_limited"), {}).retry_after is None
    assert errors.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None


def test_a_body_that_is_not_the_api_shape_still_gives_a_message():
    error = errors.from_response(502, "<html>Bad Gateway</html>")
    assert type(error) is errors.ServerError and "Bad Gateway" in error.message
    assert errors.from_response(404, None).message == "HTTP 404"


def test_every_error_class_says_when_it_is_raised():
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, Exception)]
    assert len(classes) >= 10
    for cls in classes:
        assert cls.__doc__ and cls.__doc__.startswith("Raised when"), cls
