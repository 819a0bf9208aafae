"""The job store of this worker process (created lazily, fork-safe)."""

from functools import lru_cache, partial

from longrun.artifacts import ArtifactStore
from longrun.jobstore import JobStore, worker_lost
from longrun.settings import get_settings
from longrun.steps import StepStore
from longrun.webhooks import Dispatcher
from workers.celery_app import app
from workers.publish import publish_webhook


@lru_cache(maxsize=1)
def job_store() -> JobStore:
    # redis-py's pool notices a fork and reconnects, so one per process is safe.
    store = JobStore.from_settings(get_settings())
    # State changes made here (claim, progress, final) trigger the job's webhook.
    store.on_transition = Dispatcher(store, partial(publish_webhook, app))
    return store


@lru_cache(maxsize=1)
def step_store() -> StepStore:
    """Checkpoints of this process's jobs, over the same Redis client (and webhooks)."""
    return StepStore(job_store())


@lru_cache(maxsize=4)
def artifact_store(root: str) -> ArtifactStore:
    """The artifact folder at ``root`` (stateless; built once, not per job)."""
    return ArtifactStore(root)


@lru_cache(maxsize=4)
def lost_outcome(max_attempts: int) -> tuple[dict[str, str], str]:
    """``worker_lost(max_attempts)``, built once per process: every claim passes it."""
    return worker_lost(max_attempts)
