"""Request limits: body and upload size, multipart parts, and a per-key rate.

- A body larger than ``max_request_bytes`` (uploads included, chunked or not:
  api/chunked_limit.py) is a 413; so is a
  multipart body with more than ``max_form_parts`` parts or a non-file field
  larger than ``max_form_field_bytes``. Multipart bodies are parsed up front so
  that these limits hold on every route, whichever blueprint serves it.
- Each API key may make ``rate_limit_requests`` requests per fixed window of
  ``rate_limit_window_seconds``; past that: 429 with Retry-After (the seconds
  until the window ends). The count lives in Redis, shared by every process;
  a process reserves a key's requests there in chunks of 1% of the limit (1
  below 200) and counts them down locally, so a request costs a round trip
  only once per chunk. A chunk a process has not used up when the window ends
  still counts: other processes may be refused up to one chunk per process
  early, never late.

Queue-depth backpressure (503) and the per-tenant running cap live where jobs
are submitted and claimed (api/service.py, longrun/lua/claim.lua).
"""

import threading
import time

from flask import Flask, g, request

from api.chunked_limit import ChunkedBodyLimit
from api.extensions import services
from longrun import keys
from longrun.errors import RateLimited
from longrun.settings import Settings


def configure(app: Flask, settings: Settings) -> None:
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        MAX_FORM_PARTS=settings.max_form_parts,
        MAX_FORM_MEMORY_SIZE=settings.max_form_field_bytes,
    )
    app.before_request(enforce)
    app.wsgi_app = ChunkedBodyLimit(app.wsgi_app, settings.max_request_bytes)  # type: ignore[method-assign]


def reserve(
    redis_client, identity: str, limit: int, window: int, chunk: int = 1, now: float | None = None
) -> tuple[int, int]:
    """Count ``chunk`` requests of ``identity`` in its current window.

    Returns (granted, wait): how many of them are within ``limit``, and, when
    none is, the seconds until the window ends."""
    now = time.time() if now is None else now
    index = int(now // window)
    key = keys.rate(identity, index)
    pipe = redis_client.pipeline(transaction=False)
    pipe.incrby(key, chunk)
    pipe.expire(key, window + 1)
    count, _ = pipe.execute()
    granted = min(chunk, limit - (count - chunk))
    if granted > 0:
        return granted, 0
    return 0, max(1, int((index + 1) * window - now + 0.999))


def check_rate(redis_client, identity: str, limit: int, window: int, now: float | None = None) -> int:
    """Count one request of ``identity``; returns 0, or the seconds to wait when over ``limit``."""
    return reserve(redis_client, identity, limit, window, 1, now)[1]


class RateBudget:
    """This process's reserved, not yet used requests per identity and window."""

    def __init__(self) -> None:
        self._left: dict[str, tuple[int, int]] = {}  # identity -> (window index, requests left)
        self._lock = threading.Lock()

    def take(self, redis_client, identity: str, limit: int, window: int) -> int:
        """0 when the request may go on, else the seconds to wait."""
        now = time.time()
        index = int(now // window)
        with self._lock:
            held, left = self._left.get(identity, (index, 0))
            if held == index and left > 0:
                self._left[identity] = (index, left - 1)
                return 0
        granted, wait = reserve(redis_client, identity, limit, window, max(1, min(100, limit // 100)), now)
        if granted:
            with self._lock:
                self._left[identity] = (index, granted - 1)
        return wait


BUDGET = RateBudget()
# Requests whose multipart body is parsed before the route (its part limits apply).
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def enforce():
    settings = services().settings
    if settings.rate_limit_requests and g.get("tenant"):
        key = g.get("api_key")
        identity = key.identity if key else f"tenant:{g.tenant}"
        wait = BUDGET.take(
            services().store.redis, identity, settings.rate_limit_requests, settings.rate_limit_window_seconds
        )
        if wait:
            error = RateLimited(
                f"rate limit of {settings.rate_limit_requests} requests per "
                f"{settings.rate_limit_window_seconds}s exceeded; retry in {wait}s",
                details={"retry_after": wait},
            )
            error.retry_after = wait
            raise error
    if request.method in BODY_METHODS and request.mimetype == "multipart/form-data":
        _ = request.files  # parse now: too many or too large parts raise 413 here
