"""/api/v1/batches: many inputs of one kind under one handle (items are ordinary jobs)."""

import json
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from flask import Response, request, stream_with_context, url_for
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate

from api import batch_service
from api.auth import current_tenant
from api.extensions import Blueprint, services
from api.jobs import idempotency_key
from api.live import event_stream
from api.schemas import STATUSES, JobSchema, JsonDict, WebhookSchema
from longrun import jsonfields, streams
from longrun.errors import InvalidInput, InvalidUpload
from longrun.jobstore import body_hash
from longrun.states import BatchStatus

blp = Blueprint(
    "batches",
    __name__,
    url_prefix="/api/v1/batches",
    description="Batches: many inputs of one kind, one handle; each item is a job.",
)

ITEMS_FILE = "items"


class JsonNested(fields.Nested):
    """A nested object; in a multipart form, a form field holding it as a JSON string."""

    def _deserialize(
        self,
        value: Any,
        attr: str | None,
        data: Mapping[str, Any] | None,
        partial: bool | Sequence[str] | AbstractSet[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValidationError("must be a JSON object") from None
        return super()._deserialize(value, attr, data, partial, **kwargs)


class BatchSubmitSchema(Schema):
    kind = fields.String(required=True, metadata={"description": "A kind listed by GET /api/v1/kinds."})
    items = fields.List(
        fields.Raw(),
        metadata={
            "description": "One input per item, each validated as a single submit's `input`. In a "
            "multipart/form-data request: a JSONL file field `items` instead (one input per line)."
        },
    )
    priority = jsonfields.Integer(load_default=0, validate=validate.Range(0, 9))
    timeout_seconds = jsonfields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1),
        metadata={"description": "Each item's soft time limit."},
    )
    metadata = JsonDict(load_default=dict)
    webhook = JsonNested(
        WebhookSchema,
        load_default=None,
        allow_none=True,
        metadata={"description": "POSTed once, when the batch ends (event batch.completed)."},
    )


class BatchCountsSchema(Schema):
    total = fields.Integer()
    pending = fields.Integer()
    running = fields.Integer()
    completed = fields.Integer()
    failed = fields.Integer()
    cancelled = fields.Integer()


class BatchSchema(Schema):
    id = fields.String()
    kind = fields.String()
    status = fields.String(validate=validate.OneOf([s.value for s in BatchStatus]))
    counts = fields.Nested(BatchCountsSchema)
    created_at = fields.String()
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)
    priority = fields.Integer()
    timeout_seconds = fields.Integer()
    metadata = fields.Dict()
    cancel_requested = fields.Boolean()


class BatchListQuerySchema(Schema):
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    cursor = fields.String(validate=validate.Regexp(r"^\d{1,20}$"))


class BatchListSchema(Schema):
    batches = fields.List(fields.Nested(BatchSchema))
    next_cursor = fields.String(allow_none=True)


class BatchJobsQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = fields.String(
        validate=validate.Regexp(r"^\d{1,9}$"), metadata={"description": "The item index to go on from (next_cursor)."}
    )


class BatchJobListSchema(Schema):
    jobs = fields.List(fields.Nested(JobSchema))
    next_cursor = fields.String(allow_none=True)


def location(bid: str) -> dict:
    return {"Location": url_for("batches.Batch", batch_id=bid)}


def uploaded_items() -> list:
    upload = request.files.get(ITEMS_FILE)
    if upload is None:
        raise InvalidUpload(
            "a multipart batch carries its items as a JSONL file field 'items'",
            details={ITEMS_FILE: ["a JSONL file is required"]},
        )
    return batch_service.parse_jsonl(upload.read(), ITEMS_FILE)


