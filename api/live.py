"""Following a job as it runs: its live event stream (SSE), its logs, and its
webhook delivery log with manual redelivery."""

import threading
from collections.abc import Callable, Iterator
from typing import Any

from flask import Response, request, stream_with_context
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api.auth import current_tenant
from api.extensions import Blueprint, services
from longrun import joblog, streams
from longrun.errors import TooManyStreams
from longrun.webhooks import DeliveryLog
from workers.publish import publish_webhook

blp = Blueprint(
    "live", __name__, url_prefix="/api/v1/jobs", description="Live events, logs and webhook deliveries of a job."
)


class ProcessStreams:
    """Open streams in this process. Under gthread each open stream holds one
    of the worker's threads, so gunicorn.conf.py caps them below the thread
    count: the remaining threads always serve ordinary requests."""

    def __init__(self):
        self.limit: int | None = None
        self.open = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            if self.limit is not None and self.open >= self.limit:
                raise TooManyStreams(
                    "this server is holding as many event streams as it can; "
                    "poll GET /api/v1/jobs/{id} or retry shortly",
                    details={"limit": self.limit},
                )
            self.open += 1

    def leave(self) -> None:
        with self._lock:
            self.open -= 1


PROCESS_STREAMS = ProcessStreams()


def event_stream(svc: Any, tenant: str, events: Callable[[float, Callable[[], None]], Iterator[str]]) -> Response:
    """An SSE response over ``events(heartbeat_seconds, on_heartbeat)`` that holds one of
    the tenant's stream slots (and this process's) while the client listens."""
    settings = svc.settings
    slots = streams.StreamSlots(svc.store.redis, settings.sse_max_streams_per_tenant, settings.sse_heartbeat_seconds)
    PROCESS_STREAMS.enter()
    try:
        token = slots.acquire(tenant)
    except Exception:
        PROCESS_STREAMS.leave()
        raise

    def generate() -> Iterator[str]:
        try:
            yield from events(settings.sse_heartbeat_seconds, lambda: slots.renew(tenant, token))
        finally:  # also when the client goes away (the next write fails)
            slots.release(tenant, token)
            PROCESS_STREAMS.leave()

    return Response(
        stream_with_context(generate()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@blp.route("/<string:job_id>/events")
class JobEvents(MethodView):
    @blp.response(
        200,
        description="text/event-stream: `status` and `progress` events, then the final "
        "state (with `result` and the last `progress`), then the stream ends. "
        "Progress is coalesced (at most one event per progress interval) and the "
        "oldest progress events are dropped past the stream's cap; lifecycle events "
        "(pending, each attempt, final) are always kept. `resync` (no `id`): your "
        "Last-Event-ID is older than the newest dropped event, so re-read the job "
        "(GET /api/v1/jobs/{id}); the stream then goes on after your id.",
        content_type="text/event-stream",
    )
    def get(self, job_id):
        """Follow the job live (Server-Sent Events); resume with Last-Event-ID."""
        svc = services()
        tenant = current_tenant()
        after = streams.parse_last_event_id(request.headers.get("Last-Event-ID") or request.args.get("last_event_id"))
        svc.store.load(job_id, tenant)  # 404/410 exactly as GET /jobs/{id}
        return event_stream(
            svc,
            tenant,
            lambda heartbeat_seconds, on_heartbeat: streams.job_events(
                svc.store, job_id, after, heartbeat_seconds=heartbeat_seconds, on_heartbeat=on_heartbeat
            ),
        )


class LogQuerySchema(Schema):
    tail = fields.Integer(validate=validate.Range(1, 100_000), metadata={"description": "Only the last N lines."})
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "text"]))


class LogLineSchema(Schema):
    ts = fields.String()
    level = fields.String()
    logger = fields.String()
    message = fields.String()


class JobLogSchema(Schema):
    id = fields.String()
    lines = fields.List(fields.Nested(LogLineSchema))
    dropped = fields.Integer(metadata={"description": "Oldest lines dropped to stay within the caps."})
    bytes = fields.Integer()


@blp.route("/<string:job_id>/logs")
class JobLogs(MethodView):
    @blp.arguments(LogQuerySchema, location="query")
    @blp.response(200, JobLogSchema)
    # format=text answers plain lines: the contract says so (schemathesis holds us to it).
    @blp.doc(responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    def get(self, query, job_id):
        """What the job logged (oldest first, capped); `format=text` for plain lines."""
        svc = services()
        svc.store.load(job_id, current_tenant())
        body = joblog.JobLogStore(svc.store.redis, svc.settings).read(job_id, query.get("tail"))
        if query["format"] == "text":
            return Response(joblog.as_text(body["lines"]), mimetype="text/plain")
        return {"id": job_id, **body}


class WebhookAttemptSchema(Schema):
    n = fields.Integer()
    at = fields.String()
    status_code = fields.Integer(allow_none=True)
    ok = fields.Boolean()
    error = fields.String(allow_none=True)
    duration_ms = fields.Float()


class WebhookDeliverySchema(Schema):
    id = fields.String(metadata={"description": "Sent as the webhook-id header; the same on every retry."})
    job_id = fields.String()
    event = fields.String()
    url = fields.String()
    created_at = fields.String()
    state = fields.String(validate=validate.OneOf(["pending", "delivered", "retrying", "failed"]))
    next_attempt_at = fields.String(allow_none=True)
    attempts = fields.List(fields.Nested(WebhookAttemptSchema))


class WebhookDeliveryListSchema(Schema):
    deliveries = fields.List(fields.Nested(WebhookDeliverySchema))


def _delivery(log: DeliveryLog, job_id: str, delivery_id: str) -> dict:
    return next(d for d in log.list(job_id) if d["id"] == delivery_id)


@blp.route("/<string:job_id>/webhooks")
class JobWebhooks(MethodView):
    @blp.response(200, WebhookDeliveryListSchema)
    def get(self, job_id):
        """The job's webhook deliveries, oldest first, each with every attempt."""
        return {"deliveries": deliveries(services(), current_tenant(), job_id)}


@blp.route("/<string:job_id>/webhooks/<string:delivery_id>/redeliver")
class JobWebhookRedeliver(MethodView):
    @blp.response(202, WebhookDeliverySchema)
    def post(self, job_id, delivery_id):
        """Send a delivery again (same webhook-id and body, new timestamp and signature)."""
        return redeliver(services(), current_tenant(), job_id, delivery_id)


def deliveries(svc, tenant: str, job_id: str) -> list[dict]:
    """The job's webhook deliveries (this route and the console)."""
    svc.store.load(job_id, tenant)
    return DeliveryLog(svc.store.redis, svc.settings).list(job_id)


def redeliver(svc, tenant: str, job_id: str, delivery_id: str) -> dict:
    """Queue a delivery again (this route and the console's button)."""
    svc.store.load(job_id, tenant)
    log = DeliveryLog(svc.store.redis, svc.settings)
    log.get(job_id, delivery_id)  # 404 for an unknown delivery
    log.set_state(job_id, delivery_id, "pending")
    publish_webhook(svc.celery, job_id, delivery_id)
    return _delivery(log, job_id, delivery_id)
