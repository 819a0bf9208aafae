"""Request limits: body and upload size, multipart parts, and a per-key rate.

- A body larger than ``max_request_bytes`` (uploads included, chunked or not:
  api/chunked_limit.py) is a 413; so is a
  multipart body with more than ``max_form_parts`` parts or a non-file field
  larger than ``max_form_field_bytes``. Multipart bodies are parsed up front so
  that these limits hold on every route, whichever blueprint serves it.
- Each API key may make ``rate_limit_requests`` requests per fixed window of
  ``rate_limit_window_seconds``; past that: 429 with Retry-After (the seconds
  until the window ends). One pipelined Redis round trip per request.

Queue-depth backpressure (503) and the per-tenant running cap live where jobs
are submitted and claimed (api/service.py, longrun/lua/claim.lua).
"""

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


def check_rate(redis_client, identity: str, limit: int, window: int, now: float | None = None) -> int:
    """Count one request of ``identity``; returns 0, or the seconds to wait when over ``limit``."""
    now = time.time() if now is None else now
    index = int(now // window)
    key = keys.rate(identity, index)
    pipe = redis_client.pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, window + 1)
    count, _ = pipe.execute()
    if count <= limit:
        return 0
    return max(1, int((index + 1) * window - now + 0.999))


def enforce():
    settings = services().settings
    if settings.rate_limit_requests and g.get("tenant"):
        key = g.get("api_key")
        identity = key.identity if key else f"tenant:{g.tenant}"
        wait = check_rate(services().store.redis, identity, settings.rate_limit_requests,
                          settings.rate_limit_window_seconds)
        if wait:
            error = RateLimited(f"rate limit of {settings.rate_limit_requests} requests per "
                                f"{settings.rate_limit_window_seconds}s exceeded; retry in {wait}s",
                                details={"retry_after": wait})
            error.retry_after = wait
            raise error
    if request.mimetype == "multipart/form-data":
        request.files  # parse now: too many or too large parts raise 413 here
