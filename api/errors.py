"""One JSON error body for every error: ``{"error": {"code", "message", "details"}}``.

LongrunError subclasses carry their status; Redis or broker trouble is a 503
with Retry-After; anything unexpected is a 500 with no stack trace. Seed
compatibility routes register their own envelopes on their blueprints.
"""

import logging
from typing import cast

from flask import jsonify
from flask_smorest import Api
from kombu.exceptions import OperationalError
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException, InternalServerError

from longrun.errors import REDIS_UNREACHABLE, LongrunError, ServiceUnavailable, Unauthorized

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "expired",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
    503: "service_unavailable",
}


class ErrorInfoSchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Dict(required=True)


class ErrorSchema(Schema):
    error = fields.Nested(ErrorInfoSchema, required=True)


def error_response(status: int, code: str, message: str, details: dict | None = None, headers: dict | None = None):
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = str(value)
    return response


def _flatten_messages(messages) -> dict:
    # webargs nests errors by location ({"json": {...}}); one location is the common case.
    if isinstance(messages, dict) and len(messages) == 1:
        (only,) = messages.values()
        if isinstance(only, dict):
            return only
    return messages if isinstance(messages, dict) else {"_": messages}


def describe_fields(details: dict) -> str:
    return "; ".join(
        f"{name}: {msgs[0] if isinstance(msgs, list) and msgs else msgs}" for name, msgs in details.items()
    )


class LongrunApi(Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        # Keep the exception's own headers (Allow on 405, WWW-Authenticate...), not its HTML type.
        headers: dict[str, str | int] = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        headers.update(data.get("headers") or {})
        code = HTTP_CODES.get(cast(int, error.code), "error")  # an HTTPException that reaches here has one
        message = data.get("message") or error.description or error.name
        details = {}
        if "messages" in data or "errors" in data:
            details = _flatten_messages(data.get("errors") or data.get("messages"))
            message = f"invalid input: {describe_fields(details)}"
        if isinstance(error, InternalServerError):
            message = "internal error"
        if error.code == 503:
            headers.setdefault("Retry-After", ServiceUnavailable.retry_after)
        return error_response(cast(int, error.code), code, message, details, headers)


def handle_longrun_error(error: LongrunError):
    headers = {}
    if retry_after := getattr(error, "retry_after", None):  # 503 and 429
        headers["Retry-After"] = retry_after
    if isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="longrun"'
    return error_response(error.status, error.code, error.message, error.details, headers)


def handle_infrastructure_error(error: Exception):
    log.warning("infrastructure unavailable: %s", error)
    return handle_longrun_error(ServiceUnavailable("a backing service (Redis) is unreachable; try again"))


def handle_unexpected(error: Exception):
    if isinstance(error, HTTPException):
        raise error
    log.exception("unhandled error")
    return error_response(500, "internal_error", "internal error")


def init_app(app) -> None:
    app.register_error_handler(LongrunError, handle_longrun_error)
    # During a Sentinel failover redis-py raises MasterNotFoundError or ReadOnlyError: those are in
    # REDIS_UNREACHABLE too, so a failover answers 503, not 500 (docs/ha.md).
    for exc in (*REDIS_UNREACHABLE, OperationalError):
        app.register_error_handler(exc, handle_infrastructure_error)
    app.register_error_handler(Exception, handle_unexpected)
