"""The job index: every job's record, status, progress and events in Redis.

Each change of state is one Lua script (``longrun/lua``), so that the record,
Celery's result meta, the per-status indexes and the event stream can never
disagree, and so that a final state can never be overwritten by a late or
redelivered copy of a job. Reads are one pipelined round trip.
"""

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any, cast

import redis

from longrun import keys, redis_conn
from longrun.errors import JobExpired, JobNotFound, NotReplicated, ServiceUnavailable, redis_errors_as_unavailable
from longrun.metrics import BUCKETS
from longrun.redis_replies import ScoredMembers, XReadReply
from longrun.settings import Settings
from longrun.states import FINAL_STATUSES, JobStatus

log = logging.getLogger(__name__)

SCRIPT_NAMES = (
    "create",
    "claim",
    "transition",
    "cancel",
    "reap",
    "release",
    "renew",
    "reconcile",
    "adopt",
    "promote",
    "pump",
    "resend",
    "finish",
)
EMPTY_PROGRESS = {"percentage": 0, "current_step": 0, "total_steps": None, "step_name": None, "message": None}


def _load_scripts() -> dict[str, str]:
    lua = resources.files("longrun") / "lua"
    # flow.lua (fair dispatch) follows lib.lua: a job's end makes room for the next one.
    lib = (lua / "lib.lua").read_text() + "\n" + (lua / "flow.lua").read_text()
    return {name: lib + "\n" + (lua / f"{name}.lua").read_text() for name in SCRIPT_NAMES}


SCRIPTS = _load_scripts()
# Read-only and standalone (no lib.lua): the hot read of GET /jobs/{id}.
READ_SCRIPT = (resources.files("longrun") / "lua" / "read.lua").read_text()


