"""Housekeeping that one worker at a time does every few seconds.

Drops index entries and files of jobs whose retention ran out (their Redis
keys expire by themselves), and keeps at most ``max_finished_jobs`` finished
jobs per tenant (profile key ``inference.max_tasks_count``), oldest first.
"""

import logging

from longrun import keys
from longrun.artifacts import ArtifactStore
from longrun.jobstore import JobStore

log = logging.getLogger(__name__)


def run_once(store: JobStore, artifacts: ArtifactStore) -> dict:
    """One janitor pass; returns what it did, for logs and tests."""
    expired = store.expire_due()
    for job_id in expired:
        artifacts.delete_job(job_id)
    trimmed = []
    if store.settings.max_finished_jobs:
        for tenant in sorted(store.redis.smembers(keys.TENANTS)):
            trimmed += store.trim_finished(tenant, store.settings.max_finished_jobs)
        for job_id in trimmed:
            artifacts.delete_job(job_id)
    return {"expired": expired, "trimmed": trimmed}


def try_run(store: JobStore, artifacts: ArtifactStore, interval: float) -> dict | None:
    """Run a pass unless another worker ran one within ``interval`` seconds."""
    if not store.redis.set(keys.JANITOR_LOCK, "1", nx=True, ex=max(1, int(interval))):
        return None
    return run_once(store, artifacts)
