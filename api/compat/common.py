"""What every seed adapter shares: ids, status words, times, and error envelopes."""

import logging
import re
import uuid
from datetime import UTC, datetime

from flask import jsonify, request
from kombu.exceptions import OperationalError
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from api import service
from api.auth import current_tenant
from api.extensions import services
from longrun.errors import REDIS_UNREACHABLE, InvalidInput, JobNotFound, LongrunError, ServiceUnavailable

log = logging.getLogger(__name__)

SEED_ID = re.compile(r"^(?:task_)?([0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12})$")

# Seeds without a "cancelled" word end their clients' polling loops on
# "completed" or "failed"; a cancelled job is reported failed (error says why).
# A scheduled (delayed) job is, to a seed's client, one that has not started: "pending".
CANCELLED_AS_FAILED = {
    "scheduled": "pending",
    "pending": "pending",
    "running": "running",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "failed",
}


def core_id(seed_id: str) -> str:
    """A seed's form of an id (``task_<hex>``, a dashed UUID, plain hex) -> the core's 32 hex."""
    match = SEED_ID.match(seed_id or "")
    if not match:
        raise JobNotFound(f"no task with id {seed_id}")
    return match.group(1).replace("-", "").lower()


def prefixed_id(job_id: str) -> str:
    """``task_<hex>``: the form seeds 000-002 show."""
    return f"task_{job_id}"


def uuid_id(job_id: str) -> str:
    """The dashed UUID form seed 004 shows."""
    return str(uuid.UUID(job_id))


def load_job(seed_id: str, kinds: tuple[str, ...] | None = None) -> dict:
    """The core job behind a seed id; 404 when unknown or of a kind this seed does not show."""
    job = service.get(services(), current_tenant(), core_id(seed_id))
    if kinds is not None and job["kind"] not in kinds:
        raise JobNotFound(f"no task with id {seed_id}")
    return job


def epoch(job: dict, name: str) -> float | None:
    return job["_times"].get(name)


def naive_iso(ts: float | None) -> str | None:
    """``2023-10-24T08:15:30.123456`` (UTC, no zone), as seed 004 prints times."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def error_text(job: dict) -> str | None:
    error = job.get("error")
    if not error:
        return "cancelled" if job["status"] == "cancelled" else None
    return error.get("message") or error.get("type")


def list_kind(kind: str, status: str | None = None, limit: int = 1000) -> list[dict]:
    """The tenant's newest jobs of one kind (at most ``limit``)."""
    return service.list_jobs(services(), current_tenant(), kind=kind, status=status, limit=limit)["jobs"]


def validation_message(messages) -> str:
    if isinstance(messages, dict):
        return "; ".join(f"{name}: {validation_message(value)}" for name, value in messages.items())
    if isinstance(messages, list):
        return ", ".join(validation_message(m) for m in messages)
    return str(messages)


def fastapi_validation_detail(messages: dict, location: str = "body") -> list[dict]:
    """marshmallow errors as FastAPI's 422 ``detail`` list."""
    detail = []
    for name, value in messages.items():
        detail.append({"loc": [location, name], "msg": validation_message(value), "type": "value_error"})
    return detail


def install_envelope(blp, render, validation_status: int = 400, validation_body=None) -> None:
    """Route every error raised by ``blp``'s views into ``render(status, message, details)``.

    ``validation_body(messages)`` may shape marshmallow errors differently
    (FastAPI's 422 detail list); by default they are a ``validation_status``
    with a message naming the fields.
    """

    def respond(status: int, message: str, details: dict | None = None, retry_after=None):
        response = render(status, message, details or {})
        response.status_code = status
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    def on_validation(error: ValidationError):
        if validation_body is not None:
            response = jsonify(validation_body(error.messages))
            response.status_code = validation_status
            return response
        return respond(
            validation_status,
            f"invalid input: {validation_message(error.messages)}",
            error.messages if isinstance(error.messages, dict) else {},
        )

    def on_longrun(error: LongrunError):
        if validation_body is not None and isinstance(error, InvalidInput) and error.status == 400:
            # The kind's own validation, in the seed's validation shape.
            messages = error.details.get("input", error.details) if error.details else {}
            return on_validation(
                ValidationError(messages if isinstance(messages, dict) and messages else {"body": [error.message]})
            )
        # 503 (Redis, backpressure) and 429 (the rate limit) say when to come back.
        return respond(error.status, error.message, error.details, getattr(error, "retry_after", None))

    def on_http(error: HTTPException):
        retry = ServiceUnavailable.retry_after if error.code == 503 else None
        return respond(error.code or 500, error.description or error.name, {}, retry)

    def on_infrastructure(error: Exception):
        log.warning("infrastructure unavailable: %s", error)
        return respond(503, "a backing service (Redis) is unreachable; try again", {}, ServiceUnavailable.retry_after)

    def on_unexpected(error: Exception):
        log.exception("unhandled error in %s %s", request.method, request.path)
        return respond(500, "internal error", {})

    blp.register_error_handler(ValidationError, on_validation)
    blp.register_error_handler(LongrunError, on_longrun)
    blp.register_error_handler(HTTPException, on_http)
    for exc in (*REDIS_UNREACHABLE, OperationalError):
        blp.register_error_handler(exc, on_infrastructure)
    blp.register_error_handler(Exception, on_unexpected)


def install_fastapi_envelope(blp) -> None:
    """The envelope of the seeds that ran on FastAPI (000, 004): ``{"detail": message}``,
    and bad input as FastAPI's 422 ``detail`` list."""
    install_envelope(
        blp,
        lambda status, message, details: jsonify({"detail": message}),
        validation_status=422,
        validation_body=lambda messages: {"detail": fastapi_validation_detail(messages)},
    )


def json_body() -> dict:
    """The request's JSON object; a ValidationError (the seed's 4xx) when it is not one."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationError({"body": ["must be a JSON object"]})
    return data


def wait_for(job: dict, seconds: float) -> dict:
    """Wait (bounded) for a submitted job to finish; returns its latest document."""
    if job["status"] in ("completed", "failed", "cancelled"):
        return job
    return service.wait(services(), current_tenant(), job["id"], seconds)
