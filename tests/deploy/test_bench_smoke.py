"""The benchmark's in-process part runs against the current code (a rename in
the core must break this test, not the next bench run)."""

import json
import subprocess
import sys

from tests.support.paths import ROOT
from tests.support.processes import subprocess_env


def test_progress_micro_benchmark_runs_and_reports_both_sides(redis_url):
    out = subprocess.run(
        [sys.executable, "-m", "bench.micro", "20", "1"],
        cwd=ROOT,
        env=subprocess_env(REDIS_URL=redis_url),
        capture_output=True,
        text=True,
        timeout=120,
    )

    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
    assert line is not None, out.stderr[-3000:]
    data = json.loads(line[len("BENCH ") :])
    assert data["longrun"] and data["raw"]
    assert all(block["cpu_us"] > 0 for block in data["longrun"] + data["raw"])


def test_checkpoint_benchmark_runs_both_sides_and_measures_a_steps_memory(redis_url):
    out = subprocess.run(
        [sys.executable, "-m", "bench.steps", "10", "1", "0"],
        cwd=ROOT,
        env=subprocess_env(REDIS_URL=redis_url),
        capture_output=True,
        text=True,
        timeout=120,
    )

    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
    assert line is not None, out.stderr[-3000:]
    data = json.loads(line[len("BENCH ") :])
    [figure] = data["figures"]
    assert len(figure["with"]) == len(figure["without"]) == 1
    assert data["memory"]["timeline_bytes"] > 0 and data["memory"]["outputs_bytes"] > 0
