"""Seed 002, code from PDFs: ``POST /api/v1/generate/async`` (multipart),
``GET /api/v1/tasks/{id}``, ``GET /api/v1/tasks/{id}/result``, ``GET /api/v1/tasks``,
``DELETE /api/v1/tasks/{id}`` and the synchronous ``POST /api/v1/generate``.

Runs the ``codegen`` kind; its uploads go through api/uploads.py like any
multipart job. Statuses: pending / processing / completed / failed. Errors
are ``{"success": false, "error": message}``. The result is JSON, or the
code as a file with ``?download=true`` (or ``?format=file``, or an ``Accept``
header that does not take JSON).
"""

from flask import jsonify, request, send_file, url_for

from api import service, uploads
from api.auth import current_tenant
from api.compat import common
from api.extensions import Blueprint, services
from longrun.errors import InvalidInput, JobNotFinished
from tasks.registry import KINDS

KIND = "codegen"
STATUS = {
    "scheduled": "pending",
    "pending": "pending",
    "running": "processing",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "failed",
}
QUERY_STATUS = {
    "pending": "pending",
    "processing": "running",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}
ESTIMATED_TIME = "60-180 seconds"

blp = Blueprint(
    "pdf_codegen",
    __name__,
    url_prefix="/api/v1",
    description="Compatibility: seed 002 (code from PDFs). See docs/compatibility.md.",
)


def _error(status, message, details):
    body = {"success": False, "error": message}
    if details:
        body["details"] = details
    return jsonify(body)


common.install_envelope(blp, _error)


def submit_upload() -> dict:
    form = request.form
    instruction = (form.get("instruction") or "").strip()
    if not instruction:
        raise InvalidInput("instruction is required", details={"instruction": ["required"]})
    job_input = {"instruction": instruction, "language": (form.get("language") or "c").strip() or "c"}
    job, _ = uploads.submit(services(), current_tenant(), kind=KIND, input=job_input, files=request.files)
    return job


def task_body(job: dict) -> dict:
    progress = job["progress"]
    started, finished = common.epoch(job, "started_at"), common.epoch(job, "finished_at")
    task_id = common.prefixed_id(job["id"])
    body = {
        "success": True,
        "task_id": task_id,
        "status": STATUS[job["status"]],
        "progress": {
            "current_step": progress.get("current_step") or 0,
            "total_steps": progress.get("total_steps") or len(KINDS["codegen"].steps),
            "step_name": progress.get("step_name"),
            "percentage": round(progress.get("percentage") or 0),
        },
        "created_at": job["created_at"],
        "started_at": job["started_at"],
        "completed_at": job["finished_at"],
        "processing_time": round(finished - started, 3) if started and finished else None,
        "error": common.error_text(job) if job["status"] in ("failed", "cancelled") else None,
        "instruction": job["input"].get("instruction"),
    }
    if job["status"] == "completed":
        body["result_url"] = url_for("pdf_codegen.task_result", task_id=task_id)
    return body


def wants_file() -> bool:
    if request.args.get("download", "").lower() in ("1", "true", "yes") or request.args.get("format") == "file":
        return True
    accept = request.accept_mimetypes
    return bool(accept) and not accept.accept_json and accept.best not in (None, "*/*")


@blp.route("/generate/async", methods=["POST"])
def generate_async():
    job = submit_upload()
    task_id = common.prefixed_id(job["id"])
    return {
        "success": True,
        "task_id": task_id,
        "status": "accepted",
        "message": "任务已提交，请轮询任务状态",
        "estimated_time": ESTIMATED_TIME,
        "status_url": url_for("pdf_codegen.task_status", task_id=task_id),
        "result_url": url_for("pdf_codegen.task_result", task_id=task_id),
    }, 202


@blp.route("/generate", methods=["POST"])
def generate_sync():
    """The old synchronous call: submit, wait (bounded), answer with the code."""
    job = common.wait_for(submit_upload(), services().settings.sync_wait_seconds)
    task_id = common.prefixed_id(job["id"])
    if job["status"] == "completed":
        return {"success": True, "task_id": task_id, **job["result"]}
    if job["status"] in ("failed", "cancelled"):
        return {"success": False, "task_id": task_id, "error": common.error_text(job)}, 502
    return {
        "success": False,
        "task_id": task_id,
        "status": STATUS[job["status"]],
        "error": f"generation did not finish within {services().settings.sync_wait_seconds}s; poll the status_url",
        "status_url": url_for("pdf_codegen.task_status", task_id=task_id),
    }, 504


@blp.route("/tasks", methods=["GET"])
def list_tasks():
    status = request.args.get("status")
    if status is not None and status not in QUERY_STATUS:
        raise InvalidInput(
            f"status must be one of: {', '.join(QUERY_STATUS)}",
            details={"status": [f"must be one of: {', '.join(QUERY_STATUS)}"]},
        )
    try:
        limit = int(request.args.get("limit", 50))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be a whole number from 1 to 1000", details={"limit": ["1-1000"]})
    svc, tenant = services(), current_tenant()
    jobs = common.list_kind(KIND, QUERY_STATUS.get(status) if status else None, limit)
    counts = svc.store.counts(tenant)
    stats = {
        "total": sum(counts.values()),
        "pending": counts["pending"],
        "processing": counts["running"],
        "completed": counts["completed"],
        "failed": counts["failed"] + counts["cancelled"],
        "queue_length": svc.store.queue_lengths([KIND])[KIND],
        "current_processing": counts["running"],
    }
    return {"success": True, "total": len(jobs), "tasks": [task_body(job) for job in jobs], "stats": stats}


@blp.route("/tasks/<string:task_id>", methods=["GET"])
def task_status(task_id):
    return task_body(common.load_job(task_id, (KIND,)))


@blp.route("/tasks/<string:task_id>", methods=["DELETE"])
def delete_task(task_id):
    job = common.load_job(task_id, (KIND,))
    service.delete(services(), current_tenant(), job["id"])
    return {"success": True, "message": "任务及结果文件已删除", "task_id": common.prefixed_id(job["id"])}


@blp.route("/tasks/<string:task_id>/result", methods=["GET"])
def task_result(task_id):
    job = common.load_job(task_id, (KIND,))
    if job["status"] != "completed":
        raise JobNotFinished(
            f"task {task_id} is {STATUS[job['status']]}; its result is not ready",
            details={"status": STATUS[job["status"]]},
        )
    result = job["result"]
    if wants_file():
        name = result["metadata"]["artifact"]
        path = service.artifact_path(services(), current_tenant(), job["id"], name)
        return send_file(path, as_attachment=True, download_name=name, mimetype="text/plain")
    return {"success": True, "task_id": common.prefixed_id(job["id"]), **result}
