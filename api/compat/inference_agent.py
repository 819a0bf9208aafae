"""Seed 004, the inference agent: ``POST /api/v1/task/inference`` and
``GET /api/v1/task/{id}``. (Its ``GET /api/v1/health`` is the core's, whose
body carries the seed's ``status``, ``version`` and ``tasks_count``.)

Runs the ``inference`` kind with the seed's ``{input, options}``. Ids are
dashed UUIDs as the seed showed; times are ISO 8601 without a zone (UTC),
microseconds included. Errors are FastAPI's: ``{"detail": ...}``, 422 for
bad input.
"""

from marshmallow import EXCLUDE, Schema, fields

from api import service
from api.auth import current_tenant
from api.compat import common
from api.extensions import Blueprint, services

KIND = "inference"
blp = Blueprint(
    "inference_agent",
    __name__,
    url_prefix="/api/v1/task",
    description="Compatibility: seed 004 (inference agent). See docs/compatibility.md.",
)
common.install_fastapi_envelope(blp)


class InferenceRequest(Schema):
    class Meta:
        unknown = EXCLUDE

    input = fields.String(required=True)
    options = fields.Dict(load_default=dict)


def task_body(job: dict) -> dict:
    return {
        "task_id": common.uuid_id(job["id"]),
        "status": common.CANCELLED_AS_FAILED[job["status"]],
        "result": job["result"],
        "created_at": common.naive_iso(common.epoch(job, "created_at")),
        "started_at": common.naive_iso(common.epoch(job, "started_at")),
        "completed_at": common.naive_iso(common.epoch(job, "finished_at")),
        "error": common.error_text(job) if job["status"] in ("failed", "cancelled") else None,
    }


@blp.route("/inference", methods=["POST"])
def create_inference():
    body = InferenceRequest().load(common.json_body())
    job, _ = service.submit(
        services(), current_tenant(), kind=KIND, input={"input": body["input"], "options": body["options"]}
    )
    return {"task_id": common.uuid_id(job["id"]), "status": "pending"}


@blp.route("/<string:task_id>", methods=["GET"])
def get_task(task_id):
    return task_body(common.load_job(task_id, (KIND,)))
