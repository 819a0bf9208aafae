"""The processes of a job's browser: each carries ``MARKER_ENV=<job id>`` in its
environment, so that a close that hangs, or a driver that died, is backed by
killing every process with the job's marker."""

import os
import signal
from pathlib import Path

# Every Chromium process of a job carries this in its environment (found and ended by it).
MARKER_ENV = "LONGRUN_BROWSER_JOB"


def marked_processes(marker: str) -> list[int]:
    """Pids of live processes whose environment has MARKER_ENV=marker."""
    needle = f"{MARKER_ENV}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:  # gone, or not ours to read
            continue
    return found


def kill_marked(marker: str) -> int:
    """SIGKILL every process carrying ``marker``; returns how many there were."""
    pids = marked_processes(marker)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(pids)
