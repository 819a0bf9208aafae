"""Longrun's one error tree.

Every error a client can cause or meet is one of these; the API turns each into
the one JSON error body with the status code named here.
"""


class LongrunError(Exception):
    """Base class for every Longrun error."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str = "", details: dict | None = None):
        super().__init__(message or self.__doc__.splitlines()[0])
        self.message = message or self.__doc__.splitlines()[0]
        self.details = details or {}


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


class BrowserStepFailed(LongrunError):
    """Raised when a browser job's step cannot be carried out (no such element,
    a page error, a wait that ran out, an agent answer that is not an action)."""

    status = 422
    code = "browser_step_failed"


class JobNotFound(LongrunError):
    """Raised when a job id is unknown, or belongs to another tenant."""

    status = 404
    code = "not_found"


class JobExpired(LongrunError):
    """Raised when a job existed but its retention has run out."""

    status = 410
    code = "expired"


class JobNotFinished(LongrunError):
    """Raised when a job's result is asked for before the job has finished."""

    status = 409
    code = "not_finished"


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


class LLMError(LongrunError):
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
class TooManyStreams(LongrunError):
    """Raised when a tenant opens more live event streams than it may hold at once."""

    status = 429
    code = "too_many_streams"
    retry_after = 5


class DeliveryNotFound(LongrunError):
    """Raised when a webhook delivery id is not in the job's delivery log."""

    status = 404
    code = "not_found"


class BatchNotFound(JobNotFound):
    """Raised when a batch (or an OpenAI-compatible file) id is unknown, or belongs to another tenant."""


class BatchExpired(JobExpired):
    """Raised when a batch existed but its retention (and its jobs') has run out."""


class BatchAlreadyFinished(JobAlreadyFinished):
    """Raised when a batch whose every item is final is cancelled."""