@blp.route("")
class Batches(MethodView):
    @blp.arguments(BatchSubmitSchema, location="json_or_multipart")
    @blp.response(202, BatchSchema)
    @blp.alt_response(200, schema=BatchSchema, description="An idempotent replay (same Idempotency-Key and body).")
    def post(self, payload):
        """Submit a batch (202 + Location): JSON with `items`, or multipart with a JSONL file `items`.

        Every item is validated like a single submit; one invalid item is a 400 naming
        its index and field, and nothing is created. A batch that would overflow the
        kind's queue is refused whole (503 + Retry-After).
        """
        if request.mimetype == "multipart/form-data":
            payload["items"] = uploaded_items()
        elif payload.get("items") is None:
            raise InvalidInput("items is required", details={"items": ["Missing data for required field."]})
        svc = services()
        doc, created = batch_service.submit(
            svc,
            current_tenant(),
            idempotency_key=idempotency_key(),
            request_hash=body_hash(request.get_data()),
            **payload,
        )
        return doc, 202 if created else 200, location(doc["id"])

    @blp.arguments(BatchListQuerySchema, location="query")
    @blp.response(200, BatchListSchema)
    def get(self, query):
        """The tenant's batches, newest first."""
        cursor = int(query["cursor"]) if query.get("cursor") else None
        found, next_cursor = batch_service.batches(services()).list_batches(
            current_tenant(), limit=query["limit"], cursor=cursor
        )
        return {"batches": found, "next_cursor": str(next_cursor) if next_cursor else None}


@blp.route("/<string:batch_id>")
class Batch(MethodView):
    @blp.response(200, BatchSchema)
    def get(self, batch_id):
        """The batch's status and exact counts per item status (one read, whatever its size)."""
        return batch_service.batches(services()).get(batch_id, current_tenant())

    @blp.response(204)
    def delete(self, batch_id):
        """Delete the batch, all its jobs and their files; running items are cancelled."""
        svc = services()
        for job_id in batch_service.batches(svc).delete(batch_id, current_tenant()):
            svc.artifacts.delete_job(job_id)


@blp.route("/<string:batch_id>/cancel")
class BatchCancel(MethodView):
    @blp.response(200, BatchSchema)
    def post(self, batch_id):
        """Cancel: pending items never start, running items are stopped."""
        return batch_service.batches(services()).cancel(batch_id, current_tenant())


@blp.route("/<string:batch_id>/jobs")
class BatchJobs(MethodView):
    @blp.arguments(BatchJobsQuerySchema, location="query")
    @blp.response(200, BatchJobListSchema)
    def get(self, query, batch_id):
        """The batch's jobs in item order, optionally only those in one status."""
        found, next_cursor = batch_service.batches(services()).jobs(
            batch_id,
            current_tenant(),
            status=query.get("status"),
            limit=query["limit"],
            cursor=int(query.get("cursor") or 0),
        )
        return {"jobs": found, "next_cursor": str(next_cursor) if next_cursor is not None else None}


@blp.route("/<string:batch_id>/results")
class BatchResults(MethodView):
    @blp.response(
        200,
        description="application/x-ndjson: one line `{index, job_id, status, result, error}` "
        "per item finished so far, in item order.",
        content_type="application/x-ndjson",
    )
    def get(self, batch_id):
        """The results of the items finished so far, streamed as JSON lines in item order."""
        lines = batch_service.results_jsonl(services(), current_tenant(), batch_id)
        return Response(stream_with_context(lines), mimetype="application/x-ndjson")


@blp.route("/<string:batch_id>/events")
class BatchEvents(MethodView):
    @blp.response(
        200,
        description="text/event-stream: `item` (an item's status changed), `counts` (the counts "
        "after it), then `done` with the final batch.",
        content_type="text/event-stream",
    )
    def get(self, batch_id):
        """Follow the batch live (Server-Sent Events); resume with Last-Event-ID."""
        svc = services()
        tenant = current_tenant()
        after = streams.parse_last_event_id(request.headers.get("Last-Event-ID") or request.args.get("last_event_id"))
        batch_service.batches(svc).load(batch_id, tenant)
        return event_stream(
            svc,
            tenant,
            lambda heartbeat_seconds, on_heartbeat: batch_service.events(
                svc, batch_id, after, heartbeat_seconds=heartbeat_seconds, on_heartbeat=on_heartbeat
            ),
        )
