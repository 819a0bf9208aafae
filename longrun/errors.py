"""Longrun's one error tree.

Every error Longrun raises is one of these; the API turns each into the one
JSON error body with the status code named here. A job that fails with one
reports its class name as the error's ``type``. ``redis_errors_as_unavailable``
is the one place a lost Redis becomes ServiceUnavailable (503 + Retry-After).
"""

from typing import Any, Literal

import redis

# What a Redis that cannot be reached in time raises (redis-py). During a
# Sentinel failover (docs/ha.md) that includes no master known yet
# (MasterNotFoundError, a ConnectionError), a master still loading its data
# (BusyLoadingError, also one), and a write that reached a server just demoted
# to replica (ReadOnlyError).
REDIS_UNREACHABLE: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError)


class LongrunError(Exception):
    """Base class for every Longrun error."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str = "", details: dict[str, Any] | None = None):
        super().__init__(message or (self.__doc__ or "").splitlines()[0])
        self.message = message or (self.__doc__ or "").splitlines()[0]
        self.details = details or {}


class SettingsError(LongrunError, ValueError):
    """Raised when a setting (environment variable or profile key) has a value
    Longrun cannot use; the message names the setting, and start-up stops with it."""

    code = "invalid_settings"


class InvalidInput(LongrunError):
    """Raised when a request body or parameter fails validation."""

    status = 400
    code = "invalid_input"


class UnknownKind(InvalidInput):
    """Raised when a job names a kind that is not registered."""

    code = "unknown_kind"


class Unauthorized(LongrunError):
    """Raised when a request has no API key, or one that is not configured."""

    status = 401
    code = "unauthorized"


class RateLimited(LongrunError):
    """Raised when an API key has made too many requests in the current window."""

    status = 429
    code = "rate_limited"
    retry_after = 1


class UnsafeURL(InvalidInput):
    """Raised when a URL a job would visit or call is refused by the URL rules
    (non-http(s) scheme, private/loopback/link-local/metadata address, disguised
    IP form, or a redirect into one) and is not allow-listed (longrun/urls.py)."""

    code = "unsafe_url"


class JobFailed(LongrunError):
    """Raised inside a job when its work cannot be done; the base of the kinds'
    own failures (the job fails with the subclass's name as its error type)."""

    code = "job_failed"


class SleepFailed(JobFailed):
    """Raised by a sleep job asked to fail (``fail: true``)."""

    code = "sleep_failed"


class CodegenFailed(JobFailed):
    """Raised when the model's answer to a codegen job holds no code."""

    code = "codegen_failed"


class BrowserStepFailed(JobFailed):
    """Raised when a browser job's step cannot be carried out (no such element,
    a page error, a wait that ran out, an agent answer that is not an action)."""

    status = 422
    code = "browser_step_failed"


class StepsChanged(JobFailed):
    """Raised when a resumed job runs other steps than its earlier attempt did
    (another name at a checkpointed position): its stored outputs cannot be trusted
    to fit, so the job fails instead of mixing them (longrun/steps.py)."""

    code = "steps_changed"


class CheckpointFailed(JobFailed):
    """Raised when a step's output cannot be checkpointed (not JSON-serialisable)."""

    code = "checkpoint_failed"


class JobRequeued(LongrunError):
    """Raised inside a job at a step boundary when its worker is shutting down:
    the job has been checkpointed, and is put back in its queue (not a failed attempt)."""

    code = "requeued"


class LeaseLost(LongrunError):
    """Raised inside a job when another attempt holds its lease: this copy stops
    without touching the job."""

    code = "lease_lost"


class JobNotRetryable(LongrunError):
    """Raised when a pending or running job is retried: only a finished one can be."""

    status = 409
    code = "not_retryable"


class JobNotFound(LongrunError):
    """Raised when a job id is unknown, or belongs to another tenant."""

    status = 404
    code = "not_found"


class ScheduleNotFound(JobNotFound):
    """No schedule with that id for this tenant (404)."""

    code = "schedule_not_found"


class JobExpired(LongrunError):
    """Raised when a job existed but its retention has run out."""

    status = 410
    code = "expired"


class JobNotFinished(LongrunError):
    """Raised when a job's result is asked for before the job has finished."""

    status = 409
    code = "not_finished"


class JobHasNoResult(JobNotFinished):
    """Raised when the result of a failed or cancelled job is asked for."""

    code = "no_result"


class JobAlreadyFinished(LongrunError):
    """Raised when a finished job is cancelled; it keeps its result."""

    status = 409
    code = "already_finished"


class IdempotencyConflict(LongrunError):
    """Raised when an Idempotency-Key is reused with a different request body."""

    status = 409
    code = "idempotency_conflict"


class ServiceUnavailable(LongrunError):
    """Raised when Redis (broker, backend or index) cannot be reached in time."""

    status = 503
    code = "service_unavailable"
    retry_after = 5


class NotReplicated(ServiceUnavailable):
    """Raised when a write did not reach LONGRUN_REDIS_MIN_REPLICAS replicas in time (docs/ha.md)."""

    code = "not_replicated"
    retry_after = 2


class QueueFull(ServiceUnavailable):
    """Raised when a kind's queue is deeper than max_queue_depth (backpressure; seed 003's "overloaded")."""

    code = "queue_full"


class JobCancelled(LongrunError):
    """Raised inside a running job when a client has asked to cancel it."""

    code = "cancelled"


class JobTimedOut(LongrunError):
    """Raised when a job ran past its timeout_seconds."""

    code = "timeout"


class InvalidUpload(InvalidInput):
    """Raised when an uploaded file is missing, unexpected, or not of the type its field takes."""

    code = "invalid_upload"


class UploadTooLarge(LongrunError):
    """Raised when an uploaded file is larger than LONGRUN_MAX_UPLOAD_BYTES."""

    status = 413
    code = "too_large"


class NotAPdf(InvalidInput, ValueError):
    """Raised when bytes that should be a PDF are not one pypdf can read (an upload, or a codegen job's file)."""

    code = "not_a_pdf"


class LLMError(JobFailed):
    """Raised when a call to the language model backend fails."""

    status = 502
    code = "llm_error"


class LLMNotConfigured(LLMError):
    """Raised when a job needs a language model but LLM_BASE_URL is not set."""

    status = 503
    code = "llm_not_configured"


class LLMUnavailable(LLMError):
    """Raised when the model server cannot be reached, times out or keeps answering 5xx/429 after bounded retries."""

    status = 503
    code = "llm_unavailable"


class LLMBadResponse(LLMError):
    """Raised when the model server keeps answering with something that is not a chat completion."""

    code = "llm_bad_response"


class LLMRejected(LLMError):
    """Raised when the model server refuses the request (4xx: unknown model, bad key, prompt too long); not retried."""

    code = "llm_rejected"


class BackendRejected(LLMRejected):
    """Raised when the model backend answers a passed-through request with a 4xx; the answer rides
    along as the job's error details (``{"status_code", "body"}``), as the Batch API reports it."""

    def __init__(self, message: str, response: dict[str, Any]):
        super().__init__(message, details=response)
        self.args = (message, response)  # what Celery records: describe_error keeps the details


class LocalModelError(LongrunError):
    """Raised when the local model is not installed or its server does not come up."""

    status = 503
    code = "local_model_unavailable"


class ChatOwnedByAnotherUser(InvalidInput):
    """Raised when a chat turn names a user_id other than the one that started the chat."""

    code = "chat_user_mismatch"


class CannotCapture(LongrunError):
    """Raised when a job's broker message cannot be taken over for the create
    script (kombu would send more than one LPUSH for it); the caller then
    publishes the usual way."""

    code = "cannot_capture"


class TooManyStreams(LongrunError):
    """Raised when a tenant opens more live event streams than it may hold at once."""

    status = 429
    code = "too_many_streams"
    retry_after = 5


class DeliveryNotFound(LongrunError):
    """Raised when a webhook delivery id is not in the job's delivery log."""

    status = 404
    code = "not_found"


class _RedisErrorsAsUnavailable:
    """The context manager behind redis_errors_as_unavailable: a class, not a
    generator, because the job store enters one per Redis call (about 0.2 µs, not 1.4)."""

    def __init__(self, message: str, errors: tuple[type[Exception], ...]):
        self.message = message
        self.errors = errors

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> Literal[False]:
        if exc_type is not None and issubclass(exc_type, self.errors):
            raise ServiceUnavailable(self.message) from exc
        return False


_REDIS_UNREACHABLE = _RedisErrorsAsUnavailable("Redis is unreachable", REDIS_UNREACHABLE)


def redis_errors_as_unavailable(
    message: str | None = None, errors: tuple[type[Exception], ...] | None = None
) -> _RedisErrorsAsUnavailable:
    """``with redis_errors_as_unavailable():`` a Redis that cannot be reached
    (``errors``) inside the block raises ServiceUnavailable(message), 503 + Retry-After."""
    if message is None and errors is None:
        return _REDIS_UNREACHABLE
    return _RedisErrorsAsUnavailable(message or _REDIS_UNREACHABLE.message, errors or REDIS_UNREACHABLE)


class BatchNotFound(JobNotFound):
    """Raised when a batch (or an OpenAI-compatible file) id is unknown, or belongs to another tenant."""


class BatchExpired(JobExpired):
    """Raised when a batch existed but its retention (and its jobs') has run out."""


class BatchAlreadyFinished(JobAlreadyFinished):
    """Raised when a batch whose every item is final is cancelled."""
