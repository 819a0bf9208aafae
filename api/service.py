"""What the routes do, as plain functions over the job store and Celery.

Core routes and the seed compatibility adapters both call these, so there is
one job system with several faces.
"""

import json
import logging
import time
from functools import cache, lru_cache
from typing import cast

import redis
from kombu.exceptions import OperationalError
from kombu.transport import get_transport_cls
from marshmallow import ValidationError

from longrun import flow, redis_conn, replay
from longrun.errors import (
    CannotCapture,
    IdempotencyConflict,
    InvalidInput,
    InvalidUpload,
    JobAlreadyFinished,
    JobHasNoResult,
    JobNotFinished,
    JobNotFound,
    QueueFull,
    ServiceUnavailable,
    UnknownKind,
    redis_errors_as_unavailable,
)
from longrun.jobstore import document, new_job_id
from longrun.states import JobStatus
from longrun.webhooks import validate_webhook
from tasks.registry import KINDS
from workers import broker
from workers.publish import publish_job

log = logging.getLogger(__name__)

# What publishing raises when the broker cannot be reached (kombu wraps some, not all).
PUBLISH_ERRORS = (OperationalError, redis.RedisError, OSError)
NOT_ACCEPTED = "the job queue is unreachable; the job was not accepted"


@cache
def _input_schema(kind_name: str):
    # One instance per kind and process: building a schema costs more than a load.
    return KINDS[kind_name].input_schema()


def kind_or_error(kind_name: str):
    kind = KINDS.get(kind_name)
    if kind is None:
        known = ", ".join(sorted(KINDS))
        raise UnknownKind(
            f"unknown kind {kind_name!r}; known kinds: {known}", details={"kind": [f"must be one of: {known}"]}
        )
    return kind


def validate_input(kind_name: str, raw_input: dict) -> dict:
    kind_or_error(kind_name)
    try:
        return _input_schema(kind_name).load(raw_input)
    except ValidationError as exc:
        raise InvalidInput(
            "invalid input: "
            + "; ".join(
                f"input.{k}: {v[0] if isinstance(v, list) else v}" for k, v in cast(dict, exc.messages).items()
            ),
            details={"input": exc.messages},
        ) from None


def resolve_timeout(settings, timeout_seconds: int | None) -> int:
    timeout = timeout_seconds or settings.default_timeout_seconds
    if timeout > settings.max_timeout_seconds:
        raise InvalidInput(
            f"timeout_seconds must be at most {settings.max_timeout_seconds}",
            details={"timeout_seconds": [f"must be at most {settings.max_timeout_seconds}"]},
        )
    return timeout


def check_run_at(settings, run_at: float | None) -> None:
    if run_at is not None and run_at - time.time() > settings.max_delay_seconds:
        message = f"a job may start at most {settings.max_delay_seconds} seconds from now"
        raise InvalidInput(message, details={"run_at": [message]})


def queue_full(kind: str, depth: int, limit: int) -> QueueFull:
    """503 + Retry-After: the kind's queue holds max_queue_depth messages (checked by create.lua)."""
    return QueueFull(
        f"overloaded: the {kind} queue holds {depth} jobs (limit {limit}); try again later",
        details={"kind": kind, "queued": depth},
    )


def enqueue(svc, job_id: str, kind: str, priority: int, timeout: int) -> None:
    """Publish the job's message: only its id travels through the broker."""
    publish_job(svc.celery, svc.settings, job_id, kind, priority, timeout)


@lru_cache(maxsize=8)
def _publishes_through_broker_module(celery_app) -> bool:
    with celery_app.connection_for_write() as conn:  # builds no socket
        return issubclass(cast(type, get_transport_cls(conn.transport_cls)), broker.CAPTURING_TRANSPORTS)


def prepare_message(svc, job_id: str, kind: str, priority: int, timeout: int) -> tuple[str, str] | None:
    """The job's broker message as (list key, payload), for the create script
    to push; None when the broker is not the job store's Redis."""
    if not redis_conn.broker_is_store(svc.settings) or not _publishes_through_broker_module(svc.celery):
        return None

    def build(any_id: str) -> tuple[str, str] | None:
        try:
            with broker.capture() as messages:
                enqueue(svc, any_id, kind, priority, timeout)
        except CannotCapture:
            return None
        return messages[0] if len(messages) == 1 else None

    # Celery builds a kind's message once per process; each job's is that one with its id.
    return broker.TEMPLATES.message((id(svc.celery), kind, priority, timeout), job_id, build)


