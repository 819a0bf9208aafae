"""No stranded job: what one worker at a time checks every third of
``LONGRUN_RECONCILE_SECONDS``.

- A job is ``pending`` but no broker message names it: its publish was lost
  (a host crash under ``appendfsync everysec``, a failover that lost the last
  writes, a republish by the reaper that failed). Nothing would ever run it.
  The reconciler publishes it again, and never a second copy of a job whose
  message exists: the look (every queue's priority lists and kombu's unacked
  hash) and the push are one Lua step (lua/reconcile.lua), and only a job that
  looked stranded on two passes a third of the period apart is pushed, so a
  message that a client holds for a moment (popped by a worker but not yet in
  the unacked hash, being restored from it) is never mistaken for a lost one.
  Jobs younger than that third are not looked at.
- A job is ``running`` but has no heartbeat deadline in ``lr:running`` and no
  live lease: no attempt will finish it and the reaper never looks at it. It
  gets a deadline of now, and the reaper settles it (workers/janitor.py).

It needs the broker to be the job store's Redis (one Redis, or Sentinel): the
look must see queues and records in one atomic step.
"""

import logging
import time
from collections.abc import Callable, Iterable
from typing import cast

from longrun import keys, redis_conn
from longrun.jobstore import JobStore

log = logging.getLogger(__name__)

# capture(job_id, kind, priority, timeout) -> (list key, payload): the job's
# message exactly as publishing it would send it (workers/broker.capture).
Capture = Callable[[str, str, int, int], tuple[str, str]]

MAX_CANDIDATES = 2000  # per pass; the oldest first, the next pass goes on


def period(store: JobStore) -> float:
    """Seconds between passes, and how long a job must look stranded (and be old) first."""
    return max(1.0, store.settings.reconcile_seconds / 3)


def enabled(store: JobStore) -> bool:
    return store.settings.reconcile_seconds > 0 and redis_conn.broker_is_store(store.settings)


def _pending_candidates(store: JobStore, older_than: float) -> list[str]:
    ids: list[str] = []
    for tenant in sorted(cast(set[str], store.redis.smembers(keys.TENANTS))):  # decoded replies
        ids += cast(
            list[str],
            store.redis.zrangebyscore(
                keys.tenant_index(tenant, "pending"),
                "-inf",
                int(older_than * 1e6),
                start=0,
                num=MAX_CANDIDATES - len(ids),
            ),
        )
        if len(ids) >= MAX_CANDIDATES:
            break
    return ids


def _running_ids(store: JobStore) -> list[str]:
    pipe = store.redis.pipeline(transaction=False)
    for tenant in sorted(cast(set[str], store.redis.smembers(keys.TENANTS))):
        pipe.zrange(keys.tenant_index(tenant, "running"), 0, MAX_CANDIDATES - 1)
    return [job_id for ids in pipe.execute() for job_id in ids]


def _check(store: JobStore, kinds: Iterable[str], jobs: list[list[str]], prune: bool) -> dict[str, list[str]]:
    reply = store._run_batch(
        "reconcile",
        queues=[key for kind in kinds for key in keys.queue_keys(kind)],
        unacked=keys.BROKER_UNACKED,
        suspects=keys.RECONCILE_SUSPECTS,
        confirm_after=period(store),
        jobs=jobs,
        prune=prune or None,
    )
    verdicts: dict[str, list[str]] = {}
    for job_id, verdict in zip(reply[::2], reply[1::2], strict=True):
        verdicts.setdefault(verdict, []).append(job_id)
    return verdicts


def reconcile(store: JobStore, capture: Capture, kinds: Iterable[str], now: float | None = None) -> dict:
    """One pass; returns job ids by verdict (see lua/reconcile.lua) and ``adopted``."""
    kinds = list(kinds)
    now = time.time() if now is None else now
    outcome: dict[str, list[str]] = {}
    candidates = _pending_candidates(store, now - period(store))
    if candidates or store.redis.exists(keys.RECONCILE_SUSPECTS):
        outcome = _check(store, kinds, [[job_id] for job_id in candidates], prune=True)
    confirmed = outcome.pop("confirmed", [])
    if confirmed:
        pipe = store.redis.pipeline(transaction=False)
        for job_id in confirmed:
            pipe.hmget(keys.job(job_id), "kind", "priority", "timeout_seconds")
        jobs = []
        for job_id, (kind, priority, timeout) in zip(confirmed, pipe.execute(), strict=True):
            if kind:
                jobs.append([job_id, *capture(job_id, kind, int(priority or 0), int(timeout or 0))])
        # The same look again, now with the messages: pushed only if still stranded.
        for verdict, ids in _check(store, kinds, jobs, prune=False).items():
            outcome.setdefault(verdict, []).extend(ids)
        for job_id in outcome.get("pushed", []):
            log.warning("job %s was pending with no message in any queue: published it again", job_id)
    running = _running_ids(store)
    adopted = store._run_batch("adopt", ids=running) if running else []
    for job_id in adopted:
        log.warning("job %s was running with no heartbeat deadline and no lease: handed to the reaper", job_id)
    outcome["adopted"] = list(adopted)
    return outcome


def try_run(store: JobStore, capture: Capture, kinds: Iterable[str]) -> dict | None:
    """Run a pass unless another worker ran one within the period (a lease key, like the janitor's)."""
    if not store.redis.set(keys.RECONCILER_LOCK, "1", nx=True, ex=max(1, int(period(store)))):
        return None
    return reconcile(store, capture, kinds)
