"""The API's contract: marshmallow schemas that validate requests, shape
responses and generate /openapi.json."""

import time
from datetime import UTC

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from api import json_limits
from longrun import jsonfields
from longrun.states import FINAL_STATUSES, JobStatus
from longrun.webhooks import DEFAULT_EVENTS as DEFAULT_WEBHOOK_EVENTS
from longrun.webhooks import EVENTS as WEBHOOK_EVENTS

STATUSES = [s.value for s in JobStatus]
FINAL = sorted(s.value for s in FINAL_STATUSES)


class ProgressSchema(Schema):
    percentage = fields.Float()
    current_step = fields.Integer(allow_none=True)
    total_steps = fields.Integer(allow_none=True)
    step_name = fields.String(allow_none=True)
    message = fields.String(allow_none=True)
    output = fields.String(metadata={"description": "LLM kinds: the answer generated so far."})
    seq = fields.Integer(metadata={"description": "Increases with every event of the job."})


class JobErrorSchema(Schema):
    type = fields.String()
    message = fields.String()
    details = fields.Dict(metadata={"description": "When the failure has structure (a backend's refusal)."})


class StepSchema(Schema):
    position = fields.Integer(metadata={"description": "1-based, in the order the job runs its steps."})
    name = fields.String()
    status = fields.String(validate=validate.OneOf(["pending", "running", "completed", "failed"]))
    attempt = fields.Integer(allow_none=True, metadata={"description": "The attempt that ran (or runs) it."})
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)


class JobSchema(Schema):
    id = fields.String()
    kind = fields.String()
    status = fields.String(validate=validate.OneOf(STATUSES))
    progress = fields.Nested(ProgressSchema)
    created_at = fields.String()
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)
    attempts = fields.Integer()
    priority = fields.Integer()
    timeout_seconds = fields.Integer()
    metadata = fields.Dict()
    result = fields.Raw(allow_none=True)
    error = fields.Nested(JobErrorSchema, allow_none=True)
    cancel_requested = fields.Boolean()
    run_at = fields.String(allow_none=True, metadata={"description": "When a delayed job may start (UTC)."})
    schedule_id = fields.String(allow_none=True, metadata={"description": "The schedule that made this job."})
    steps = fields.List(
        fields.Nested(StepSchema),
        metadata={
            "description": "The job's checkpointed steps in order (docs/steps.md); a finished step is not run "
            "again when the job resumes. Not in listings."
        },
    )
    requeues = fields.Integer(
        metadata={"description": "Times a stopping worker handed the job back (not counted in attempts)."}
    )
    retried_from = fields.String(allow_none=True, metadata={"description": "The job this one retries."})
    retries = fields.List(
        fields.String(), metadata={"description": "Jobs that retry this one, oldest first. Not in listings."}
    )
    batch_id = fields.String(allow_none=True, metadata={"description": "The batch the job is an item of."})
    batch_index = fields.Integer(allow_none=True, metadata={"description": "Its position in that batch."})


class WebhookSchema(Schema):
    url = fields.String(
        required=True,
        validate=validate.Length(max=2048),
        metadata={"description": "http(s) URL; must pass the URL rules (no private addresses)."},
    )
    events = fields.List(
        fields.String(validate=validate.OneOf(WEBHOOK_EVENTS)),
        load_default=list(DEFAULT_WEBHOOK_EVENTS),
        validate=validate.Length(min=1),
        metadata={"description": "started, progress (throttled) and/or completed (any final state)."},
    )