def submit(
    svc,
    tenant: str,
    *,
    kind: str,
    input: dict,
    priority: int = 0,
    timeout_seconds: int | None = None,
    metadata: dict | None = None,
    idempotency_key: str | None = None,
    request_hash: str = "",
    job_id: str | None = None,
    extra: dict | None = None,
    webhook: dict | None = None,
    files_stored: bool = False,
    run_at: float | None = None,
) -> tuple[dict, bool]:
    """Validate, record and enqueue a job; returns (job document, newly created).

    Kinds that take files go through ``api.uploads.submit``, which stores them
    first and passes ``files_stored``. ``run_at`` (epoch seconds, from
    ``run_at`` or ``delay_seconds``) makes a delayed job (docs/flow-control.md).
    """
    if kind_or_error(kind).file_fields and not files_stored:
        files = ", ".join(KINDS[kind].file_fields)
        raise InvalidUpload(
            f"kind {kind!r} takes files ({files}): send multipart/form-data",
            details={name: ["a file is required"] for name in KINDS[kind].file_fields},
        )
    job_input = validate_input(kind, input)
    timeout = resolve_timeout(svc.settings, timeout_seconds)
    check_run_at(svc.settings, run_at)
    if webhook:
        extra = {**(extra or {}), "webhook": json.dumps(validate_webhook(svc.settings, webhook))}
    job_id = job_id or new_job_id()
    with redis_errors_as_unavailable(NOT_ACCEPTED, errors=PUBLISH_ERRORS):
        message = prepare_message(svc, job_id, kind, priority, timeout)
    job_id, outcome, record = svc.store.create(
        tenant=tenant,
        kind=kind,
        input=job_input,
        priority=priority,
        timeout_seconds=timeout,
        metadata=metadata,
        job_id=job_id,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        extra=extra,
        message=message,
        max_queue_depth=svc.settings.max_queue_depth,  # backpressure, checked in the same script
        flow=svc.settings.fair_dispatch == "on",
        run_at=run_at,
    )
    if outcome == "full":
        raise queue_full(kind, record["queued"], svc.settings.max_queue_depth)
    if outcome == "conflict":
        raise IdempotencyConflict("this Idempotency-Key was used with a different request", details={"job_id": job_id})
    if outcome == "existing":
        return svc.store.get(job_id, tenant), False
    if message is not None or record["status"] == JobStatus.SCHEDULED:
        # Pushed (or held, or kept until run_at) by the create script with the record.
        return document(record), True
    try:
        with redis_errors_as_unavailable(NOT_ACCEPTED, errors=PUBLISH_ERRORS):
            enqueue(svc, job_id, kind, priority, timeout)
    except ServiceUnavailable:
        # Never leave a record that no message will ever run.
        try:
            svc.store.delete(job_id, tenant)
        except Exception:
            log.warning("could not remove unpublished job %s", job_id)
        raise
    return document(record), True


def get(svc, tenant: str, job_id: str) -> dict:
    return svc.store.get(job_id, tenant)


def wait(svc, tenant: str, job_id: str, seconds: float) -> dict:
    svc.store.wait_final(job_id, seconds)
    return svc.store.get(job_id, tenant)


def result(svc, tenant: str, job_id: str) -> dict:
    job = svc.store.get(job_id, tenant)
    if job["status"] == JobStatus.COMPLETED:
        return job
    if JobStatus(job["status"]).is_final:
        raise JobHasNoResult(
            f"job {job_id} is {job['status']} and has no result",
            details={"status": job["status"], "error": job["error"]},
        )
    raise JobNotFinished(f"job {job_id} is {job['status']}; its result is not ready", details={"status": job["status"]})


def cancel(svc, tenant: str, job_id: str) -> dict:
    svc.store.load(job_id, tenant)  # 404 for other tenants before anything changes
    verdict = svc.store.request_cancel(job_id)
    if verdict == "gone":
        raise JobNotFound(f"no job with id {job_id}")
    if verdict.startswith("final:"):
        status = verdict.partition(":")[2]
        raise JobAlreadyFinished(f"job {job_id} already {status}", details={"status": status})
    job = svc.store.get(job_id, tenant)
    job["cancel_requested"] = True
    return job


def delete(svc, tenant: str, job_id: str) -> None:
    svc.store.delete(job_id, tenant)
    svc.artifacts.delete_job(job_id)


def clear(svc, tenant: str, status: str) -> int:
    ids = svc.store.clear(tenant, JobStatus(status))
    for job_id in ids:
        svc.artifacts.delete_job(job_id)
    return len(ids)


