"""/api/v1/schedules: cron schedules that submit a job at every tick (docs/flow-control.md)."""

from flask import url_for
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from api import service
from api.auth import current_tenant
from api.extensions import Blueprint, services
from longrun import jsonfields
from longrun.errors import InvalidInput, InvalidUpload
from longrun.schedules import OVERLAP_POLICIES, ScheduleStore, next_tick

blp = Blueprint(
    "schedules",
    __name__,
    url_prefix="/api/v1/schedules",
    description="Cron schedules: a job at every tick, exactly once.",
)


class JobTemplateSchema(Schema):
    kind = fields.String(required=True, metadata={"description": "A kind listed by GET /api/v1/kinds (no file kinds)."})
    input = fields.Dict(load_default=dict)
    priority = jsonfields.Integer(load_default=0, validate=validate.Range(0, 9))
    timeout_seconds = jsonfields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))
    metadata = fields.Dict(load_default=dict)


CRON_HELP = "5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first; e.g. */5 * * * *"


class ScheduleCreateSchema(Schema):
    cron = fields.String(required=True, validate=validate.Length(1, 200), metadata={"description": CRON_HELP})
    timezone = fields.String(
        load_default="UTC",
        validate=validate.Length(1, 64),
        metadata={"description": "IANA time zone the cron fields are read in."},
    )
    job = fields.Nested(JobTemplateSchema, required=True)
    overlap = fields.String(
        load_default="skip",
        validate=validate.OneOf(OVERLAP_POLICIES),
        metadata={
            "description": "When the previous run is still going at a tick: skip the tick, queue one run "
            "until it ends, or cancel_previous and start the new one."
        },
    )
    paused = fields.Boolean(load_default=False)


class ScheduleUpdateSchema(Schema):
    cron = fields.String(validate=validate.Length(1, 200), metadata={"description": CRON_HELP})
    timezone = fields.String(validate=validate.Length(1, 64))
    job = fields.Nested(JobTemplateSchema)
    overlap = fields.String(validate=validate.OneOf(OVERLAP_POLICIES))
    paused = fields.Boolean(metadata={"description": "true pauses (no ticks); false resumes from now."})


class ScheduleSchema(Schema):
    id = fields.String()
    cron = fields.String()
    timezone = fields.String()
    job = fields.Dict()
    overlap = fields.String()
    paused = fields.Boolean()
    created_at = fields.String()
    next_run_at = fields.String(allow_none=True, metadata={"description": "The next tick (UTC); null while paused."})
    last_run_at = fields.String(allow_none=True)
    last_job_id = fields.String(allow_none=True)
    queued_job_id = fields.String(allow_none=True)
    runs = fields.Integer()


class ScheduleListSchema(Schema):
    schedules = fields.List(fields.Nested(ScheduleSchema))


def store() -> ScheduleStore:
    return ScheduleStore(services().store.redis)


def job_template(job: dict) -> dict:
    """Check the job a schedule makes as a submit would, once, when the schedule is written."""
    svc = services()
    if service.kind_or_error(job["kind"]).file_fields:
        raise InvalidUpload(
            f"kind {job['kind']!r} takes files and cannot be scheduled",
            details={"job": {"kind": ["a kind that takes files cannot be scheduled"]}},
        )
    try:
        job_input = service.validate_input(job["kind"], job.get("input") or {})
        timeout = service.resolve_timeout(svc.settings, job.get("timeout_seconds"))
    except InvalidInput as exc:
        raise InvalidInput(exc.message.replace("input.", "job.input.", 1), details={"job": exc.details}) from None
    return {
        "kind": job["kind"],
        "input": job_input,
        "priority": job.get("priority") or 0,
        "timeout_seconds": timeout,
        "metadata": job.get("metadata") or {},
    }


@blp.route("")
class Schedules(MethodView):
    @blp.arguments(ScheduleCreateSchema)
    @blp.response(201, ScheduleSchema)
    def post(self, body):
        """Create a schedule; answers with its next_run_at."""
        next_tick(body["cron"], body["timezone"], 0)  # 400 naming cron or timezone
        body["job"] = job_template(body["job"])
        schedule = store().create(current_tenant(), **body)
        return schedule, 201, {"Location": url_for("schedules.Schedule", schedule_id=schedule["id"])}

    @blp.response(200, ScheduleListSchema)
    def get(self):
        """This tenant's schedules, oldest first."""
        return {"schedules": store().of_tenant(current_tenant())}


@blp.route("/<string:schedule_id>")
class Schedule(MethodView):
    @blp.response(200, ScheduleSchema)
    def get(self, schedule_id):
        """One schedule."""
        return store().get(current_tenant(), schedule_id)

    @blp.arguments(ScheduleUpdateSchema)
    @blp.response(200, ScheduleSchema)
    def patch(self, changes, schedule_id):
        """Pause or resume, or change the cron, time zone, job or overlap policy."""
        if "job" in changes:
            changes["job"] = job_template(changes["job"])
        return store().update(current_tenant(), schedule_id, changes)

    @blp.response(204)
    def delete(self, schedule_id):
        """Delete the schedule (jobs it made stay)."""
        store().delete(current_tenant(), schedule_id)
