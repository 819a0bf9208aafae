"""Cron schedules: records in Redis, their next tick, and firing them exactly once.

A schedule is a hash (``keys.schedule``) with a job template; an active one
sits in ``keys.SCHEDULES_DUE`` scored by its next tick. The one elected mover
(workers/dispatcher.py) fires what is due: it makes the tick's job with an
id and an idempotency key derived from (schedule, tick), then moves the tick
forward with a compare-and-set on the due score. A mover that dies between
the two leaves the tick due; the next mover makes the same job again, which
the idempotency key turns into the existing one: exactly one job per tick.

After an outage longer than a tick, the tick found due is fired once (one
catch-up run) and the next tick is the first one after now: missed ticks are
not replayed in a burst.

Cron expressions are parsed by cronsim (5 fields, or 6 with seconds first);
times are computed in the schedule's IANA time zone, so "0 9 * * *" in
Europe/Berlin stays at 09:00 local time across daylight-saving changes.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import redis
from cronsim import CronSim, CronSimError

from longrun import keys
from longrun.errors import InvalidInput, ScheduleNotFound, redis_errors_as_unavailable
from longrun.redis_replies import ScoredMembers
from longrun.states import JobStatus

OVERLAP_POLICIES = ("skip", "queue", "cancel_previous")
# Job ids of schedule ticks: uuid5(namespace, "<schedule id>:<tick>") is the same in every process.
TICK_NAMESPACE = uuid.UUID("6c1b8a52-3f0e-4f7e-9d7a-1e2b3c4d5e6f")

# Advance the schedule's tick if it is still the one the caller fired.
# KEYS: due, schedule, queued. ARGV: id, tick, next, job_id ('' none), queued ('1' / '0'), now
ADVANCE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not score) or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[2], 'next_run_at', ARGV[3], 'last_tick_at', ARGV[2])
if ARGV[4] ~= '' then
  redis.call('HINCRBY', KEYS[2], 'runs', 1)
  redis.call('HSET', KEYS[2], 'last_run_at', ARGV[6])
  if ARGV[5] == '1' then
    redis.call('HSET', KEYS[2], 'queued_job_id', ARGV[4])
    redis.call('SADD', KEYS[3], ARGV[1])
  else
    redis.call('HSET', KEYS[2], 'last_job_id', ARGV[4])
  end
end
return 1
"""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone {name!r} (an IANA name such as Europe/Berlin)",
            details={"timezone": [f"unknown time zone {name!r}"]},
        ) from None


def next_tick(cron: str, tz: str, after: float) -> float:
    """The first tick of ``cron`` in ``tz`` strictly after ``after`` (epoch seconds)."""
    start = datetime.fromtimestamp(int(after), tz=zone(tz))
    try:
        return next(CronSim(cron, start)).timestamp()
    except CronSimError as exc:
        raise InvalidInput(
            f"invalid cron expression {cron!r}: {exc}", details={"cron": [f"invalid cron expression: {exc}"]}
        ) from None
    except StopIteration:
        raise InvalidInput(f"cron expression {cron!r} never fires", details={"cron": ["never fires"]}) from None


def tick_job_id(schedule_id: str, tick: float) -> str:
    return uuid.uuid5(TICK_NAMESPACE, f"{schedule_id}:{int(tick)}").hex


