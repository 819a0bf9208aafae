"""Chromium user-data-dirs: a fresh one per job, removed when the job ends, and
a sweep for those of processes killed outright (which never ran their cleanup)."""

import shutil
import tempfile
import time
from pathlib import Path

PROFILE_PREFIX = "longrun-chromium-"


def new_profile_dir() -> str:
    """A fresh, empty user-data-dir whose name says when it was made."""
    return tempfile.mkdtemp(prefix=f"{PROFILE_PREFIX}{int(time.time())}-")


def sweep_stale_profiles(max_age_seconds: float, now: float | None = None) -> list[str]:
    """Remove profiles older than any job can run: those whose process was killed
    outright (hard time limit, OOM) and so never ran its cleanup."""
    now = time.time() if now is None else now
    removed = []
    for path in Path(tempfile.gettempdir()).glob(PROFILE_PREFIX + "*"):
        stamp = path.name[len(PROFILE_PREFIX):].split("-", 1)[0]
        if stamp.isdigit() and now - int(stamp) > max_age_seconds:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
    return removed

