"""gunicorn's own answers in the API's one JSON error body.

A request gunicorn cannot parse (a bad request line or header, a URI over
``limit_request_line``, headers over ``limit_request_fields`` or
``limit_request_field_size``) never reaches Flask: gunicorn answers it itself,
with an HTML page. gunicorn.conf.py's ``on_starting`` hook swaps that writer for
this one before any worker forks, so those answers are
``{"error": {"code", "message", "details"}}`` like every other.
"""

from __future__ import annotations

import json
import socket

from gunicorn import util

CODES = {
    400: "invalid_input",
    403: "forbidden",
    414: "too_large",
    417: "expectation_failed",
    431: "too_large",
    500: "internal_error",
    501: "not_implemented",
}


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    message = f"{reason}: {mesg}" if mesg else reason
    body = json.dumps(
        {"error": {"code": CODES.get(status_int, "error"), "message": message[:300], "details": {}}}
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def install() -> None:
    util.write_error = write_json_error
