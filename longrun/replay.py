"""Retry and replay: a finished job runs again as a new job.

``retry_job`` makes one new job from a failed, cancelled or completed one: the
same kind, input, priority, timeout, metadata and webhook, its files shared
with the old job by hard links (not copied; each job can still be deleted on
its own). The new job's record names ``retried_from``; the old job's
``keys.retries`` list names its retries.

A bulk replay (``start_replay``) retries every job of a tenant that matches a
filter (statuses, kind, finished between two times). It is a record in Redis
with a cursor: the API goes through the first jobs within its request, and the
janitor carries on with the rest (``advance_active``), a chunk at a time, so
that a long filter never holds a request open and a replay survives restarts.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from longrun import keys
from longrun.errors import InvalidInput, JobNotFound, JobNotRetryable, QueueFull
from longrun.jobstore import document, iso, new_job_id
from longrun.states import FINAL_STATUSES

if TYPE_CHECKING:
    from longrun.artifacts import ArtifactStore
    from longrun.jobstore import JobStore

log = logging.getLogger(__name__)

# publish(job_id, kind, priority, timeout): sends the new job's message (workers/publish.py).
Publisher = Callable[[str, str, int, int], None]
# The upload fields of a kind (tasks/registry.py), whose files a retry shares.
FileFields = Callable[[str], tuple[str, ...]]

REPLAY_TTL_SECONDS = 7 * 24 * 3600


def _db(store: JobStore) -> Any:
    """The store's client (decode_responses: str in, str out)."""
    return store.redis


CHUNK = 100


def retry_job(
    store: JobStore,
    artifacts: ArtifactStore,
    tenant: str,
    job_id: str,
    *,
    publish: Publisher,
    file_fields: FileFields,
    max_queue_depth: int = 0,
) -> dict[str, Any]:
    """A new job from a finished one; returns its document. 404/410 as a read; 409 unless finished."""
    record = store.load(job_id, tenant)
    if record["status"] not in FINAL_STATUSES:
        raise JobNotRetryable(
            f"job {job_id} is {record['status']}: only a failed, cancelled or completed job can be retried",
            details={"status": record["status"]},
        )
    return _retry_record(store, artifacts, tenant, record, publish, file_fields, max_queue_depth)


def _retry_record(
    store: JobStore,
    artifacts: ArtifactStore,
    tenant: str,
    record: dict[str, Any],
    publish: Publisher,
    file_fields: FileFields,
    max_queue_depth: int,
) -> dict[str, Any]:
    old_id, kind = record["id"], record["kind"]
    new_id = new_job_id()
    job_input = json.loads(record.get("input") or "{}")
    priority, timeout = int(record.get("priority") or 0), int(record.get("timeout_seconds") or 0)
    try:
        for field in file_fields(kind):
            if job_input.get(field):
                artifacts.link(old_id, new_id, job_input[field])
    except FileNotFoundError:
        artifacts.delete_job(new_id)
        raise InvalidInput(
            f"job {old_id}'s files are gone: it cannot be retried", details={"files": list(file_fields(kind))}
        ) from None
    extra = {"retried_from": old_id}
    if record.get("webhook"):
        extra["webhook"] = record["webhook"]
    try:
        _, outcome, created = store.create(
            tenant=tenant,
            kind=kind,
            input=job_input,
            priority=priority,
            timeout_seconds=timeout,
            metadata=json.loads(record.get("metadata") or "{}"),
            job_id=new_id,
            extra=extra,
            max_queue_depth=max_queue_depth,
        )
        if outcome == "full":
            raise QueueFull(
                f"overloaded: the {kind} queue holds {created['queued']} jobs; try again later",
                details={"kind": kind, "queued": created["queued"]},
            )
        publish(new_id, kind, priority, timeout)
    except BaseException:
        try:
            store.delete(new_id, tenant)
        except Exception:  # never written, or Redis away: nothing more to undo here
            pass
        artifacts.delete_job(new_id)
        raise
    pipe = _db(store).pipeline(transaction=True)
    pipe.rpush(keys.retries(old_id), new_id)
    pipe.pttl(keys.job(old_id))
    _, ttl = pipe.execute()
    if ttl and ttl > 0:  # the list goes with the old job's record
        _db(store).pexpire(keys.retries(old_id), ttl)
    return document(created)


# -- bulk replay -------------------------------------------------------------


def _ts(value: Any) -> float | None:
    return float(value) if value not in (None, "") else None


def start_replay(
    store: JobStore,
    tenant: str,
    *,
    statuses: list[str],
    kind: str | None = None,
    finished_after: float | None = None,
    finished_before: float | None = None,
    all: bool = False,
) -> str:
    """Record a bulk replay; returns its id (the caller then ``advance``s it)."""
    if finished_after is None and finished_before is None and not all:
        raise InvalidInput(
            'a replay needs finished_after and/or finished_before, or "all": true',
            details={"finished_after": ["required unless all is true"]},
        )
    replay_id = uuid.uuid4().hex
    now = time.time()
    # Jobs made by this replay (or after it started) are not replayed again: only jobs created before now.
    upper = min(now, finished_before) if finished_before is not None else now
    filt = {
        "statuses": statuses,
        "kind": kind,
        "finished_after": finished_after,
        "finished_before": finished_before,
        "created_until_us": int(upper * 1e6),
    }
    pipe = _db(store).pipeline(transaction=True)
    pipe.hset(
        keys.replay(replay_id),
        mapping={
            "id": replay_id,
            "tenant": tenant,
            "filter": json.dumps(filt),
            "status": "running",
            "created_at": f"{now:.6f}",
            "cursor": json.dumps({}),
            "scanned": 0,
            "retried": 0,
            "failed": 0,
        },
    )
    pipe.expire(keys.replay(replay_id), REPLAY_TTL_SECONDS)
    pipe.sadd(keys.REPLAYS_ACTIVE, replay_id)
    pipe.execute()
    return replay_id


