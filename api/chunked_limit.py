"""A request body without a Content-Length (``Transfer-Encoding: chunked``) within
LONGRUN_MAX_REQUEST_BYTES: read to the limit before Flask sees it; past it, a 413.

Flask's MAX_CONTENT_LENGTH checks the Content-Length a client declares; a
chunked body declares none, and werkzeug then reads it only up to the limit and
parses what it read (a valid job followed by 56 MiB of padding was a 202). Here
such a body is spooled (memory, then a temporary file) and handed on with the
Content-Length it turned out to have, or answered 413 with the one JSON error
body as soon as it passes the limit.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable

SPOOL_IN_MEMORY = 1024 * 1024
READ_SIZE = 64 * 1024


class ChunkedBodyLimit:
    """WSGI middleware: ``app.wsgi_app = ChunkedBodyLimit(app.wsgi_app, limit)``."""

    def __init__(self, wsgi_app: Callable, limit: int):
        self.wsgi_app = wsgi_app
        self.limit = limit

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("CONTENT_LENGTH") or "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return self.wsgi_app(environ, start_response)
        # The app has read what it needs once it returns (no response streams the request body).
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            size = 0
            stream = environ["wsgi.input"]
            while chunk := stream.read(READ_SIZE):
                size += len(chunk)
                if size > self.limit:
                    return self._too_large(start_response)
                spool.write(chunk)
            spool.seek(0)
            environ["wsgi.input"] = spool
            environ["CONTENT_LENGTH"] = str(size)
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["wsgi.input_terminated"] = False
            return self.wsgi_app(environ, start_response)

    def _too_large(self, start_response: Callable) -> list[bytes]:
        body = json.dumps(
            {
                "error": {
                    "code": "too_large",
                    "message": f"the request body is larger than {self.limit} bytes (LONGRUN_MAX_REQUEST_BYTES)",
                    "details": {},
                }
            }
        ).encode()
        start_response(
            "413 Request Entity Too Large",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("Connection", "close")],
        )
        return [body]