def list_jobs(svc, tenant: str, *, status=None, kind=None, limit=20, cursor=None) -> dict:
    jobs, next_cursor = svc.store.list_jobs(
        tenant, status=status, kind=kind, limit=limit, cursor=int(cursor) if cursor else None
    )
    return {"jobs": jobs, "next_cursor": str(next_cursor) if next_cursor else None, "stats": stats(svc, tenant)}


def stats(svc, tenant: str) -> dict:
    counts = svc.store.counts(tenant)
    with redis_errors_as_unavailable():
        mine = flow.tenant_counts(svc.store.redis, tenant, KINDS)
        oldest = flow.oldest_waiting_seconds(svc.store.redis, KINDS)
    return {
        "counts": counts,
        "queues": svc.store.queue_lengths(KINDS),
        "running": counts["running"],
        "waiting": mine["waiting"],
        "held": mine["held"],
        "scheduled": mine["scheduled"],
        "oldest_waiting_seconds": oldest,
    }


def artifact_path(svc, tenant: str, job_id: str, name: str):
    svc.store.load(job_id, tenant)
    try:
        return svc.artifacts.open(job_id, name)
    except FileNotFoundError:
        raise JobNotFound(f"job {job_id} has no file {name!r}") from None


def artifact_names(svc, tenant: str, job_id: str) -> list[str]:
    svc.store.load(job_id, tenant)
    return svc.artifacts.names(job_id)


# -- retry and replay (longrun/replay.py) ----------------------------------

# How long POST /api/v1/jobs/retry goes through matching jobs itself before the janitor takes over.
REPLAY_REQUEST_BUDGET_SECONDS = 1.0


def _file_fields(kind: str) -> tuple[str, ...]:
    found = KINDS.get(kind)
    return found.file_fields if found else ()


def _publisher(svc):
    def publish(job_id: str, kind: str, priority: int, timeout: int) -> None:
        with redis_errors_as_unavailable(NOT_ACCEPTED, errors=PUBLISH_ERRORS):
            enqueue(svc, job_id, kind, priority, timeout)

    return publish


def retry(svc, tenant: str, job_id: str) -> dict:
    """A new job with the finished job's kind, input, priority, timeout, metadata and files."""
    with redis_errors_as_unavailable():
        return replay.retry_job(
            svc.store,
            svc.artifacts,
            tenant,
            job_id,
            publish=_publisher(svc),
            file_fields=_file_fields,
            max_queue_depth=svc.settings.max_queue_depth,
        )


def retry_many(
    svc,
    tenant: str,
    *,
    statuses: list[str],
    kind: str | None = None,
    finished_after=None,
    finished_before=None,
    all: bool = False,
) -> dict:
    """Start a bulk replay and go through as much of it as fits in a short request."""
    if kind is not None:
        kind_or_error(kind)
    with redis_errors_as_unavailable():
        replay_id = replay.start_replay(
            svc.store,
            tenant,
            statuses=statuses,
            kind=kind,
            all=all,
            finished_after=finished_after.timestamp() if finished_after else None,
            finished_before=finished_before.timestamp() if finished_before else None,
        )
        doc = replay.advance(
            svc.store,
            svc.artifacts,
            replay_id,
            publish=_publisher(svc),
            file_fields=_file_fields,
            budget_seconds=REPLAY_REQUEST_BUDGET_SECONDS,
        )
        return doc or replay.get_replay(svc.store, tenant, replay_id)


def get_replay(svc, tenant: str, replay_id: str) -> dict:
    with redis_errors_as_unavailable():
        return replay.get_replay(svc.store, tenant, replay_id)


def overview(svc, tenant: str, running_limit: int = 10) -> dict:
    """What the console's overview shows: the tenant's counts per status and the jobs
    running now, and each queue's depth and oldest waiting job, and the workers seen."""
    now = time.time()
    counts = svc.store.counts(tenant)
    depth = svc.store.queue_lengths(KINDS)
    oldest = svc.store.oldest_pending(KINDS)
    running, _ = svc.store.list_jobs(tenant, status=JobStatus.RUNNING.value, limit=running_limit)
    return {
        "counts": counts,
        "queues": [
            {
                "kind": kind,
                "depth": depth[kind],
                "oldest_waiting_seconds": None if oldest[kind] is None else max(0.0, now - oldest[kind]),
            }
            for kind in KINDS
        ],
        "workers": [
            {"hostname": host, "last_seen_seconds": max(0.0, now - seen)} for host, seen in svc.store.workers()
        ],
        "running": running,
    }