def replay_document(raw: dict[str, Any]) -> dict[str, Any]:
    filt = json.loads(raw["filter"])
    return {
        "id": raw["id"],
        "status": raw["status"],
        "scanned": int(raw.get("scanned") or 0),
        "retried": int(raw.get("retried") or 0),
        "failed": int(raw.get("failed") or 0),
        "created_at": iso(raw.get("created_at")),
        "finished_at": iso(raw.get("finished_at")),
        "filter": {
            "statuses": filt["statuses"],
            "kind": filt["kind"],
            "finished_after": iso(filt["finished_after"]),
            "finished_before": iso(filt["finished_before"]),
        },
        "jobs": json.loads(raw.get("jobs") or "[]"),
    }


def get_replay(store: JobStore, tenant: str, replay_id: str) -> dict[str, Any]:
    raw = _db(store).hgetall(keys.replay(replay_id))
    if not raw or raw.get("tenant") != tenant:
        raise JobNotFound(f"no replay with id {replay_id}")
    return replay_document(raw)


def advance(
    store: JobStore,
    artifacts: ArtifactStore,
    replay_id: str,
    *,
    publish: Publisher,
    file_fields: FileFields,
    budget_seconds: float,
    max_queue_depth: int = 0,
) -> dict[str, Any] | None:
    """Retry the replay's next matching jobs for up to ``budget_seconds``; returns its document
    (None if it is gone, or another process is advancing it right now)."""
    lock = keys.replay_lock(replay_id)
    if not _db(store).set(lock, "1", nx=True, ex=max(30, int(budget_seconds * 4))):
        return None
    try:
        return _advance(store, artifacts, replay_id, publish, file_fields, budget_seconds, max_queue_depth)
    finally:
        _db(store).delete(lock)


def _advance(
    store: JobStore,
    artifacts: ArtifactStore,
    replay_id: str,
    publish: Publisher,
    file_fields: FileFields,
    budget_seconds: float,
    max_queue_depth: int,
) -> dict[str, Any] | None:
    raw = _db(store).hgetall(keys.replay(replay_id))
    if not raw:
        _db(store).srem(keys.REPLAYS_ACTIVE, replay_id)
        return None
    if raw["status"] != "running":
        return replay_document(raw)
    tenant, filt = raw["tenant"], json.loads(raw["filter"])
    cursor: dict[str, int] = json.loads(raw.get("cursor") or "{}")
    after, before = filt["finished_after"], filt["finished_before"]
    counts = {"scanned": 0, "retried": 0, "failed": 0}
    made: list[str] = json.loads(raw.get("jobs") or "[]")
    deadline = time.monotonic() + budget_seconds
    finished = True
    for status in filt["statuses"]:
        # Each status index is scored by creation time: walk it upwards from the cursor.
        while True:
            low = f"({cursor[status]}" if status in cursor else "-inf"
            ids = _db(store).zrangebyscore(
                keys.tenant_index(tenant, status), low, filt["created_until_us"], start=0, num=CHUNK, withscores=True
            )
            if not ids:
                break
            pipe = _db(store).pipeline(transaction=False)
            for job_id, _ in ids:
                pipe.hgetall(keys.job(job_id))
            for (job_id, score), record in zip(ids, pipe.execute(), strict=True):
                cursor[status] = int(score)
                counts["scanned"] += 1
                if not record or record.get("status") != status:
                    continue
                if filt["kind"] and record.get("kind") != filt["kind"]:
                    continue
                done_at = _ts(record.get("finished_at"))
                if (
                    done_at is None
                    or (after is not None and done_at < after)
                    or (before is not None and done_at > before)
                ):
                    continue
                try:
                    new = _retry_record(store, artifacts, tenant, record, publish, file_fields, max_queue_depth)
                    counts["retried"] += 1
                    if len(made) < 1000:  # the document lists the first ones
                        made.append(new["id"])
                except Exception as exc:  # one job that cannot be retried does not stop the rest
                    counts["failed"] += 1
                    log.warning("replay %s: job %s not retried: %s", replay_id, job_id, exc)
            if time.monotonic() > deadline:
                finished = False
                break
        if not finished:
            break
    pipe = _db(store).pipeline(transaction=True)
    key = keys.replay(replay_id)
    for name, value in counts.items():
        pipe.hincrby(key, name, value)
    fields = {"cursor": json.dumps(cursor), "jobs": json.dumps(made)}
    if finished:
        fields.update(status="done", finished_at=f"{time.time():.6f}")
        pipe.srem(keys.REPLAYS_ACTIVE, replay_id)
    pipe.hset(key, mapping=fields)
    pipe.execute()
    return replay_document(_db(store).hgetall(key))


def advance_active(
    store: JobStore,
    artifacts: ArtifactStore,
    *,
    publish: Publisher,
    file_fields: FileFields,
    budget_seconds: float = 2.0,
) -> list[str]:
    """The janitor's share: carry every unfinished replay on a chunk; returns their ids."""
    advanced = []
    for replay_id in sorted(_db(store).smembers(keys.REPLAYS_ACTIVE)):
        if (
            advance(
                store, artifacts, replay_id, publish=publish, file_fields=file_fields, budget_seconds=budget_seconds
            )
            is not None
        ):
            advanced.append(replay_id)
    return advanced
