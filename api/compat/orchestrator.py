"""Seed 003, the task orchestrator: ``POST /tasks``, ``GET /tasks/{id}``,
``POST /tasks/{id}/cancel``.

``task_type`` is the job kind (unknown: 400 naming the known ones);
``parameters`` its input; ``description`` is kept in the job's metadata;
``priority`` 1-10 (default 1) becomes the core's 0-9. Statuses are the
seed's lifecycle: created, running, completed, failed, cancelled. A submit
while the kind's queue holds ``LONGRUN_MAX_QUEUE_DEPTH`` or more waiting jobs
is a 503 with Retry-After (the core's backpressure). Errors are FastAPI's ``{"detail": message}``.
Every job of the tenant is visible here, whatever route submitted it.
"""

from flask import jsonify
from marshmallow import RAISE, Schema, fields, validate

from api import service
from api.auth import current_tenant
from api.compat import common
from api.extensions import Blueprint, services
from longrun.errors import UnknownKind
from tasks.registry import KINDS

STATUS = {
    "scheduled": "created",
    "pending": "created",
    "running": "running",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}

blp = Blueprint(
    "orchestrator",
    __name__,
    url_prefix="/tasks",
    description="Compatibility: seed 003 (task orchestrator). See docs/compatibility.md.",
)
common.install_envelope(blp, lambda status, message, details: jsonify({"detail": message}))


class TaskRequest(Schema):
    class Meta:
        unknown = RAISE

    task_type = fields.String(required=True, validate=validate.Length(min=1))
    description = fields.String(required=True)
    parameters = fields.Dict(load_default=dict)
    priority = fields.Integer(load_default=1, validate=validate.Range(1, 10))
    timeout_seconds = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))


def task_response(job: dict) -> dict:
    return {
        "task_id": job["id"],
        "task_type": job["kind"],
        "description": job["metadata"].get("description"),
        "status": STATUS[job["status"]],
        "priority": job["priority"] + 1,
        "parameters": job["input"],
        "timeout_seconds": job["timeout_seconds"],
        "progress": job["progress"].get("percentage") or 0,
        "result": job["result"],
        "error": common.error_text(job) if job["status"] in ("failed", "cancelled") else None,
        "created_at": job["created_at"],
        "started_at": job["started_at"],
        "completed_at": job["finished_at"],
    }


@blp.route("", methods=["POST"])
def create_task():
    body = TaskRequest().load(common.json_body())
    if body["task_type"] not in KINDS:
        known = ", ".join(sorted(KINDS))
        raise UnknownKind(f"unknown task_type {body['task_type']!r}; known task types: {known}")
    svc = services()
    job, _ = service.submit(
        svc,
        current_tenant(),
        kind=body["task_type"],
        input=body["parameters"],
        priority=body["priority"] - 1,
        timeout_seconds=body["timeout_seconds"],
        metadata={"description": body["description"]},
    )
    return task_response(job)


@blp.route("/<string:task_id>", methods=["GET"])
def get_task(task_id):
    return task_response(common.load_job(task_id))


@blp.route("/<string:task_id>/cancel", methods=["POST"])
def cancel_task(task_id):
    job = common.load_job(task_id)
    job = service.cancel(services(), current_tenant(), job["id"])
    return task_response(job), 200 if job["status"] == "cancelled" else 202
