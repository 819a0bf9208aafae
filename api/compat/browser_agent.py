"""Seed 000, the browser agent: ``POST /run_task``, ``GET /task_status/{id}``,
``GET /list_tasks``, ``DELETE /clear_completed_tasks``.

Runs the ``browser`` kind in agent mode. Its fields are the seed's own
(``cdp_url`` and the LLM ``host`` pass the URL rules: honoured only when
allow-listed). Errors are FastAPI's: ``{"detail": ...}``, 422 for bad input.
Ids are ``task_<32 hex>``; progress is a 0-1 fraction; times are epoch seconds.
"""

from marshmallow import EXCLUDE, Schema, fields, validate

from api import service
from api.auth import current_tenant
from api.compat import common
from api.extensions import Blueprint, services

KIND = "browser"
blp = Blueprint(
    "browser_agent",
    __name__,
    url_prefix="",
    description="Compatibility: seed 000 (browser agent). See docs/compatibility.md.",
)
common.install_fastapi_envelope(blp)


class RunTaskRequest(Schema):
    class Meta:
        unknown = EXCLUDE  # the seed ignored fields it did not know

    task = fields.String(required=True, validate=validate.Length(min=1))
    max_steps = fields.Integer(load_default=20)
    cdp_url = fields.String(allow_none=True)
    model = fields.String(allow_none=True)
    host = fields.String(allow_none=True)
    headless = fields.Boolean()
    verbose = fields.Boolean()
    timeout = fields.Float(allow_none=True)


def status_body(job: dict) -> dict:
    result = job["result"]
    if isinstance(result, dict) and result.get("answer") is not None:
        result = result["answer"]  # the agent's final answer, as the seed returned it
    progress = job["progress"]
    return {
        "task_id": common.prefixed_id(job["id"]),
        "status": common.CANCELLED_AS_FAILED[job["status"]],
        "progress": round((progress.get("percentage") or 0) / 100, 4),
        "message": progress.get("message") or progress.get("step_name") or job["status"],
        "result": result,
        "error": common.error_text(job) if job["status"] in ("failed", "cancelled") else None,
        # The seed started a task as it accepted it: start_time is the submission.
        "start_time": common.epoch(job, "created_at"),
        "end_time": common.epoch(job, "finished_at"),
    }


@blp.route("/run_task", methods=["POST"])
def run_task():
    body = RunTaskRequest().load(common.json_body())
    job_input = {k: v for k, v in body.items() if v is not None}
    job, _ = service.submit(services(), current_tenant(), kind=KIND, input=job_input)
    task_id = common.prefixed_id(job["id"])
    return {"success": True, "message": f"任务已提交，任务ID: {task_id}", "task_id": task_id}


@blp.route("/task_status/<string:task_id>", methods=["GET"])
def task_status(task_id):
    return status_body(common.load_job(task_id, (KIND,)))


@blp.route("/list_tasks", methods=["GET"])
def list_tasks():
    jobs = common.list_kind(KIND)
    summary = {"pending": 0, "running": 0, "completed": 0, "failed": 0}
    for job in jobs:
        summary[common.CANCELLED_AS_FAILED[job["status"]]] += 1
    return {"total": len(jobs), "tasks": [common.prefixed_id(job["id"]) for job in jobs], "status_summary": summary}


@blp.route("/clear_completed_tasks", methods=["DELETE"])
def clear_completed_tasks():
    finished = [job for job in common.list_kind(KIND) if job["status"] in ("completed", "failed", "cancelled")]
    for job in finished:
        service.delete(services(), current_tenant(), job["id"])
    return {"success": True, "message": f"已清理 {len(finished)} 个已完成的任务", "cleared_count": len(finished)}
