"""Housekeeping that one worker at a time does every few seconds.

- Expiry: drops index entries and files of jobs whose retention ran out (their
  Redis keys expire by themselves), and keeps at most ``max_finished_jobs``
  finished jobs per tenant (profile key ``inference.max_tasks_count``), oldest first.
- Reaper: a running job's attempt renews its lease and its heartbeat deadline
  in ``lr:running`` every ``heartbeat_seconds``. An entry whose deadline passed
  with no live lease belongs to a worker that vanished (host lost, process
  group killed): the job is re-queued, or failed as "worker lost" once it used
  up ``max_attempts``, so no job stays ``running`` forever. Re-queueing
  republishes the job id as its task id; should the broker also redeliver the
  vanished worker's copy later, the claim lets only one copy run the job.
- Replays: carries on bulk replays (longrun/replay.py) that did not finish
  within the request that started them.
"""

import logging
from collections.abc import Callable
from typing import cast

from longrun import keys, replay
from longrun.artifacts import ArtifactStore
from longrun.batches import BatchStore
from longrun.jobstore import JobStore
from tasks.registry import KINDS
from workers.webhook_task import deliver_webhook

log = logging.getLogger(__name__)

# publish(job_id, kind, priority, timeout): sends the job's message to its queue.
Publisher = Callable[[str, str, int, int], None]


def reap_stale(store: JobStore, publish: Publisher, now: float | None = None) -> dict[str, list[str]]:
    """Settle every job whose heartbeat went stale; returns ids by verdict."""
    # A re-queued copy nobody claimed within the visibility timeout is
    # republished again, as the broker would redeliver an unacked message.
    grace = store.settings.visibility_timeout_seconds
    outcome: dict[str, list[str]] = {}
    for job_id in store.stale_running(now):
        verdict, job = store.reap(job_id, requeue_grace=grace)
        if verdict == "requeue":
            publish(job_id, job["kind"], job["priority"], job["timeout"])
            log.warning("job %s: its worker stopped sending heartbeats; re-queued", job_id)
        elif verdict in ("failed", "cancelled"):
            log.warning("job %s: its worker stopped sending heartbeats; %s", job_id, verdict)
        outcome.setdefault(verdict, []).append(job_id)
    return outcome


def run_once(store: JobStore, artifacts: ArtifactStore, publish: Publisher | None = None) -> dict:
    """One janitor pass; returns what it did, for logs and tests."""
    expired = store.expire_due()
    for job_id in expired:
        artifacts.delete_job(job_id)
    trimmed = []
    if store.settings.max_finished_jobs:
        for tenant in sorted(cast(set[str], store.redis.smembers(keys.TENANTS))):  # decoded replies
            trimmed += store.trim_finished(tenant, store.settings.max_finished_jobs)
        for job_id in trimmed:
            artifacts.delete_job(job_id)
    reaped = reap_stale(store, publish) if publish else {}
    # Bulk replays (POST /api/v1/jobs/retry) that outgrew their request go on here, a chunk per pass.
    replays = replay.advance_active(store, artifacts, publish=publish, file_fields=_file_fields) if publish else []
    return {
        "expired": expired,
        "trimmed": trimmed,
        "reaped": reaped,
        "replays": replays,
        **batch_pass(store, artifacts),
    }


def _file_fields(kind: str) -> tuple[str, ...]:
    found = KINDS.get(kind)
    return found.file_fields if found else ()


def batch_pass(store: JobStore, artifacts: ArtifactStore) -> dict:
    """Batches: past their completion window (cancel the rest), past retention (go with all their
    jobs), and just ended (their webhook fires once)."""
    batches = BatchStore(store)
    overdue = batches.expire_overdue()
    expired, jobs = batches.expire_due()
    for job_id in jobs:
        artifacts.delete_job(job_id)
    ended = batches.ended_deliveries()
    for bid, delivery_id in ended:
        deliver_webhook.apply_async(args=[bid, delivery_id], queue=keys.WEBHOOK_QUEUE)
    return {"batches_overdue": overdue, "batches_expired": expired, "batches_notified": [b for b, _ in ended]}


def try_run(
    store: JobStore, artifacts: ArtifactStore, interval: float, publish: Publisher | None = None
) -> dict | None:
    """Run a pass unless another worker ran one within ``interval`` seconds."""
    if not store.redis.set(keys.JANITOR_LOCK, "1", nx=True, ex=max(1, int(interval))):
        return None
    return run_once(store, artifacts, publish)