def new_job_id() -> str:
    return uuid.uuid4().hex


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def iso(ts: float | str | None) -> str | None:
    """Epoch seconds -> ISO 8601 in UTC with milliseconds, as the seeds print them."""
    if ts in (None, ""):
        return None
    dt = datetime.fromtimestamp(float(ts), tz=UTC)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _pairs(flat: list[str]) -> dict[str, str]:
    """A script's HGETALL reply (flat field, value list) as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _loads(value: str | None, default: Any = None) -> Any:
    return json.loads(value) if value else default


def worker_lost(max_attempts: int) -> tuple[dict[str, str], str]:
    """The error (job document, Celery meta) of a job whose worker died at every attempt."""
    message = f"worker lost: the job's process died in each of its {max_attempts} attempts"
    meta = json.dumps(
        {
            "status": "FAILURE",
            "traceback": None,
            "children": [],
            "date_done": None,
            "result": {"exc_type": "WorkerLostError", "exc_message": [message], "exc_module": "billiard.exceptions"},
        }
    )
    return {"type": "WorkerLost", "message": message}, meta


def flow_config(settings: Settings) -> dict[str, Any] | None:
    """Caps and weights for lua/flow.lua; None when all are defaults."""
    config: dict[str, Any] = {
        "tcap": settings.max_running_per_tenant or None,
        "kcap": settings.kind_caps or None,
        "w": settings.weights or None,
    }
    config = {k: v for k, v in config.items() if v}
    return config or None


@dataclass
class Claim:
    """What a worker may do with a job it received (see lua/claim.lua)."""

    verdict: str  # run | busy | done | gone | cancelled | exhausted
    input: dict[str, Any] | None = None
    attempts: int = 0
    retry_in: int = 0
    # A "run" claim's step checkpoints (raw HGETALL of keys.steps and keys.step_outputs).
    steps: dict[str, str] | None = None
    step_outputs: dict[str, str] | None = None


class JobStore:
    """Reads and writes job records; one instance per process."""

    def __init__(self, client: redis.Redis, settings: Settings):
        self.redis = client
        self.settings = settings
        # Called as on_transition(job_id, status, progress) after every state
        # change this store made (webhooks hang here); never lets an error out.
        self.on_transition: Callable[[str, JobStatus, dict[str, Any] | None], object] | None = None
        self._scripts = {name: client.register_script(src) for name, src in SCRIPTS.items()}
        self._read = client.register_script(READ_SCRIPT)
        # Fair dispatch's caps and weights ride along with every script (lua/flow.lua).
        self._flow_config = flow_config(settings)
        # The parameters every job script gets, the same for every call: encoded once.
        constants = {
            "prefix": keys.PREFIX,
            "result_ttl": settings.retention_seconds,
            "tomb_ttl": settings.tombstone_seconds,
            "maxlen": settings.events_maxlen,
            "buckets": [format(b, "g") for b in BUCKETS],
            "fc": self._flow_config,
        }
        self._constants = json.dumps({k: v for k, v in constants.items() if v is not None})[1:-1]

    @classmethod
    def from_settings(cls, settings: Settings) -> "JobStore":
        # One Redis, or the master Sentinel names now (followed after a failover).
        return cls(redis_conn.client(settings), settings)

    # -- scripts ---------------------------------------------------------

    def _params(self, **params: Any) -> str:
        now = time.time()
        params["now"] = f"{now:.6f}"
        params["now_iso"] = datetime.fromtimestamp(now, tz=UTC).isoformat()
        # Absent values are left out: JSON null would reach Lua as a truthy cjson.null.
        variable = json.dumps({k: v for k, v in params.items() if v is not None})
        # The same for every call of this store: encoded once, appended (cjson keeps the last of a key).
        return variable[:-1] + ("," if len(variable) > 2 else "") + self._constants + "}"

    def _run(
        self, name: str, job_id: str, replicate: bool = False, _client: Any = None, **params: Any
    ) -> Any:  # a Lua script's reply
        """Run a job's script; with ``replicate`` (and LONGRUN_REDIS_MIN_REPLICAS)
        return only once that many replicas have its writes (NotReplicated if not in time).
        With ``_client`` (a pipeline) it is only queued there."""
        script_keys, args = self.script_args(job_id, **params)
        with redis_errors_as_unavailable():
            if replicate and self.settings.redis_min_replicas:
                reply, replicas = self._pipelined(
                    ("EVALSHA", self._scripts[name].sha, len(script_keys), *script_keys, *args), name
                )
                self._require_replicas(replicas, job_id)
                return reply
            return self._scripts[name](keys=script_keys, args=args, client=_client)

    def script(self, name: str) -> Any:
        """A registered job script, to call on a pipeline: ``script(keys=, args=, client=pipe)``."""
        return self._scripts[name]

    def script_args(self, job_id: str, **params: Any) -> tuple[list[str], list[str]]:
        """KEYS and ARGV of a job script call (also for callers that pipeline many)."""
        script_keys = [
            keys.job(job_id),
            keys.meta(job_id),
            keys.events(job_id),
            keys.lease(job_id),
            keys.tombstone(job_id),
            keys.cancel(job_id),
        ]
        return script_keys, [self._params(id=job_id, **params)]

    def _run_batch(self, name: str, **params: Any) -> Any:
        """Run a script that names its keys in its parameters (reconcile, adopt)."""
        with redis_errors_as_unavailable():
            return self._scripts[name](keys=[], args=[self._params(**params)])

    # -- replication (LONGRUN_REDIS_MIN_REPLICAS, docs/ha.md) ------------

    def _pipelined(self, command: tuple[Any, ...], script: str | None = None) -> tuple[Any, int]:
        """``command`` then WAIT on the same connection (WAIT covers what this
        connection wrote): one round trip; returns (reply, replicas that have it)."""
        timeout_ms = max(1, int(self.settings.redis_replica_timeout_seconds * 1000))
        wait = ("WAIT", self.settings.redis_min_replicas, timeout_ms)
        for _ in range(2):
            pipe = self.redis.pipeline(transaction=False)
            pipe.execute_command(*command)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            pipe.execute_command(*wait)  # type: ignore[no-untyped-call]
            reply, replicas = pipe.execute(raise_on_error=False)
            if isinstance(reply, redis.exceptions.NoScriptError) and script:
                self.redis.script_load(self._scripts[script].script)  # a new master (failover, restart)
                continue
            for value in (reply, replicas):
                if isinstance(value, Exception):
                    raise value
            return reply, int(replicas)
        raise ServiceUnavailable("Redis lost its scripts twice in a row")

    def _require_replicas(self, replicas: int, job_id: str | None = None) -> None:
        wanted = self.settings.redis_min_replicas
        if replicas < wanted:
            raise NotReplicated(
                f"Redis did not confirm the write on {wanted} replica(s) within "
                f"{self.settings.redis_replica_timeout_seconds:g}s (only {replicas})",
                details={"job_id": job_id, "replicas": replicas, "required": wanted}
                if job_id
                else {"replicas": replicas, "required": wanted},
            )

    def confirm_replicated(self) -> None:
        """Return once LONGRUN_REDIS_MIN_REPLICAS replicas have everything written
        so far (by any client); NotReplicated if not in time. A no-op without the setting."""
        if not self.settings.redis_min_replicas:
            return
        with redis_errors_as_unavailable():
            # WAIT counts this connection's last write: write one, now.
            _, replicas = self._pipelined(("SET", keys.REPLICATION_PROBE, f"{time.time():.6f}"))
        self._require_replicas(replicas)

    def create(
        self,
        *,
        tenant: str,
        kind: str,
        input: dict[str, Any],
        priority: int = 0,
        timeout_seconds: int,
        metadata: dict[str, Any] | None = None,
        job_id: str | None = None,
        idempotency_key: str | None = None,
        request_hash: str = "",
        extra: dict[str, Any] | None = None,
        message: tuple[str, str] | None = None,
        max_queue_depth: int = 0,
        flow: bool = False,
        run_at: float | None = None,
        scheduled: bool = False,
    ) -> tuple[str, str, dict[str, Any]]:
        """Write a pending job record and index it.

        Returns (job id, outcome, record): outcome is "created", or, when the
        idempotency key was used before, "existing" (same request hash) or
        "conflict"; then the id is the earlier job's and the record is empty.
        ``message``, a broker (list key, payload), is pushed with a created
        record in the same atomic step (see workers/broker.py). With
        ``max_queue_depth``, outcome "full" (record {"queued": n}) means the
        kind's queue already holds that many messages and nothing was written.
        With ``flow`` the message goes through fair dispatch (lua/flow.lua)
        instead of straight to the queue; ``run_at`` (epoch seconds) or
        ``scheduled`` make the job ``scheduled`` until then (until the mover
        promotes it, for ``scheduled`` without a time).
        """
        job_id = job_id or new_job_id()
        now = time.time()
        fields = {
            "id": job_id,
            "kind": kind,
            "input": json.dumps(input),
            "priority": priority,
            "timeout_seconds": timeout_seconds,
            "metadata": json.dumps(metadata or {}),
            "created_at": f"{now:.6f}",
        }
        status = "scheduled" if scheduled or (run_at is not None and run_at > now) else "pending"
        if status == "scheduled" and run_at is not None:
            fields["run_at"] = f"{run_at:.6f}"
        fields.update(extra or {})
        idem_key = keys.idempotency(tenant, idempotency_key) if idempotency_key else None
        if idem_key:
            fields["idem_key"] = idem_key
        verdict, value, *_ = self._run(
            "create",
            job_id,
            replicate=True,
            tenant=tenant,
            kind=kind,
            created_us=int(now * 1e6),
            idem_key=idem_key,
            body_hash=request_hash,
            idem_ttl=(self.settings.retention_seconds + self.settings.max_timeout_seconds) or 86400,
            fields=[str(x) for pair in fields.items() for x in pair],
            queue_key=message[0] if message else None,
            message=message[1] if message else None,
            max_depth=max_queue_depth or None,
            depth_keys=keys.queue_keys(kind) if max_queue_depth else None,
            held_key=keys.flow_held(kind) if max_queue_depth and flow else None,
            flow=bool(flow and message) or None,
            priority=priority,
            status=status if status != "pending" else None,
            run_at=fields.get("run_at") if status == "scheduled" else None,
        )
        if verdict == "full":
            return job_id, "full", {"queued": int(value)}
        if verdict == "existing":
            existing_id, _, existing_hash = value.partition(" ")
            # The replay wrote nothing, so its WAIT covered nothing: the earlier job must be replicated too.
            self.confirm_replicated()
            return existing_id, "existing" if existing_hash == request_hash else "conflict", {}
        record = {
            **{k: str(v) for k, v in fields.items()},
            "status": status,
            "tenant": tenant,
            "seq": "0",
            "attempts": "0",
            "_meta": None,
        }
        return job_id, "created", record

    def claim(self, job_id: str, token: str, *, lost_error: dict[str, Any], lost_meta: str) -> Claim:
        reply = self._run(
            "claim",
            job_id,
            token=token,
            lease_ttl=self.settings.lease_seconds,
            max_attempts=self.settings.max_attempts,
            lost_error=json.dumps(lost_error),
            lost_meta=lost_meta,
        )
        verdict = reply[0]
        prime = getattr(self.on_transition, "prime", None)
        if verdict == "run" and prime is not None:
            prime(job_id, reply[3])  # the job's webhook config, read by the claim itself
        after = {"run": JobStatus.RUNNING, "cancelled": JobStatus.CANCELLED, "exhausted": JobStatus.FAILED}
        if verdict in after:
            self._notify(job_id, after[verdict], None)
        if verdict == "run":
            return Claim(
                "run",
                input=_loads(reply[1], {}),
                attempts=int(reply[2]),
                steps=_pairs(reply[4]),
                step_outputs=_pairs(reply[5]),
            )
        if verdict == "busy":
            return Claim("busy", retry_in=max(1, int(reply[1])))
        return Claim(verdict)

    def promote(self, job_id: str, force: bool = False) -> tuple[str, dict[str, Any]]:
        """A due scheduled job becomes pending (see lua/promote.lua): (verdict, publish info)."""
        reply = self._run("promote", job_id, force=force or None, flow=self.settings.fair_dispatch == "on" or None)
        if reply[0] == "publish":
            return "publish", {"kind": reply[1], "priority": int(reply[2]), "timeout": int(reply[3])}
        if reply[0] in ("sent", "held"):
            self._notify(job_id, JobStatus.PENDING, None)
        return reply[0], {}

    def pump(self, kinds: Iterable[str], budget: int = 100) -> int:
        """Send held jobs of ``kinds`` while their workers have room; returns how many."""
        return int(self._run("pump", "", kinds=list(kinds), budget=budget))

    def renew(self, job_id: str, token: str) -> tuple[str, bool]:
        """The attempt ``token``'s heartbeat: (held | lost | over, cancel requested)."""
        lease, cancelled = self._run("renew", job_id, token=token, lease_ttl=self.settings.lease_seconds)
        return lease, bool(cancelled)

    def renew_many(self, attempts: list[tuple[str, str]]) -> list[tuple[str, bool]]:
        """``renew`` for many (job id, token) pairs in one pipelined round trip (a threads pool's jobs)."""
        if len(attempts) == 1:
            return [self.renew(*attempts[0])]
        with redis_errors_as_unavailable():
            pipe = self.redis.pipeline(transaction=False)
            for job_id, token in attempts:
                self._run("renew", job_id, _client=pipe, token=token, lease_ttl=self.settings.lease_seconds)
            return [(lease, bool(cancelled)) for lease, cancelled in pipe.execute()]

    def release_lease(self, job_id: str, holder: str) -> bool:
        """Free the job's lease if the attempt ``holder`` (token prefix) holds it."""
        return bool(self._run("release", job_id, holder=holder))

    def stale_running(self, now: float | None = None, batch: int = 100) -> list[str]:
        """Ids in lr:running whose heartbeat deadline has passed."""
        now = time.time() if now is None else now
        return cast(list[str], self.redis.zrangebyscore(keys.RUNNING, "-inf", f"({now}", start=0, num=batch))

    def reap(self, job_id: str, requeue_grace: float) -> tuple[str, dict[str, Any]]:
        """Settle a job whose heartbeat went stale (see lua/reap.lua).

        Returns (verdict, info); for "requeue" info has the kind, priority and
        timeout the caller needs to republish the job's message.
        """
        lost_error, lost_meta = worker_lost(self.settings.max_attempts)
        reply = self._run(
            "reap",
            job_id,
            max_attempts=self.settings.max_attempts,
            lost_error=json.dumps(lost_error),
            lost_meta=lost_meta,
            requeue_grace=requeue_grace,
        )
        if reply[0] != "requeue":
            return reply[0], {}
        return "requeue", {"kind": reply[1], "priority": int(reply[2]), "timeout": int(reply[3])}

    def transition(
        self,
        job_id: str,
        status: JobStatus,
        *,
        progress: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        meta: str | None = None,
        replicate: bool = False,
        token: str | None = None,
        log_tail: dict[str, Any] | None = None,
        steps: list[str] | None = None,
    ) -> int | None:
        """Move a job to ``status``; None when it is gone or already final, or when
        ``token`` (a running attempt's) is given and another attempt holds the lease.
        With ``replicate`` see ``_run`` (it covers this write; a no-op covers
        nothing: see ``confirm_replicated``). With ``log_tail`` (the job log's
        last lines, workers/job_logs.py) and ``steps`` (step timeline entries held
        back, longrun/steps.py ``detach``) they go in the same step (lua/finish.lua)."""
        seq = self._run(
            "finish" if log_tail is not None or steps else "transition",
            job_id,
            replicate=replicate,
            status=str(status),
            token=token,
            step_entries=steps or None,
            **(log_tail or {}),
            progress=json.dumps(progress) if progress is not None else None,
            error=json.dumps(error) if error is not None else None,
            meta=meta,
        )
        if seq:
            self._notify(job_id, status, progress)
        return seq or None

    def _notify(self, job_id: str, status: JobStatus, progress: dict[str, Any] | None) -> None:
        if self.on_transition is None:
            return
        try:
            self.on_transition(job_id, JobStatus(status), progress)
        except Exception:  # a listener (webhooks) must never fail a state change
            log.exception("on_transition listener failed for job %s", job_id)

    def request_cancel(self, job_id: str) -> str:
        """Returns cancelled (was pending), requested (running), final:<status> or gone."""
        reply = self._run(
            "cancel",
            job_id,
            cancel_ttl=self.settings.max_timeout_seconds + self.settings.lease_seconds * 4,
            error=json.dumps({"type": "Cancelled", "message": "cancelled before it started"}),
        )
        if reply[0] == "cancelled":
            self._notify(job_id, JobStatus.CANCELLED, None)
        return reply[0] if reply[0] != "final" else f"final:{reply[1]}"

    # -- reads -----------------------------------------------------------

    def load(self, job_id: str, tenant: str | None = None) -> dict[str, Any]:
        """The job's record with its Celery meta; raises JobNotFound/JobExpired."""
        read_keys = [
            keys.job(job_id),
            keys.meta(job_id),
            keys.steps(job_id),
            keys.retries(job_id),
            keys.tombstone(job_id),
        ]
        with redis_errors_as_unavailable():
            flat, meta, flat_steps, retries, owner = redis_conn.call_script(self.redis, self._read, read_keys)
        record: dict[str, Any] = _pairs(flat)
        if not record or (tenant is not None and record.get("tenant") != tenant):
            # A tombstone is only honoured for the owner; others get a plain 404.
            if owner and (tenant is None or owner == tenant):
                raise JobExpired(f"job {job_id} has expired")
            raise JobNotFound(f"no job with id {job_id}")
        record["_meta"] = meta
        record["_steps"], record["_retries"] = _pairs(flat_steps), retries
        return record

    def get(self, job_id: str, tenant: str | None = None) -> dict[str, Any]:
        return document(self.load(job_id, tenant))

    def wait_final(self, job_id: str, timeout: float) -> bool:
        """Block until the job reaches a final status (True) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        last = "0-0"
        block_ms = max(1, int(min(1.0, self.settings.redis_timeout_seconds / 2) * 1000))
        with redis_errors_as_unavailable():
            while (left := deadline - time.monotonic()) > 0:
                reply = self.redis.xread({keys.events(job_id): last}, block=min(block_ms, int(left * 1000) + 1))
                for _, entries in cast(XReadReply, reply or ()):
                    for entry_id, entry in entries:
                        last = entry_id
                        if JobStatus(entry["status"]).is_final:
                            return True
                if not reply and not self.redis.exists(keys.job(job_id)):
                    return False
        return False

    def queue_lengths(self, kinds: Iterable[str]) -> dict[str, int]:
        """Messages waiting in each kind's queue, over all priority steps."""
        kinds = list(kinds)
        pipe = self.redis.pipeline(transaction=False)
        for kind in kinds:
            for key in keys.queue_keys(kind):
                pipe.llen(key)
            pipe.zcard(keys.flow_held(kind))  # and the jobs fair dispatch holds back in Redis
        lengths = pipe.execute()
        return {kind: sum(lengths[i * 11 : (i + 1) * 11]) for i, kind in enumerate(kinds)}

    def workers_seen(self, within_seconds: float = 30.0) -> int:
        return self.redis.zcount(keys.WORKERS, time.time() - within_seconds, "+inf")

    def workers(self, limit: int = 50) -> list[tuple[str, float]]:
        """Worker hostnames with when (epoch seconds) each was last seen, most recent first."""
        return cast(ScoredMembers, self.redis.zrevrange(keys.WORKERS, 0, limit - 1, withscores=True))

    def oldest_pending(self, kinds: Iterable[str]) -> dict[str, float | None]:
        """When (epoch seconds) each kind's oldest pending job was submitted; None: none waits."""
        kinds = list(kinds)
        pipe = self.redis.pipeline(transaction=False)
        for kind in kinds:
            pipe.zrange(keys.pending_by_kind(kind), 0, 0, withscores=True)
        return {kind: (entry[0][1] / 1e6 if entry else None) for kind, entry in zip(kinds, pipe.execute(), strict=True)}

    def is_cancel_requested(self, job_id: str) -> bool:
        return bool(self.redis.exists(keys.cancel(job_id)))

    def list_jobs(
        self,
        tenant: str,
        *,
        status: str | None = None,
        kind: str | None = None,
        limit: int = 20,
        cursor: int | None = None,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Newest first. The cursor is the creation time (µs) of the last job returned."""
        index = keys.tenant_index(tenant, status)
        found: list[dict[str, Any]] = []
        upper = f"({cursor}" if cursor else "+inf"
        batch = max(limit, 50)
        with redis_errors_as_unavailable():
            while len(found) < limit:
                ids = cast(
                    ScoredMembers,  # WITHSCORES: (member, score) pairs
                    self.redis.zrevrangebyscore(index, upper, "-inf", start=0, num=batch, withscores=True),
                )
                if not ids:
                    return found, None
                pipe = self.redis.pipeline(transaction=False)
                for job_id, _ in ids:
                    pipe.hgetall(keys.job(job_id))
                    pipe.get(keys.meta(job_id))
                replies = pipe.execute()
                stale = []
                for (job_id, score), record, meta in zip(ids, replies[::2], replies[1::2]):
                    upper = f"({int(score)}"
                    if not record:
                        stale.append(job_id)
                        continue
                    if kind and record.get("kind") != kind:
                        continue
                    record["_meta"] = meta
                    found.append(document(record))
                    if len(found) == limit:
                        break
                if stale:  # expired since they were indexed: tidy as we go
                    self._unindex(tenant, stale)
                if len(ids) < batch and len(found) < limit:
                    return found, None
        next_cursor = int(upper[1:]) if len(found) == limit else None
        return found, next_cursor

    def counts(self, tenant: str) -> dict[str, int]:
        pipe = self.redis.pipeline(transaction=False)
        for status in JobStatus:
            pipe.zcard(keys.tenant_index(tenant, status.value))
        with redis_errors_as_unavailable():
            return dict(zip((s.value for s in JobStatus), pipe.execute()))

    # -- removal ---------------------------------------------------------

    def delete(self, job_id: str, tenant: str | None = None) -> dict[str, Any]:
        """Remove a job and everything kept for it; a running job is cancelled first."""
        record = self.load(job_id, tenant)
        if record.get("status") == JobStatus.RUNNING:
            # Its worker stops at the next check; its late writes find no record.
            self.redis.set(keys.cancel(job_id), "1", ex=self.settings.lease_seconds * 4)
        self._remove(job_id, record)
        return record

    def clear(self, tenant: str, status: JobStatus) -> list[str]:
        """Delete every job of the tenant in one final status; returns their ids."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"only finished jobs can be cleared, not {status}")
        ids = cast(list[str], self.redis.zrange(keys.tenant_index(tenant, status.value), 0, -1))
        for start in range(0, len(ids), 200):
            chunk = ids[start : start + 200]
            pipe = self.redis.pipeline(transaction=False)
            for job_id in chunk:
                pipe.hmget(keys.job(job_id), "tenant", "status", "idem_key")
            for job_id, (owner, current, idem) in zip(chunk, pipe.execute()):
                self._remove(job_id, {"tenant": owner or tenant, "status": current, "idem_key": idem})
        return ids

    def trim_finished(self, tenant: str, keep: int) -> list[str]:
        """Remove the tenant's oldest finished jobs (by creation) beyond ``keep``; returns their ids."""
        final_keys = [keys.tenant_index(tenant, s.value) for s in sorted(FINAL_STATUSES)]
        pipe = self.redis.pipeline(transaction=False)
        for key in final_keys:
            pipe.zcard(key)
        excess = sum(pipe.execute()) - keep
        if excess <= 0:
            return []
        excess = min(excess, 500)  # bounded work per pass; the next pass goes on
        pipe = self.redis.pipeline(transaction=False)
        for key in final_keys:
            pipe.zrange(key, 0, excess - 1, withscores=True)
        candidates = [pair for reply in pipe.execute() for pair in reply]
        oldest = [job_id for job_id, _ in sorted(candidates, key=lambda pair: pair[1])[:excess]]
        pipe = self.redis.pipeline(transaction=False)
        for job_id in oldest:
            pipe.hmget(keys.job(job_id), "status", "idem_key")
        for job_id, (current, idem) in zip(oldest, pipe.execute()):
            self._remove(job_id, {"tenant": tenant, "status": current, "idem_key": idem})
        return oldest

    def _remove(self, job_id: str, record: dict[str, Any]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        self.remove_into(pipe, job_id, record)
        pipe.execute()

    def remove_into(self, pipe: Any, job_id: str, record: dict[str, Any]) -> None:
        """Queue on ``pipe`` the removal of a job and everything kept for it (batches remove thousands at once)."""
        tenant = record.get("tenant")
        pipe.delete(
            keys.job(job_id),
            keys.meta(job_id),
            keys.events(job_id),
            keys.lease(job_id),
            keys.tombstone(job_id),
            *keys.job_extra_keys(job_id),
        )
        if record.get("kind"):
            pipe.zrem(keys.pending_by_kind(record["kind"]), job_id)
            # Fair dispatch lets go of it (a held job, or a sent one's slot; the mover sends the next).
            pipe.zrem(keys.flow_held(record["kind"]), job_id)
            pipe.zrem(keys.flow_out(record["kind"]), job_id)
            if tenant:
                pipe.zrem(keys.flow_waiting(record["kind"], tenant), job_id)
                pipe.zrem(keys.flow_tenant_out(tenant), job_id)
        pipe.zrem(keys.FLOW_DUE, job_id)
        if record.get("idem_key"):
            pipe.delete(record["idem_key"])
        if record.get("status") != JobStatus.RUNNING:
            pipe.delete(keys.cancel(job_id))
        if tenant:
            pipe.zrem(keys.EXPIRY, f"{tenant}|{job_id}")
            self._unindex_into(pipe, tenant, [job_id])
        pipe.zrem(keys.RUNNING, job_id)

    def _unindex(self, tenant: str, ids: list[str]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        self._unindex_into(pipe, tenant, ids)
        pipe.execute()

    @staticmethod
    def _unindex_into(pipe: redis.client.Pipeline, tenant: str, ids: list[str]) -> None:
        pipe.zrem(keys.tenant_index(tenant), *ids)
        for status in JobStatus:
            pipe.zrem(keys.tenant_index(tenant, status.value), *ids)

    def expire_due(self, now: float | None = None, batch: int = 500) -> list[str]:
        """Drop index entries of jobs whose retention ran out; returns their ids."""
        now = time.time() if now is None else now
        due = cast(list[str], self.redis.zrangebyscore(keys.EXPIRY, "-inf", now, start=0, num=batch))
        done = []
        for member in due:
            tenant, _, job_id = member.partition("|")
            if self.redis.exists(keys.job(job_id)):
                continue  # retention was extended (e.g. changed settings); not yet
            self._unindex(tenant, [job_id])
            done.append(job_id)
        if due:
            self.redis.zrem(keys.EXPIRY, *due)
        return done


def timeline(raw: dict[str, str] | None) -> list[dict[str, Any]]:
    """The job document's ``steps`` (longrun/steps.py writes them): entries in order of position."""
    entries = []
    for pos in sorted(int(p) for p in (raw or {})):
        entry = json.loads((raw or {})[str(pos)])
        entries.append(
            {
                "position": pos,
                "name": entry["name"],
                "status": entry["status"],
                "attempt": entry.get("attempt"),
                "started_at": iso(entry.get("started_at")),
                "finished_at": iso(entry.get("finished_at")),
            }
        )
    return entries


def document(record: dict[str, Any]) -> dict[str, Any]:
    """The job document clients see, from a record loaded by ``JobStore.load``."""
    meta = _loads(record.get("_meta"))
    status = JobStatus(record["status"])
    progress = _loads(record.get("progress")) or dict(EMPTY_PROGRESS)
    if status == JobStatus.COMPLETED:
        progress = {**progress, "percentage": 100}
    progress["seq"] = int(record.get("seq") or 0)
    result = meta.get("result") if meta and status == JobStatus.COMPLETED else None
    doc = {
        "id": record["id"],
        "kind": record["kind"],
        "status": status.value,
        "progress": progress,
        "created_at": iso(record.get("created_at")),
        "started_at": iso(record.get("started_at")),
        "finished_at": iso(record.get("finished_at")),
        "attempts": int(record.get("attempts") or 0),
        "priority": int(record.get("priority") or 0),
        "timeout_seconds": int(record.get("timeout_seconds") or 0),
        "metadata": _loads(record.get("metadata"), {}),
        "result": result,
        "error": _loads(record.get("error")),
        "tenant": record.get("tenant"),
        "input": _loads(record.get("input"), {}),
        "run_at": iso(record.get("run_at")),
        "schedule_id": record.get("schedule_id"),
        "retried_from": record.get("retried_from"),
        "requeues": int(record.get("requeues") or 0),
        "batch_id": record.get("batch_id"),
        "batch_index": int(record["batch_index"]) if record.get("batch_index") else None,
        # Raw epoch values for adapters that print seconds (seed 000).
        "_times": {k: float(record[k]) for k in ("created_at", "started_at", "finished_at") if record.get(k)},
    }
    if "_steps" in record:  # a single job's read (not listings): its timeline and retries
        doc["steps"] = timeline(record["_steps"])
        doc["retries"] = record.get("_retries") or []
    return doc
