"""The job store of this worker process (created lazily, fork-safe)."""

from functools import lru_cache

from longrun.jobstore import JobStore
from longrun.settings import get_settings


@lru_cache(maxsize=1)
def job_store() -> JobStore:
    # redis-py's pool notices a fork and reconnects, so one per process is safe.
    return JobStore.from_settings(get_settings())
