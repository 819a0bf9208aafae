"""Chromium user-data-dirs: a fresh one per job, removed when the job ends, and
a sweep for those of processes killed outright (which never ran their cleanup)."""

import json
import shutil
import tempfile
import time
from pathlib import Path

PROFILE_PREFIX = "longrun-chromium-"


# The profile preferences the WebRtcIPHandling policy sets: WebRTC may use no UDP
# that does not go through the proxy (and an HTTP proxy carries no UDP), so a page
# cannot reach a STUN/TURN server around the egress rules. The launch flag says
# the same (backends/browser/session.py); this holds should a build ignore it.
PREFERENCES = {
    "webrtc": {
        "ip_handling_policy": "disable_non_proxied_udp",
        "multiple_routes_enabled": False,
        "nonproxied_udp_enabled": False,
    }
}


def new_profile_dir() -> str:
    """A fresh user-data-dir whose name says when it was made, holding only PREFERENCES."""
    path = Path(tempfile.mkdtemp(prefix=f"{PROFILE_PREFIX}{int(time.time())}-"))
    (path / "Default").mkdir()
    (path / "Default" / "Preferences").write_text(json.dumps(PREFERENCES))
    return str(path)


def sweep_stale_profiles(max_age_seconds: float, now: float | None = None) -> list[str]:
    """Remove profiles older than any job can run: those whose process was killed
    outright (hard time limit, OOM) and so never ran its cleanup."""
    now = time.time() if now is None else now
    removed = []
    for path in Path(tempfile.gettempdir()).glob(PROFILE_PREFIX + "*"):
        stamp = path.name[len(PROFILE_PREFIX) :].split("-", 1)[0]
        if stamp.isdigit() and now - int(stamp) > max_age_seconds:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
    return removed
