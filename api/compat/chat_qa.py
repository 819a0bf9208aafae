"""Seed 001, the chat QA workflow: ``POST /api/v2/chat/qa/async``,
``GET /api/v2/chat/qa/task/{id}/status`` and the synchronous ``POST /api/v2/chat/qa``.

Runs the ``chat`` kind. Every answer, errors included, is the seed's
``{code, msg, data}`` envelope with ``code`` equal to the HTTP status.
Progress is 0-100; the finished result is nested as the seed showed it:
``data.result = {code: 200, msg: "success", data: {chat_meta, session_title,
messages, error}}``. ``maternal_id`` becomes the chat's ``user_id`` and
``file_id`` its ``file_ids``.
"""

from flask import jsonify, url_for
from marshmallow import EXCLUDE, Schema, fields, validate

from api import service
from api.auth import current_tenant
from api.compat import common
from api.extensions import Blueprint, services

KIND = "chat"
blp = Blueprint(
    "chat_qa",
    __name__,
    url_prefix="/api/v2/chat/qa",
    description="Compatibility: seed 001 (chat QA). See docs/compatibility.md.",
)
common.install_envelope(
    blp,
    lambda status, message, details: jsonify(
        {"code": status, "msg": message, "data": {"details": details} if details else None}
    ),
)


class QARequest(Schema):
    class Meta:
        unknown = EXCLUDE

    input = fields.String(required=True, validate=validate.Length(min=1))
    maternal_id = fields.Raw(allow_none=True)
    chat_id = fields.String(allow_none=True)
    user_type = fields.String(allow_none=True)
    timestamp = fields.String(allow_none=True)
    file_id = fields.List(fields.Raw(), load_default=list)


def envelope(data, msg: str, code: int = 200):
    return {"code": code, "msg": msg, "data": data}


def chat_input(body: dict) -> dict:
    job_input = {"input": body["input"], "file_ids": [str(f) for f in body["file_id"]]}
    if body.get("chat_id"):
        job_input["chat_id"] = body["chat_id"]
    if body.get("maternal_id") is not None:
        job_input["user_id"] = str(body["maternal_id"])
    if body.get("user_type"):
        job_input["user_type"] = body["user_type"]
    return job_input


def result_envelope(result: dict | None) -> dict:
    result = result or {}
    return envelope(
        {
            "chat_meta": result.get("chat_meta"),
            "session_title": result.get("session_title"),
            "messages": result.get("messages"),
            "error": None,
        },
        "success",
    )


def status_data(job: dict) -> dict:
    data = {
        "task_id": common.prefixed_id(job["id"]),
        "status": common.CANCELLED_AS_FAILED[job["status"]],
        "created_at": job["created_at"],
    }
    if job["started_at"]:
        data["started_at"] = job["started_at"]
    if job["finished_at"]:
        data["completed_at"] = job["finished_at"]
    data["progress"] = round(job["progress"].get("percentage") or 0)
    if job["status"] == "completed":
        data["result"] = result_envelope(job["result"])
    elif job["status"] in ("failed", "cancelled"):
        data["error"] = common.error_text(job)
    return data


def submit() -> dict:
    body = QARequest().load(common.json_body())
    job, _ = service.submit(services(), current_tenant(), kind=KIND, input=chat_input(body))
    return job


@blp.route("/async", methods=["POST"])
def qa_async():
    job = submit()
    task_id = common.prefixed_id(job["id"])
    return envelope(
        {
            "task_id": task_id,
            "status": "pending",
            "created_at": job["created_at"],
            "status_url": url_for("chat_qa.task_status", task_id=task_id),
        },
        "任务已创建，请使用task_id查询状态",
    )


@blp.route("/task/<string:task_id>/status", methods=["GET"])
def task_status(task_id):
    return envelope(status_data(common.load_job(task_id, (KIND,))), "获取任务状态成功")


@blp.route("", methods=["POST"])
def qa_sync():
    """The old synchronous call: submit, wait (bounded), answer with the result envelope."""
    job = common.wait_for(submit(), services().settings.sync_wait_seconds)
    task_id = common.prefixed_id(job["id"])
    if job["status"] == "completed":
        return result_envelope(job["result"])
    if job["status"] in ("failed", "cancelled"):
        return envelope({"task_id": task_id, "error": common.error_text(job)}, "AI处理失败", 502), 502
    status_url = url_for("chat_qa.task_status", task_id=task_id)
    return envelope(
        {"task_id": task_id, "status": job["status"], "status_url": status_url}, "处理超时，请使用task_id查询状态", 504
    ), 504