class JsonDict(fields.Dict):
    """A JSON object; in a multipart form, a form field holding one as a string."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            try:
                value = json_limits.loads(value, where=attr or "input") if value.strip() else {}
            except ValueError:
                raise ValidationError("must be a JSON object") from None
        return super()._deserialize(value, attr, data, **kwargs)


class JobSubmitSchema(Schema):
    kind = fields.String(required=True, metadata={"description": "A kind listed by GET /api/v1/kinds."})
    input = JsonDict(
        load_default=dict,
        metadata={
            "description": "The kind's input. In a multipart/form-data request: a JSON string, with the "
            "kind's file fields (GET /api/v1/kinds: file_fields) sent as files."
        },
    )
    priority = jsonfields.Integer(
        load_default=0,
        validate=validate.Range(0, 9),
        metadata={"description": "0 (lowest, default) to 9 (highest); higher runs first."},
    )
    timeout_seconds = jsonfields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1),
        metadata={"description": "Soft time limit; the job is failed past it."},
    )
    metadata = JsonDict(load_default=dict)
    webhook = fields.Nested(
        WebhookSchema,
        load_default=None,
        allow_none=True,
        metadata={"description": "Where to POST signed notifications about this job."},
    )
    run_at = fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        format="iso",
        metadata={
            "description": "RFC 3339 time with an offset: the job is `scheduled` until then (never "
            "started earlier). A time in the past runs at once."
        },
    )
    delay_seconds = fields.Float(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=0),
        metadata={"description": "Run this many seconds from now (instead of run_at)."},
    )

    @validates_schema
    def one_start_time(self, data, **kwargs):
        if data.get("run_at") is not None and data.get("delay_seconds") is not None:
            raise ValidationError("give run_at or delay_seconds, not both", field_name="delay_seconds")

    @post_load
    def start_time(self, data, **kwargs):
        """run_at / delay_seconds -> run_at as epoch seconds (api.service.submit takes it)."""
        delay = data.pop("delay_seconds", None)
        run_at = data.get("run_at")
        if run_at is not None:
            data["run_at"] = run_at.timestamp()
        elif delay is not None:
            data["run_at"] = time.time() + delay
        return data


class JobListQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    kind = fields.String()
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    cursor = fields.String(validate=validate.Regexp(r"^\d{1,20}$"))


class ClearQuerySchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(FINAL))


class StatsSchema(Schema):
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    queues = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={
            "description": "Per kind: jobs waiting for a worker (messages in its queue, and jobs fair dispatch holds)."
        },
    )
    running = fields.Integer()
    waiting = fields.Integer(metadata={"description": "This tenant's pending jobs."})
    held = fields.Integer(metadata={"description": "Of those, the ones waiting their turn in Redis (fair dispatch)."})
    scheduled = fields.Integer(metadata={"description": "This tenant's delayed jobs not yet due."})
    oldest_waiting_seconds = fields.Dict(
        keys=fields.String(),
        values=fields.Float(),
        metadata={"description": "Per kind: how long its oldest pending job (any tenant) has waited."},
    )


class JobListSchema(Schema):
    jobs = fields.List(fields.Nested(JobSchema))
    next_cursor = fields.String(allow_none=True)
    stats = fields.Nested(StatsSchema)


class ClearedSchema(Schema):
    deleted = fields.Integer()


class ResultSchema(Schema):
    id = fields.String()
    kind = fields.String()
    result = fields.Raw(allow_none=True)


class ArtifactListSchema(Schema):
    artifacts = fields.List(fields.String())


class KindSchema(Schema):
    name = fields.String()
    description = fields.String()
    input_schema = fields.Dict()
    file_fields = fields.List(fields.String())


class KindListSchema(Schema):
    kinds = fields.List(fields.Nested(KindSchema))


class HealthSchema(Schema):
    status = fields.String(validate=validate.OneOf(["healthy", "unhealthy"]))
    version = fields.String()
    tasks_count = fields.Integer(allow_none=True)
    redis = fields.String()
    workers = fields.Integer(allow_none=True)


class ReplayRequestSchema(Schema):
    statuses = fields.List(
        fields.String(validate=validate.OneOf(FINAL)),
        load_default=lambda: ["failed"],
        validate=validate.Length(min=1),
        metadata={"description": "Finished statuses to replay (default: failed)."},
    )
    kind = fields.String(load_default=None, allow_none=True)
    finished_after = fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        default_timezone=UTC,
        metadata={"description": "ISO 8601; jobs that finished at or after it."},
    )
    finished_before = fields.AwareDateTime(
        load_default=None,
        allow_none=True,
        default_timezone=UTC,
        metadata={"description": "ISO 8601; jobs that finished at or before it."},
    )
    all = jsonfields.Boolean(
        load_default=False,
        metadata={
            "description": "Replay every matching job whenever it finished; without it a time bound is required."
        },
    )


class ReplayFilterSchema(Schema):
    statuses = fields.List(fields.String())
    kind = fields.String(allow_none=True)
    finished_after = fields.String(allow_none=True)
    finished_before = fields.String(allow_none=True)


class ReplaySchema(Schema):
    id = fields.String()
    status = fields.String(
        validate=validate.OneOf(["running", "done"]), metadata={"description": "done: every matching job was retried."}
    )
    scanned = fields.Integer(metadata={"description": "Jobs looked at so far."})
    retried = fields.Integer(metadata={"description": "New jobs made so far."})
    failed = fields.Integer(metadata={"description": "Matching jobs that could not be retried (files gone...)."})
    created_at = fields.String()
    finished_at = fields.String(allow_none=True)
    filter = fields.Nested(ReplayFilterSchema)
    jobs = fields.List(fields.String(), metadata={"description": "Ids of the new jobs (the first 1000)."})
