"""The client's one error tree, mirroring the API's error body.

Every HTTP error from Longrun has the body ``{"error": {"code", "message",
"details"}}``; :func:`from_response` turns it into one of these classes, chosen
by status code and refined by ``code``. Each keeps ``status``, ``code``,
``message`` and ``details`` so that callers can branch on any of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class LongrunClientError(Exception):
    """Raised when a Longrun request fails; base of every error the client raises."""

    def __init__(
        self, message: str, *, status: int | None = None, code: str = "error", details: dict[str, Any] | None = None
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = details or {}

    def __str__(self) -> str:
        prefix = f"{self.status} {self.code}" if self.status else self.code
        return f"{prefix}: {self.message}"


class InvalidInput(LongrunClientError):
    """Raised when the server rejects a request as invalid (400): a bad field, an unknown kind."""


class Unauthorized(LongrunClientError):
    """Raised when the API key is missing, wrong (401) or not allowed to do this (403)."""


class NotFound(LongrunClientError):
    """Raised when a job (or one of its files) does not exist for this API key (404)."""


class Expired(NotFound):
    """Raised when a job existed but its retention has run out (410)."""


class Conflict(LongrunClientError):
    """Raised when the job's state forbids the request (409), e.g. cancelling a finished job."""


class JobNotFinished(Conflict):
    """Raised when a result is asked for while the job is still pending or running."""


class JobFailed(Conflict):
    """Raised when the result of a failed job is asked for; ``error`` is the job's error."""

    @property
    def error(self) -> dict[str, Any]:
        error = self.details.get("error")
        return error if isinstance(error, dict) else {}


class JobCancelled(Conflict):
    """Raised when the result of a cancelled job is asked for."""


class Unavailable(LongrunClientError):
    """Raised when the server cannot be reached or answers 503/429; retry after ``retry_after`` s."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class RateLimited(Unavailable):
    """Raised when the server refuses for now because of a rate or concurrency limit (429)."""


class ServerError(LongrunClientError):
    """Raised when the server fails unexpectedly (500 and other 5xx but 503)."""


class WaitTimeout(LongrunClientError, TimeoutError):
    """Raised when ``JobHandle.wait`` gives up before the job reached a final state; ``job`` is its last document."""

    def __init__(self, message: str, job: dict[str, Any] | None = None):
        super().__init__(message, code="wait_timeout")
        self.job = job or {}


BY_STATUS: dict[int, type[LongrunClientError]] = {
    400: InvalidInput,
    401: Unauthorized,
    403: Unauthorized,
    404: NotFound,
    409: Conflict,
    410: Expired,
    413: InvalidInput,
    415: InvalidInput,
    422: InvalidInput,
    429: RateLimited,
    503: Unavailable,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header; HTTP dates are rare here and read as None."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def from_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> LongrunClientError:
    """The error for an HTTP error response (``body`` is the parsed JSON, or text)."""
    info = body.get("error") if isinstance(body, dict) else None
    if not isinstance(info, dict):
        info = {"code": "error", "message": (str(body or "").strip()[:500] or f"HTTP {status}")}
    code = str(info.get("code") or "error")
    message = str(info.get("message") or f"HTTP {status}")
    details = info.get("details")
    if not isinstance(details, dict):
        details = {}
    cls = BY_STATUS.get(status) or (ServerError if status >= 500 else LongrunClientError)
    if status == 409:
        if code == "not_finished":
            cls = JobNotFinished
        elif code == "no_result":
            cls = JobCancelled if details.get("status") == "cancelled" else JobFailed
    if issubclass(cls, Unavailable):
        retry_after = parse_retry_after((headers or {}).get("Retry-After"))
        return cls(message, status=status, code=code, details=details, retry_after=retry_after)
    return cls(message, status=status, code=code, details=details)
