"""BrowserSession's promise that no Chromium outlives its job, even when the
job's process is killed outright (the hard time limit, the OOM killer)."""

import os
import signal
import subprocess
import sys

from backends.browser.processes import marked_processes
from tests.support.paths import ROOT
from tests.support.processes import subprocess_env
from tests.support.waiting import wait_until

HOLD_A_BROWSER = """
import sys, time
from backends.browser.session import BrowserSession
session = BrowserSession(sys.argv[1]).__enter__()
print("ready", flush=True)
time.sleep(120)
"""


def test_a_killed_job_process_takes_its_chromium_with_it(tmp_path):
    marker = f"session-test-{os.getpid()}"
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_BROWSER, marker],
        cwd=ROOT,
        env=subprocess_env(TMPDIR=str(tmp_path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == "ready"
        assert len(marked_processes(marker)) >= 2  # the browser and its helpers, found by marker
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        # Playwright's driver sees its parent's pipe close and ends the browser.
        wait_until(lambda: not marked_processes(marker), timeout=30, message="Chromium to end")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        process.stdout.close()


def test_profiles_older_than_any_job_can_run_are_swept(tmp_path, monkeypatch):
    import tempfile
    import time

    from backends.browser.profiles import new_profile_dir, sweep_stale_profiles

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fresh = new_profile_dir()
    stale = tmp_path / f"longrun-chromium-{int(time.time()) - 7200}-abc"
    stale.mkdir()
    (stale / "Cookies").write_text("x")
    unrelated = tmp_path / "longrun-chromium-notastamp"
    unrelated.mkdir()
    assert sweep_stale_profiles(3600) == [str(stale)]
    assert not stale.exists() and os.path.isdir(fresh) and unrelated.exists()