def iso(ts: float | str | None) -> str | None:
    if ts in (None, ""):
        return None
    return datetime.fromtimestamp(float(ts), tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def document(record: dict[str, str]) -> dict[str, Any]:
    paused = record.get("paused") == "1"
    return {
        "id": record["id"],
        "cron": record["cron"],
        "timezone": record["timezone"],
        "job": json.loads(record["job"]),
        "overlap": record["overlap"],
        "paused": paused,
        "created_at": iso(record.get("created_at")),
        "next_run_at": None if paused else iso(record.get("next_run_at")),
        "last_run_at": iso(record.get("last_run_at")),
        "last_job_id": record.get("last_job_id") or None,
        "queued_job_id": record.get("queued_job_id") or None,
        "runs": int(record.get("runs") or 0),
    }


class ScheduleStore:
    def __init__(self, client: redis.Redis):
        self.redis = client
        self._advance = client.register_script(ADVANCE)

    # -- the API's side ------------------------------------------------------

    def create(
        self,
        tenant: str,
        *,
        cron: str,
        timezone: str,
        job: dict[str, Any],
        overlap: str,
        paused: bool = False,
        now: float | None = None,
    ) -> dict[str, Any]:
        now = time.time() if now is None else now
        upcoming = next_tick(cron, timezone, now)
        schedule_id = uuid.uuid4().hex
        record = {
            "id": schedule_id,
            "tenant": tenant,
            "cron": cron,
            "timezone": timezone,
            "job": json.dumps(job),
            "overlap": overlap,
            "paused": "1" if paused else "0",
            "created_at": f"{now:.6f}",
            "next_run_at": f"{upcoming:.6f}",
            "runs": "0",
        }
        with redis_errors_as_unavailable():
            pipe = self.redis.pipeline(transaction=True)
            pipe.hset(keys.schedule(schedule_id), mapping=cast(Mapping[Any, Any], record))
            pipe.zadd(keys.tenant_schedules(tenant), {schedule_id: now})
            if not paused:
                pipe.zadd(keys.SCHEDULES_DUE, {schedule_id: upcoming})
            pipe.execute()
        return document(record)

    def load(self, tenant: str | None, schedule_id: str) -> dict[str, str]:
        with redis_errors_as_unavailable():
            record = cast(dict[str, str], self.redis.hgetall(keys.schedule(schedule_id)))
        if not record or (tenant is not None and record.get("tenant") != tenant):
            raise ScheduleNotFound(f"no schedule with id {schedule_id}")
        return record

    def get(self, tenant: str, schedule_id: str) -> dict[str, Any]:
        return document(self.load(tenant, schedule_id))

    def of_tenant(self, tenant: str) -> list[dict[str, Any]]:
        with redis_errors_as_unavailable():
            ids = cast(list[str], self.redis.zrange(keys.tenant_schedules(tenant), 0, -1))
            pipe = self.redis.pipeline(transaction=False)
            for schedule_id in ids:
                pipe.hgetall(keys.schedule(schedule_id))
            return [document(r) for r in pipe.execute() if r]

    def update(
        self, tenant: str, schedule_id: str, changes: dict[str, Any], now: float | None = None
    ) -> dict[str, Any]:
        """Change cron, timezone, job, overlap and/or paused; the next tick follows from now."""
        now = time.time() if now is None else now
        record = self.load(tenant, schedule_id)
        fields: dict[str, str] = {}
        for name in ("cron", "timezone", "overlap"):
            if name in changes:
                fields[name] = changes[name]
        if "job" in changes:
            fields["job"] = json.dumps(changes["job"])
        if "paused" in changes:
            fields["paused"] = "1" if changes["paused"] else "0"
        merged = {**record, **fields}
        upcoming = next_tick(merged["cron"], merged["timezone"], now)
        fields["next_run_at"] = f"{upcoming:.6f}"
        with redis_errors_as_unavailable():
            pipe = self.redis.pipeline(transaction=True)
            pipe.hset(keys.schedule(schedule_id), mapping=cast(Mapping[Any, Any], fields))
            if merged["paused"] == "1":
                pipe.zrem(keys.SCHEDULES_DUE, schedule_id)
            else:
                pipe.zadd(keys.SCHEDULES_DUE, {schedule_id: upcoming})
            pipe.execute()
        return document({**merged, **fields})

    def delete(self, tenant: str, schedule_id: str) -> None:
        self.load(tenant, schedule_id)
        with redis_errors_as_unavailable():
            pipe = self.redis.pipeline(transaction=True)
            pipe.delete(keys.schedule(schedule_id))
            pipe.zrem(keys.tenant_schedules(tenant), schedule_id)
            pipe.zrem(keys.SCHEDULES_DUE, schedule_id)
            pipe.srem(keys.SCHEDULES_QUEUED, schedule_id)
            pipe.execute()

    # -- the mover's side ----------------------------------------------------

    def due(self, now: float, batch: int = 100) -> list[tuple[str, float]]:
        due = self.redis.zrangebyscore(keys.SCHEDULES_DUE, "-inf", now, start=0, num=batch, withscores=True)
        return [(sid, float(score)) for sid, score in cast(ScoredMembers, due)]

    def advance(
        self,
        schedule_id: str,
        tick: float,
        upcoming: float,
        job_id: str | None,
        queued: bool = False,
        now: float | None = None,
    ) -> bool:
        now = time.time() if now is None else now
        return bool(
            self._advance(
                keys=[keys.SCHEDULES_DUE, keys.schedule(schedule_id), keys.SCHEDULES_QUEUED],
                args=[schedule_id, repr(tick), repr(upcoming), job_id or "", "1" if queued else "0", f"{now:.6f}"],
            )
        )


# make_job(record, tick, job_id, held) -> the id of the job made (or found) for that tick.
JobMaker = Callable[[dict[str, str], float, str, bool], str]
# status_of(job_id) -> the job's status, None when it is gone; cancel(job_id) asks it to stop.
StatusOf = Callable[[str], "str | None"]


def fire_due(
    schedules: ScheduleStore,
    make_job: JobMaker,
    status_of: StatusOf,
    cancel: Callable[[str], Any],
    now: float | None = None,
) -> list[tuple[str, str]]:
    """Fire every due tick once; returns (schedule id, outcome) pairs (run, queued, skipped)."""
    now = time.time() if now is None else now
    fired = []
    for schedule_id, tick in schedules.due(now):
        record = cast(dict[str, str], schedules.redis.hgetall(keys.schedule(schedule_id)))
        if not record or record.get("paused") == "1":
            schedules.redis.zrem(keys.SCHEDULES_DUE, schedule_id)
            continue
        previous = record.get("last_job_id")
        previous_status = status_of(previous) if previous else None
        busy = previous_status is not None and not JobStatus(previous_status).is_final
        policy = record["overlap"]
        job_id, queued, outcome = None, False, "run"
        if busy and policy == "skip":
            outcome = "skipped"
        elif busy and policy == "queue":
            if record.get("queued_job_id"):  # one run waits already: this tick adds none
                outcome = "skipped"
            else:
                job_id, queued, outcome = make_job(record, tick, tick_job_id(schedule_id, tick), True), True, "queued"
        else:
            if busy and previous and policy == "cancel_previous":
                cancel(previous)
            job_id = make_job(record, tick, tick_job_id(schedule_id, tick), False)
        upcoming = next_tick(record["cron"], record["timezone"], max(tick, now))
        if schedules.advance(schedule_id, tick, upcoming, job_id, queued, now):
            fired.append((schedule_id, outcome))
    return fired


def release_queued(schedules: ScheduleStore, status_of: StatusOf, promote: Callable[[str], Any]) -> list[str]:
    """Start the queued run of every schedule whose previous job has ended; returns their job ids."""
    started = []
    for schedule_id in cast(set[str], schedules.redis.smembers(keys.SCHEDULES_QUEUED)):
        record = cast(dict[str, str], schedules.redis.hgetall(keys.schedule(schedule_id)))
        queued = record.get("queued_job_id") if record else None
        previous = record.get("last_job_id") if record else None
        status = status_of(previous) if previous else None
        if queued and status is not None and not JobStatus(status).is_final:
            continue  # still running: the queued run keeps waiting
        pipe = schedules.redis.pipeline(transaction=True)
        pipe.srem(keys.SCHEDULES_QUEUED, schedule_id)
        if record and queued:
            pipe.hset(keys.schedule(schedule_id), "last_job_id", queued)
            pipe.hdel(keys.schedule(schedule_id), "queued_job_id")
        pipe.execute()
        if queued:
            promote(queued)
            started.append(queued)
    return started
