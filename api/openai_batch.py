"""OpenAI's Batch API (``/v1/files``, ``/v1/batches``) over Longrun's batches.

Code written for OpenAI's batch endpoint runs here unchanged but for
``base_url`` and ``api_key`` (the Longrun API key, sent as ``Authorization:
Bearer``). An input file's lines are checked the way OpenAI checks them (bad
JSON, duplicate ``custom_id``, a ``url`` other than the batch's endpoint, a
body without messages): any bad line makes a ``failed`` batch whose ``errors``
list each line, and nothing runs. Otherwise every line becomes one
``chat_completion`` job of a native batch (the same batch id in both APIs), so
the requests spread over every worker against the configured backend
(LLM_BASE_URL, each body's ``model`` passed through).

The output and error files are not written at the end: they are views of the
batch's jobs, rendered line by line when downloaded. Errors use OpenAI's
envelope ``{"error": {"message", "type", "param", "code"}}``. See docs/batches.md.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, jsonify, request, stream_with_context

from api import batch_service, service
from api.auth import current_tenant
from api.compat.common import install_envelope
from api.extensions import services
from longrun import keys
from longrun.batches import CHUNK
from longrun.errors import BatchNotFound, InvalidInput
from longrun.jobstore import document
from longrun.states import BatchStatus, JobStatus

blp = Blueprint("openai_batch", __name__, url_prefix="/v1")

ENDPOINT = "/v1/chat/completions"
KIND = "chat_completion"
WINDOWS = {"24h": 24 * 3600}
FILE_PREFIX = "file-"
OUTPUT, ERRORS = "output", "errors"
MAX_LINE_ERRORS = 100
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    410: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_exceeded",
}
ERROR_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}


def _render(status: int, message: str, details: dict):
    param = next(iter(details), None) if isinstance(details, dict) else None
    body = {
        "message": message,
        "type": ERROR_TYPES.get(status, "server_error"),
        "param": param if isinstance(param, str) else None,
        "code": ERROR_CODES.get(status),
    }
    return jsonify({"error": body})


install_envelope(blp, _render)


def register(app) -> None:
    app.register_blueprint(blp)


def invalid(message: str, param: str | None = None) -> InvalidInput:
    return InvalidInput(message, details={param: [message]} if param else {})


def _epoch(value) -> int | None:
    return int(float(value)) if value not in (None, "") else None


# -- files --------------------------------------------------------------------


def _file_object(record: dict) -> dict:
    return {
        "id": record["id"],
        "object": "file",
        "bytes": int(record["bytes"]),
        "created_at": _epoch(record["created_at"]),
        "filename": record["filename"],
        "purpose": record["purpose"],
        "status": "processed",
        "expires_at": _epoch(record.get("expires_at")),
        "status_details": None,
    }


def _virtual_file(tenant: str, file_id: str) -> tuple[dict, str, str] | None:
    """An output/error file id -> (batch record, batch id, which) when its batch is the tenant's and final."""
    rest = file_id[len(FILE_PREFIX) :]
    which, _, hexid = rest.partition("-")
    if which not in (OUTPUT, ERRORS) or not hexid:
        return None
    bid = "batch_" + hexid
    try:
        record = batch_service.batches(services()).load(bid, tenant)
    except BatchNotFound:
        return None
    if _virtual_ids(record).get(which) != file_id or record.get(f"{which}_deleted"):
        return None
    return record, bid, which


def _load_file(file_id: str) -> dict:
    redis = services().store.redis
    record = redis.hgetall(keys.file(file_id)) if file_id.startswith(FILE_PREFIX) else {}
    if not record or record.get("tenant") != current_tenant():
        raise BatchNotFound(f"No such File object: {file_id}", details={"file_id": ["not found"]})
    return record


@blp.post("/files")
def create_file():
    purpose = request.form.get("purpose")
    upload = request.files.get("file")
    if upload is None:
        raise invalid("a file is required (multipart field 'file')", "file")
    if purpose != "batch":
        raise invalid(f"purpose must be 'batch' here (got {purpose!r}); only batch input files are kept", "purpose")
    data = upload.read()
    svc = services()
    now = time.time()
    file_id = FILE_PREFIX + uuid.uuid4().hex
    ttl = svc.settings.retention_seconds
    record = {
        "id": file_id,
        "tenant": current_tenant(),
        "bytes": len(data),
        "created_at": f"{now:.6f}",
        "filename": upload.filename or "input.jsonl",
        "purpose": purpose,
    }
    if ttl:
        record["expires_at"] = f"{now + ttl:.6f}"
    pipe: Any = svc.store.redis.pipeline(transaction=True)
    pipe.hset(keys.file(file_id), mapping=record)
    pipe.set(keys.file_data(file_id), data)
    pipe.zadd(keys.tenant_files(current_tenant()), {file_id: int(now * 1e6)})
    if ttl:
        pipe.expire(keys.file(file_id), ttl)
        pipe.expire(keys.file_data(file_id), ttl)
    pipe.execute()
    return jsonify(_file_object({k: str(v) for k, v in record.items()}))


