"""The short chaos run (bench/chaos.py --short, about a minute): sleep jobs
through two workers on a Sentinel-managed Redis with LONGRUN_REDIS_MIN_REPLICAS=1
while pool processes and whole workers are SIGKILLed and the master is killed
and failed over (the old one restarted on its append-only file as a replica).
No accepted job is lost, none is duplicated, none is left running."""

import json
import subprocess
import sys

import pytest

from tests.support.paths import ROOT
from tests.support.processes import subprocess_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def test_short_chaos_run_loses_and_duplicates_nothing():
    out = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--short", "--sentinel"],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )

    line = next((x for x in out.stdout.splitlines() if x.startswith("CHAOS ")), None)
    assert line is not None, out.stderr[-4000:]
    counts = json.loads(line[len("CHAOS ") :])
    print("\n" + out.stdout.splitlines()[0])
    assert counts["accepted"] > 100
    assert counts["lost"] == 0 and counts["duplicated"] == 0, out.stderr[-4000:]
    assert counts["left_running"] == counts["over_attempts"] == counts["no_result"] == 0
    assert counts["http_500"] == 0 and counts["failed_other"] == 0
    assert counts["completed"] + counts["failed_worker_lost"] == counts["accepted"]
    assert sum(counts["faults"].values()) >= 3  # the faults did happen
