"""Batches: many inputs of one kind under one handle.

A batch is a hash (``lr:batch:<id>``) with one counter per job status, and a
list of its job ids in item order. Its items are ordinary jobs whose records
carry ``batch_id`` and ``batch_index``: the job state scripts (lua/lib.lua)
move the batch's counters in the same atomic step as the job's own status, so
reading a batch is one HGETALL however many items it has, and the counts are
exact. The script that finishes the last item ends the batch.

Creating one is a script that opens the batch (backpressure and
Idempotency-Key checked there, so a refused batch leaves nothing behind),
then one script call per chunk of items, each writing records, indexes and
broker messages together. Removal (DELETE, retention) goes item by item in
pipelined chunks.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis

from longrun import keys
from longrun.errors import BatchAlreadyFinished, BatchExpired, BatchNotFound, ServiceUnavailable
from longrun.jobstore import JobStore, document, iso
from longrun.states import BatchStatus, JobStatus
from longrun.webhooks import DeliveryLog

CHUNK = 500
COUNT_FIELDS = ("total", *(s.value for s in JobStatus))


def new_batch_id() -> str:
    return "batch_" + uuid.uuid4().hex


def _script(name: str) -> str:
    lua = resources.files("longrun") / "lua"
    return (lua / "lib.lua").read_text() + "\n" + (lua / f"{name}.lua").read_text()


SCRIPTS = {name: _script(name) for name in ("batch_create", "batch_add")}


@dataclass
class Item:
    """One validated item: its job id, input and (when the broker is the store's Redis) its message."""

    job_id: str
    input: dict[str, Any]
    message: tuple[str, str] | None = None


def _unavailable(exc: Exception) -> ServiceUnavailable:
    return ServiceUnavailable("Redis is unreachable")


class BatchStore:
    """Reads and writes batches over a JobStore's Redis."""

    def __init__(self, store: JobStore):
        self.store = store
        # decode_responses=True: every reply is str, which redis-py's types cannot say.
        self.redis: Any = store.redis
        self.settings = store.settings
        self._scripts = {name: self.redis.register_script(src) for name, src in SCRIPTS.items()}

    def _params(self, **params: Any) -> list[str]:
        params.update(prefix=keys.PREFIX, maxlen=self.settings.events_maxlen)
        return [json.dumps({k: v for k, v in params.items() if v is not None})]

    # -- create ----------------------------------------------------------

    def create(
        self,
        *,
        tenant: str,
        kind: str,
        items: list[Item],
        priority: int,
        timeout_seconds: int,
        metadata: dict[str, Any] | None = None,
        webhook: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        batch_id: str | None = None,
        idempotency_key: str | None = None,
        request_hash: str = "",
        max_queue_depth: int = 0,
    ) -> tuple[str, str, dict[str, Any]]:
        """Write the batch and its items. Returns (batch id, outcome, info): outcome created,
        existing / conflict (an Idempotency-Key used before; the id is the earlier batch's) or
        full (info {"queued": n}: the items would overflow the kind's queue; nothing written)."""
        bid = batch_id or new_batch_id()
        now = time.time()
        created_us = int(now * 1e6)
        fields = {
            "id": bid,
            "kind": kind,
            "priority": priority,
            "timeout_seconds": timeout_seconds,
            "metadata": json.dumps(metadata or {}),
            "created_at": f"{now:.6f}",
            **(extra or {}),
        }
        if webhook:
            fields["webhook"] = json.dumps(webhook)
        # Batches have their own idempotency namespace: a job and a batch may share a key.
        idem_key = keys.idempotency(tenant, "batch:" + idempotency_key) if idempotency_key else None
        if idem_key:
            fields["idem_key"] = idem_key
        try:
            verdict, value = self._scripts["batch_create"](
                keys=[],
                args=self._params(
                    bid=bid,
                    tenant=tenant,
                    total=len(items),
                    created_us=created_us,
                    fields=[str(x) for pair in fields.items() for x in pair],
                    idem_key=idem_key,
                    body_hash=request_hash,
                    idem_ttl=(self.settings.retention_seconds + self.settings.max_timeout_seconds) or 86400,
                    max_depth=max_queue_depth or None,
                    depth_keys=keys.queue_keys(kind) if max_queue_depth else None,
                ),
            )
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise _unavailable(exc) from exc
        if verdict == "full":
            return bid, "full", {"queued": int(value)}
        if verdict == "existing":
            existing_id, _, existing_hash = value.partition(" ")
            self.store.confirm_replicated()  # the earlier batch must be on the replicas too
            return existing_id, "existing" if existing_hash == request_hash else "conflict", {}
        try:
            for start in range(0, len(items), CHUNK):
                self._add(
                    bid, tenant, kind, items[start : start + CHUNK], start, created_us, now, priority, timeout_seconds
                )
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # Never leave half a batch: take back what was written (best effort; Redis may be gone).
            try:
                self.remove(bid)
            except redis.RedisError:
                pass
            raise _unavailable(exc) from exc
        # One WAIT covers every chunk (LONGRUN_REDIS_MIN_REPLICAS; a no-op without it).
        self.store.confirm_replicated()
        return bid, "created", {}

    def _add(
        self,
        bid: str,
        tenant: str,
        kind: str,
        chunk: list[Item],
        offset: int,
        created_us: int,
        now: float,
        priority: int,
        timeout: int,
    ) -> None:
        payload = []
        for n, item in enumerate(chunk):
            index = offset + n
            # One microsecond apart: the tenant's job index pages by creation time.
            fields = {
                "id": item.job_id,
                "kind": kind,
                "input": json.dumps(item.input),
                "priority": priority,
                "timeout_seconds": timeout,
                "metadata": "{}",
                "created_at": f"{now:.6f}",
                "batch_id": bid,
                "batch_index": index,
            }
            entry = {
                "id": item.job_id,
                "created_us": created_us + index,
                "fields": [str(x) for pair in fields.items() for x in pair],
            }
            if item.message:
                entry["queue_key"], entry["message"] = item.message
            payload.append(entry)
        self._scripts["batch_add"](keys=[], args=self._params(bid=bid, tenant=tenant, kind=kind, items=payload))

    def record_failed(self, tenant: str, kind: str, *, metadata: dict[str, Any] | None, extra: dict[str, Any]) -> str:
        """A batch refused before any item was written (OpenAI: input file validation failed): kept, ended."""
        bid, _, _ = self.create(
            tenant=tenant, kind=kind, items=[], priority=0, timeout_seconds=0, metadata=metadata, extra=extra
        )
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(keys.batch(bid), mapping={"status": BatchStatus.COMPLETED.value, "finished_at": f"{now:.6f}"})
        if self.settings.retention_seconds:
            pipe.zadd(keys.BATCH_EXPIRY, {bid: now + self.settings.retention_seconds})
        pipe.execute()
        return bid

    # -- reads -----------------------------------------------------------

    def load(self, bid: str, tenant: str | None = None) -> dict[str, Any]:
        """The batch's hash; BatchNotFound for unknown ids and other tenants, BatchExpired for the owner's old ones."""
        try:
            record = self.redis.hgetall(keys.batch(bid)) if bid.startswith("batch_") else {}
            if not record or (tenant is not None and record.get("tenant") != tenant):
                if not record:
                    owner = self.redis.get(keys.batch_tombstone(bid)) if bid.startswith("batch_") else None
                    if owner and (tenant is None or owner == tenant):
                        raise BatchExpired(f"batch {bid} has expired")
                raise BatchNotFound(f"no batch with id {bid}")
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise _unavailable(exc) from exc
        return record

    def get(self, bid: str, tenant: str | None = None) -> dict[str, Any]:
        return batch_document(self.load(bid, tenant))

    def list_batches(
        self, tenant: str, *, limit: int = 20, cursor: int | None = None
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Newest first; the cursor is the creation time (µs) of the last batch returned."""
        upper = f"({cursor}" if cursor else "+inf"
        try:
            ids = self.redis.zrevrangebyscore(
                keys.tenant_batches(tenant), upper, "-inf", start=0, num=limit + 1, withscores=True
            )
            pipe = self.redis.pipeline(transaction=False)
            for bid, _ in ids[:limit]:
                pipe.hgetall(keys.batch(bid))
            records = pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise _unavailable(exc) from exc
        found = [batch_document(r) for r in records if r]
        next_cursor = int(ids[limit - 1][1]) if len(ids) > limit else None
        return found, next_cursor

    def job_ids(self, bid: str, start: int = 0, stop: int = -1) -> list[str]:
        ids: list[str] = self.redis.lrange(keys.batch_items(bid), start, stop)
        return ids

    def records(self, ids: list[str]) -> list[dict[str, Any]]:
        pipe = self.redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.hgetall(keys.job(job_id))
            pipe.get(keys.meta(job_id))
        replies = pipe.execute()
        out = []
        for record, meta in zip(replies[::2], replies[1::2], strict=True):
            if record:
                record["_meta"] = meta
            out.append(record)
        return out

    def jobs(
        self, bid: str, tenant: str, *, status: str | None = None, limit: int = 50, cursor: int = 0
    ) -> tuple[list[dict[str, Any]], int | None]:
        """The batch's job documents in item order from index ``cursor``; with a status
        filter, the next ``limit`` items in it. Returns (jobs, next cursor or None)."""
        self.load(bid, tenant)
        found: list[dict[str, Any]] = []
        position = cursor
        try:
            while len(found) < limit:
                ids = self.job_ids(bid, position, position + max(limit, 100) - 1)
                if not ids:
                    return found, None
                for record in self.records(ids):
                    position += 1
                    if record and (status is None or record.get("status") == status):
                        found.append(document(record))
                        if len(found) == limit:
                            break
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise _unavailable(exc) from exc
        more = bool(self.job_ids(bid, position, position))
        return found, position if more else None

    def results(self, bid: str) -> Iterator[dict[str, Any]]:
        """``{index, job_id, status, result, error}`` of every item final so far, in item order."""
        position = 0
        while ids := self.job_ids(bid, position, position + CHUNK - 1):
            for offset, record in enumerate(self.records(ids)):
                if record and JobStatus(record["status"]).is_final:
                    doc = document(record)
                    yield {
                        "index": position + offset,
                        "job_id": doc["id"],
                        "status": doc["status"],
                        "result": doc["result"],
                        "error": doc["error"],
                    }
            position += len(ids)

    # -- cancel and remove -----------------------------------------------

    def cancel(self, bid: str, tenant: str) -> dict[str, Any]:
        """Pending items are cancelled now (they never start); running ones get the cancel flag."""
        record = self.load(bid, tenant)
        if BatchStatus(record["status"]).is_final:
            raise BatchAlreadyFinished(f"batch {bid} already {record['status']}", details={"status": record["status"]})
        self.redis.hset(keys.batch(bid), "cancel_requested", "1")
        script = self.store.script("cancel")
        error = json.dumps({"type": "Cancelled", "message": "the batch was cancelled before this item started"})
        ttl = self.settings.max_timeout_seconds + self.settings.lease_seconds * 4
        position = 0
        try:
            while ids := self.job_ids(bid, position, position + CHUNK - 1):
                pipe = self.redis.pipeline(transaction=False)
                for job_id in ids:
                    script_keys, args = self.store.script_args(job_id, cancel_ttl=ttl, error=error)
                    script(keys=script_keys, args=args, client=pipe)
                pipe.execute(raise_on_error=False)
                position += len(ids)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise _unavailable(exc) from exc
        return self.get(bid, tenant)

    def delete(self, bid: str, tenant: str) -> list[str]:
        """Remove the batch and every one of its jobs; returns the job ids (their files go too)."""
        self.load(bid, tenant)
        return self.remove(bid)

    def remove(self, bid: str) -> list[str]:
        record = self.redis.hgetall(keys.batch(bid))
        removed: list[str] = []
        # Items first, the batch last: a DELETE cut short leaves a batch that a retry can finish.
        while ids := self.job_ids(bid, 0, CHUNK - 1):
            pipe = self.redis.pipeline(transaction=False)
            for job_id in ids:
                pipe.hmget(keys.job(job_id), "tenant", "status", "kind", "idem_key")
            rows = pipe.execute()
            pipe = self.redis.pipeline(transaction=False)
            for job_id, (owner, status, kind, idem) in zip(ids, rows, strict=True):
                if status == JobStatus.RUNNING:  # its worker stops at the next check
                    pipe.set(keys.cancel(job_id), "1", ex=self.settings.lease_seconds * 4)
                self.store.remove_into(
                    pipe,
                    job_id,
                    {"tenant": owner or record.get("tenant"), "status": status, "kind": kind, "idem_key": idem},
                )
            pipe.ltrim(keys.batch_items(bid), len(ids), -1)
            pipe.execute()
            removed += ids
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(keys.batch(bid), keys.batch_items(bid), keys.batch_events(bid), keys.webhook_log(bid))
        if record.get("idem_key"):
            pipe.delete(record["idem_key"])
        if record.get("tenant"):
            pipe.zrem(keys.tenant_batches(record["tenant"]), bid)
        pipe.zrem(keys.BATCH_EXPIRY, bid)
        pipe.zrem(keys.BATCH_DEADLINES, bid)
        pipe.execute()
        return removed

    def expire_due(self, now: float | None = None, limit: int = 20) -> tuple[list[str], list[str]]:
        """Remove batches whose retention ran out, with all their jobs; returns (batch ids, job ids)."""
        now = time.time() if now is None else now
        due = self.redis.zrangebyscore(keys.BATCH_EXPIRY, "-inf", now, start=0, num=limit)
        jobs: list[str] = []
        for bid in due:
            owner = self.redis.hget(keys.batch(bid), "tenant")
            jobs += self.remove(bid)
            if owner and self.settings.tombstone_seconds:
                self.redis.set(keys.batch_tombstone(bid), owner, ex=self.settings.tombstone_seconds)
        return due, jobs

    def expire_overdue(self, now: float | None = None, limit: int = 20) -> list[str]:
        """Batches past their completion window (OpenAI's expires_at): their unfinished items are
        cancelled and the batch is marked expired. Returns their ids."""
        now = time.time() if now is None else now
        due: list[str] = self.redis.zrangebyscore(keys.BATCH_DEADLINES, "-inf", now, start=0, num=limit)
        for bid in due:
            record = self.redis.hgetall(keys.batch(bid))
            if record and not BatchStatus(record["status"]).is_final:
                self.redis.hset(keys.batch(bid), "expired_at", f"{now:.6f}")
                self.cancel(bid, record["tenant"])
        if due:
            self.redis.zrem(keys.BATCH_DEADLINES, *due)
        return due

    def ended_deliveries(self, limit: int = 100) -> list[tuple[str, str]]:
        """Record the webhook delivery of each batch that ended since the last call (each once);
        returns (batch id, delivery id) pairs for the caller to publish."""
        out = []
        log = DeliveryLog(self.redis, self.settings)
        for bid in self.redis.lpop(keys.BATCHES_ENDED, limit) or []:
            record = self.redis.hgetall(keys.batch(bid))
            if not record.get("webhook"):
                continue  # deleted meanwhile
            body = {"type": "batch.completed", "timestamp": iso(time.time()), "data": batch_document(record)}
            delivery = log.create(bid, "completed", json.loads(record["webhook"])["url"], body)
            out.append((bid, delivery["id"]))
        return out

    def events(self, bid: str, after: str, count: int, block_ms: int | None) -> list[tuple[str, dict[str, Any]]]:
        reply = self.redis.xread({keys.batch_events(bid): after}, count=count, block=block_ms)
        return [entry for _, entries in reply or () for entry in entries]


def counts(record: dict[str, Any]) -> dict[str, int]:
    return {name: int(record.get(name) or 0) for name in COUNT_FIELDS}


def batch_document(record: dict[str, Any]) -> dict[str, Any]:
    """The batch as clients see it, from its hash."""
    return {
        "id": record["id"],
        "kind": record["kind"],
        "status": record["status"],
        "counts": counts(record),
        "created_at": iso(record.get("created_at")),
        "started_at": iso(record.get("started_at")),
        "finished_at": iso(record.get("finished_at")),
        "priority": int(record.get("priority") or 0),
        "timeout_seconds": int(record.get("timeout_seconds") or 0),
        "metadata": json.loads(record.get("metadata") or "{}"),
        "cancel_requested": record.get("cancel_requested") == "1",
    }