@blp.get("/files")
def list_files():
    limit = _limit()
    redis: Any = services().store.redis  # decode_responses=True: replies are str
    index = keys.tenant_files(current_tenant())
    ids = redis.zrevrange(index, 0, -1)
    after = request.args.get("after")
    if after:
        ids = ids[ids.index(after) + 1 :] if after in ids else []
    if request.args.get("order") == "asc":
        ids = ids[::-1]
    pipe = redis.pipeline(transaction=False)
    page = ids[: limit + 1]
    for file_id in page:
        pipe.hgetall(keys.file(file_id))
    records = pipe.execute()
    gone = [file_id for file_id, record in zip(page, records, strict=True) if not record]
    if gone:  # expired since they were indexed
        redis.zrem(index, *gone)
    data = [_file_object(r) for r in records if r]
    purpose = request.args.get("purpose")
    if purpose:
        data = [f for f in data if f["purpose"] == purpose]
    return jsonify(_page(data[:limit], len(data) > limit))


@blp.get("/files/<file_id>")
def get_file(file_id):
    virtual = _virtual_file(current_tenant(), file_id)
    if virtual:
        record, bid, which = virtual
        return jsonify(
            {
                "id": file_id,
                "object": "file",
                "bytes": 0,
                "created_at": _epoch(record.get("finished_at")),
                "filename": f"{bid}_{which}.jsonl",
                "purpose": "batch_output",
                "status": "processed",
                "expires_at": None,
                "status_details": None,
            }
        )
    return jsonify(_file_object(_load_file(file_id)))


@blp.get("/files/<file_id>/content")
def file_content(file_id):
    virtual = _virtual_file(current_tenant(), file_id)
    if virtual:
        record, bid, which = virtual
        return Response(stream_with_context(_output_lines(record, bid, which)), mimetype="application/jsonl")
    _load_file(file_id)
    data = services().store.redis.get(keys.file_data(file_id)) or ""
    return Response(data, mimetype="application/jsonl")


@blp.delete("/files/<file_id>")
def delete_file(file_id):
    redis = services().store.redis
    virtual = _virtual_file(current_tenant(), file_id)
    if virtual:
        redis.hset(keys.batch(virtual[1]), f"{virtual[2]}_deleted", "1")
    else:
        _load_file(file_id)
        pipe = redis.pipeline(transaction=False)
        pipe.delete(keys.file(file_id), keys.file_data(file_id))
        pipe.zrem(keys.tenant_files(current_tenant()), file_id)
        pipe.execute()
    return jsonify({"id": file_id, "object": "file", "deleted": True})


# -- batches ------------------------------------------------------------------


