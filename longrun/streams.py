"""The live event stream of a job, as Server-Sent Events, read from Redis.

Workers append every state change of a job to its Redis Stream
(``lr:ev:<id>``, written by the job store's transition script in the same
atomic step as the state itself). A reader follows it with ``XREAD BLOCK``
from any entry id, so a client that reconnects with ``Last-Event-ID`` (the
entry id we sent as the SSE ``id:``) gets exactly the events after it: none
missed, none twice. Pub/sub would lose whatever was published while a client
was between connections (and before it subscribed), and would need a second
read of the current state with a race between the two.

Open streams are bounded per tenant by a lease set (``StreamSlots``): a
sorted set of stream tokens scored by when their lease lapses; a stream
renews its lease at every heartbeat, so slots of a process that died vanish
by themselves within one lease instead of leaking like a bare counter would.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast

import redis

from longrun import keys
from longrun.errors import REDIS_UNREACHABLE, InvalidInput, LongrunError, TooManyStreams
from longrun.jobstore import JobStore, document
from longrun.redis_replies import XReadReply
from longrun.states import JobStatus

EVENT_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
# Browsers' EventSource waits this long (ms) before reconnecting.
RECONNECT_MS = 2000
BATCH = 100
# The event that tells a resuming reader to re-read the job (see job_events).
RESYNC = "resync"

# KEYS[1]: the tenant's slot set. ARGV: now, lease_until, limit, token, key ttl.
ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


def parse_last_event_id(value: str | None) -> str:
    """The stream position to start after; "0-0" (everything) when none is given."""
    if not value:
        return "0-0"
    if not EVENT_ID.match(value):
        raise InvalidInput(
            "Last-Event-ID must be an event id this stream sent (like 1700000000000-0)",
            details={"Last-Event-ID": ["must look like <ms>-<n>"]},
        )
    return value


class StreamSlots:
    """At most ``limit`` open streams per tenant, across every API process."""

    def __init__(self, client: redis.Redis, limit: int, heartbeat_seconds: float):
        self.redis = client
        self.limit = limit
        self.lease_seconds = 2 * heartbeat_seconds + 10
        self._acquire = client.register_script(ACQUIRE)

    def acquire(self, tenant: str) -> str:
        token = uuid.uuid4().hex
        now = time.time()
        ok = self._acquire(
            keys=[keys.stream_slots(tenant)],
            args=[now, now + self.lease_seconds, self.limit, token, int(self.lease_seconds) + 1],
        )
        if not ok:
            raise TooManyStreams(
                f"at most {self.limit} event streams may be open at once; close one, or poll GET /api/v1/jobs/{{id}}",
                details={"limit": self.limit},
            )
        return token

    def renew(self, tenant: str, token: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(keys.stream_slots(tenant), {token: time.time() + self.lease_seconds}, xx=True)
        pipe.expire(keys.stream_slots(tenant), int(self.lease_seconds) + 1)
        pipe.execute()

    def release(self, tenant: str, token: str) -> None:
        try:
            self.redis.zrem(keys.stream_slots(tenant), token)
        except redis.RedisError:
            pass  # the lease lapses by itself

    def open_count(self, tenant: str) -> int:
        return self.redis.zcount(keys.stream_slots(tenant), time.time(), "+inf")


def frame(event: str, data: dict[str, Any], event_id: str | None = None) -> str:
    """One SSE message."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def entry_data(job_id: str, fields: dict[str, str]) -> tuple[str, dict[str, Any], bool]:
    """A stream entry -> (SSE event name, data, is final)."""
    status = JobStatus(fields["status"])
    progress = json.loads(fields["progress"]) if fields.get("progress") else None
    data = {
        "id": job_id,
        "seq": int(fields.get("seq", 0)),
        "status": status.value,
        "progress": progress,
        "error": json.loads(fields["error"]) if fields.get("error") else None,
    }
    if status.is_final:
        return "status", data, True
    kind = fields.get("type") or ("progress" if progress is not None else "status")
    return kind, data, False


def older(entry_id: str, than: str) -> bool:
    """Whether stream entry id ``entry_id`` comes before ``than``."""
    ms, _, n = entry_id.partition("-")
    ms2, _, n2 = than.partition("-")
    return (int(ms), int(n or 0)) < (int(ms2), int(n2 or 0))


def resync_frame(job_id: str, dropped: str) -> str:
    """Told to a reader resuming from before the newest event dropped to bound the stream."""
    return frame(
        RESYNC,
        {
            "id": job_id,
            "dropped_through": dropped,
            "message": "progress events after your Last-Event-ID were dropped to bound the "
            "stream; re-read the job (GET /api/v1/jobs/{id}). Every status change "
            "that follows is still sent.",
        },
    )


def job_events(
    store: JobStore,
    job_id: str,
    after: str,
    *,
    heartbeat_seconds: float,
    on_heartbeat: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[str]:
    """SSE text of the job's events after entry id ``after``, live, until its
    final state (which carries the result), or until the job is deleted."""
    client = store.redis
    stream = keys.events(job_id)
    # XREAD BLOCK must return before the client's socket timeout would fire.
    block_ms = max(50, int(min(1.0, store.settings.redis_timeout_seconds / 2) * 1000))
    yield f"retry: {RECONNECT_MS}\n\n"
    last_write = clock()
    try:
        if after != "0-0":
            # Progress events are dropped (oldest first) to bound the stream; a reader
            # resuming from before the newest dropped one would miss some: say so.
            dropped = cast(str | None, client.hget(keys.job(job_id), "ev_dropped"))
            if dropped and older(after, dropped):
                yield resync_frame(job_id, dropped)
        first = True
        while True:
            reply = client.xread({stream: after}, count=BATCH, block=None if first else block_ms)
            for _, entries in cast(XReadReply, reply or ()):
                for entry_id, fields in entries:
                    after = entry_id
                    event, data, final = entry_data(job_id, fields)
                    if final:
                        # The final state carries the job's result and last progress
                        # (100 % when completed), as GET /jobs/{id} shows them.
                        data["progress"], data["result"] = _final(store, job_id, data["progress"])
                    yield frame(event, data, entry_id)
                    if final:
                        return
            if reply:
                last_write = clock()
            elif first or not client.exists(keys.job(job_id)):
                # Nothing new. A job that is gone, or already final with its
                # final event sent before this reconnect, has nothing more to say.
                status = client.hget(keys.job(job_id), "status")
                if status is None:
                    yield frame("gone", {"id": job_id, "message": "the job was deleted or has expired"})
                    return
                if JobStatus(status).is_final:
                    return
            if clock() - last_write >= heartbeat_seconds:
                yield ": keepalive\n\n"
                last_write = clock()
                if on_heartbeat:
                    on_heartbeat()
            first = False
    except REDIS_UNREACHABLE:
        # The client reconnects with Last-Event-ID and misses nothing.
        yield ": redis unreachable; reconnect to resume\n\n"


def _final(store: JobStore, job_id: str, progress: dict[str, Any] | None) -> tuple[dict[str, Any] | None, Any]:
    try:
        job = document(store.load(job_id))
    except LongrunError:  # deleted or expired just now, or Redis gone: the event as it was
        return progress, None
    return job["progress"], job["result"]