def check_lines(data: str, endpoint: str) -> tuple[list[dict], list[dict]]:
    """The input file's requests as batch items, and OpenAI-style errors for its bad lines."""
    items: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()

    def bad(code: str, line: int, message: str, param: str | None = None) -> None:
        if len(errors) < MAX_LINE_ERRORS:
            errors.append({"code": code, "line": line, "message": message, "param": param})

    for number, text in enumerate(data.splitlines(), 1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
        except ValueError:
            line = None
        if not isinstance(line, dict):
            bad("invalid_json_line", number, "This line is not parseable as valid JSON.")
            continue
        custom_id = line.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            bad("missing_required_parameter", number, "Missing required parameter: 'custom_id'.", "custom_id")
            continue
        if custom_id in seen:
            bad(
                "duplicate_custom_id",
                number,
                f"The custom_id for this request is a duplicate of another request: {custom_id!r}.",
                "custom_id",
            )
            continue
        seen.add(custom_id)
        if line.get("method", "POST") != "POST":
            bad("invalid_request", number, "The method for this request must be 'POST'.", "method")
            continue
        if line.get("url") != endpoint:
            bad(
                "url_mismatch",
                number,
                f"The provided url for this request does not match the batch endpoint {endpoint!r}.",
                "url",
            )
            continue
        try:  # the kind's own schema, as a single submit would check it
            service.validate_input(KIND, {"body": line.get("body"), "custom_id": custom_id})
        except InvalidInput as exc:
            bad("invalid_request", number, exc.message.removeprefix("invalid input: "), "body")
            continue
        items.append({"custom_id": custom_id, "body": line["body"]})
    if not items and not errors:
        bad("empty_file", 0, "The batch input file is empty.")
    return items, errors


def _virtual_ids(record: dict) -> dict:
    """The output/error file ids a finished batch has (OpenAI leaves out a file with no lines)."""
    if not BatchStatus(record["status"]).is_final or record.get("openai_errors"):
        return {}
    hexid = record["id"][len("batch_") :]
    out = {}
    if int(record.get("completed") or 0):
        out[OUTPUT] = f"{FILE_PREFIX}{OUTPUT}-{hexid}"
    if int(record.get("failed") or 0) + int(record.get("cancelled") or 0):
        out[ERRORS] = f"{FILE_PREFIX}{ERRORS}-{hexid}"
    return out


def openai_status(record: dict) -> str:
    if record.get("openai_errors"):
        return "failed"
    status = BatchStatus(record["status"])
    if record.get("expired_at"):
        return "expired" if status.is_final else "cancelling"
    if status == BatchStatus.CANCELLED:
        return "cancelled"
    if status == BatchStatus.COMPLETED:
        return "completed"
    return "cancelling" if record.get("cancel_requested") == "1" else "in_progress"


def batch_object(record: dict) -> dict:
    status = openai_status(record)
    created, finished = _epoch(record.get("created_at")), _epoch(record.get("finished_at"))
    files = _virtual_ids(record)
    total = int(record.get("total") or 0)
    errors = json.loads(record["openai_errors"]) if record.get("openai_errors") else None
    return {
        "id": record["id"],
        "object": "batch",
        "endpoint": record.get("endpoint", ENDPOINT),
        "errors": {"object": "list", "data": errors} if errors is not None else None,
        "input_file_id": record.get("input_file_id"),
        "completion_window": record.get("completion_window", "24h"),
        "status": status,
        "output_file_id": None if record.get("output_deleted") else files.get(OUTPUT),
        "error_file_id": None if record.get("errors_deleted") else files.get(ERRORS),
        "created_at": created,
        "in_progress_at": None if errors is not None else created,
        "expires_at": _epoch(record.get("expires_at")),
        "finalizing_at": finished if status in ("completed", "expired") else None,
        "completed_at": finished if status == "completed" else None,
        "failed_at": created if status == "failed" else None,
        "expired_at": _epoch(record.get("expired_at")),
        "cancelling_at": _epoch(record.get("cancelling_at")),
        "cancelled_at": finished if status == "cancelled" else None,
        "request_counts": {
            "total": total,
            "completed": int(record.get("completed") or 0),
            "failed": int(record.get("failed") or 0) + int(record.get("cancelled") or 0),
        },
        "metadata": json.loads(record.get("metadata") or "{}") or None,
        "model": record.get("model") or None,
    }


def _load_batch(bid: str) -> dict:
    record = batch_service.batches(services()).load(bid, current_tenant())
    if record.get("openai") != "1":  # a native batch is not an OpenAI batch object
        raise BatchNotFound(f"No such Batch object: {bid}")
    return record


@blp.post("/batches")
def create_batch():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise invalid("the body must be a JSON object")
    for name in ("input_file_id", "endpoint", "completion_window"):
        if not isinstance(body.get(name), str):
            raise invalid(f"Missing required parameter: '{name}'.", name)
    if body["endpoint"] != ENDPOINT:
        raise invalid(f"endpoint must be {ENDPOINT!r}: the only endpoint this server batches", "endpoint")
    window = WINDOWS.get(body["completion_window"])
    if window is None:
        raise invalid("completion_window must be '24h'", "completion_window")
    metadata = body.get("metadata") or {}
    if (
        not isinstance(metadata, dict)
        or len(metadata) > 16
        or any(not isinstance(v, str) or len(k) > 64 or len(v) > 512 for k, v in metadata.items())
    ):
        raise invalid(
            "metadata must be at most 16 string pairs (keys up to 64, values up to 512 characters)", "metadata"
        )
    file_record = _load_file(body["input_file_id"])
    data = str(services().store.redis.get(keys.file_data(file_record["id"])) or "")
    items, errors = check_lines(data, body["endpoint"])
    now = time.time()
    extra = {
        "openai": "1",
        "input_file_id": file_record["id"],
        "endpoint": body["endpoint"],
        "completion_window": body["completion_window"],
        "expires_at": f"{now + window:.6f}",
        "model": next((i["body"].get("model") for i in items if i["body"].get("model")), ""),
    }
    svc = services()
    store = batch_service.batches(svc)
    if errors:
        extra["openai_errors"] = json.dumps(errors)
        bid = store.record_failed(current_tenant(), KIND, metadata=metadata, extra=extra)
        return jsonify(batch_object(store.load(bid)))
    doc, _ = batch_service.submit(svc, current_tenant(), kind=KIND, items=items, metadata=metadata, extra=extra)
    store.redis.zadd(keys.BATCH_DEADLINES, {doc["id"]: now + window})
    return jsonify(batch_object(store.load(doc["id"])))


def _limit() -> int:
    try:
        limit = int(request.args.get("limit", 20))
    except ValueError:
        raise invalid("limit must be an integer", "limit") from None
    if not 1 <= limit <= 100:
        raise invalid("limit must be between 1 and 100", "limit")
    return limit


def _page(data: list[dict], has_more: bool) -> dict:
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


@blp.get("/batches")
def list_batches():
    limit = _limit()
    redis: Any = services().store.redis  # decode_responses=True: replies are str
    cursor = "+inf"
    after = request.args.get("after")
    if after:
        score = redis.zscore(keys.tenant_batches(current_tenant()), after)
        cursor = f"({int(score)}" if score is not None else "-inf"
    found: list[dict] = []
    # Newest first, OpenAI batches only (native batches share the index).
    while len(found) <= limit:
        ids = redis.zrevrangebyscore(
            keys.tenant_batches(current_tenant()), cursor, "-inf", start=0, num=100, withscores=True
        )
        if not ids:
            break
        pipe = redis.pipeline(transaction=False)
        for bid, _ in ids:
            pipe.hgetall(keys.batch(bid))
        for (_, score), record in zip(ids, pipe.execute(), strict=True):
            cursor = f"({int(score)}"
            if record and record.get("openai") == "1":
                found.append(batch_object(record))
        if len(ids) < 100:
            break
    return jsonify(_page(found[:limit], len(found) > limit))


@blp.get("/batches/<batch_id>")
def get_batch(batch_id):
    return jsonify(batch_object(_load_batch(batch_id)))


@blp.post("/batches/<batch_id>/cancel")
def cancel_batch(batch_id):
    record = _load_batch(batch_id)
    store = batch_service.batches(services())
    if openai_status(record) in ("in_progress", "cancelling"):
        store.redis.hsetnx(keys.batch(batch_id), "cancelling_at", f"{time.time():.6f}")
        store.cancel(batch_id, current_tenant())
    elif openai_status(record) != "cancelled":
        raise InvalidInput(f"Cannot cancel a batch with status '{openai_status(record)}'.")
    return jsonify(batch_object(store.load(batch_id)))


# -- output and error files ---------------------------------------------------


def _output_lines(record: dict, bid: str, which: str) -> Iterator[str]:
    """The batch's output (2xx answers) or error lines, in input order, as OpenAI writes them."""
    store = batch_service.batches(services())
    expired = bool(record.get("expired_at"))
    position = 0
    while ids := store.job_ids(bid, position, position + CHUNK - 1):
        position += len(ids)
        for raw in store.records(ids):
            if not raw:
                continue
            job = document(raw)
            line = output_line(job, expired)
            if line is not None and (line["error"] is None and line["response"]["status_code"] < 400) == (
                which == OUTPUT
            ):
                yield json.dumps(line, separators=(",", ":")) + "\n"


def output_line(job: dict, expired: bool = False) -> dict | None:
    """One line of the output or error file for a finished job; None while it is not final."""
    status = JobStatus(job["status"])
    if not status.is_final:
        return None
    custom_id = job["input"].get("custom_id")
    line = {"id": "batch_req_" + job["id"], "custom_id": custom_id, "response": None, "error": None}
    if status == JobStatus.COMPLETED and isinstance(job["result"], dict):
        line["response"] = {
            "status_code": job["result"].get("status_code", 200),
            "request_id": job["id"],
            "body": job["result"].get("body"),
        }
        return line
    details = (job["error"] or {}).get("details") or {}
    if status == JobStatus.FAILED and "status_code" in details:
        line["response"] = {"status_code": details["status_code"], "request_id": job["id"], "body": details.get("body")}
        return line
    if status == JobStatus.CANCELLED:
        line["error"] = (
            {
                "code": "batch_expired",
                "message": "This request could not be executed before the completion window expired.",
            }
            if expired
            else {
                "code": "batch_cancelled",
                "message": "This request was not executed because the batch was cancelled.",
            }
        )
        return line
    error = job["error"] or {}
    line["error"] = {"code": "server_error", "message": error.get("message") or "the request failed"}
    return line
