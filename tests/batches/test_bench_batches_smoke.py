"""bench.batches runs against the current code (small counts; nothing is timed here)."""

import json
import subprocess
import sys

from tests.support.paths import ROOT


def test_batch_bench_runs_and_reports_both_sides():
    out = subprocess.run(
        [sys.executable, "-m", "bench.batches", "--items", "50", "--rounds", "1", "--reads", "50"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
    assert line is not None, out.stderr[-3000:]
    data = json.loads(line[len("BENCH ") :])
    assert set(data["accept_seconds"]) == {"batch", "loop", "concurrent"}
    assert all(v[0] > 0 for v in data["accept_seconds"].values())
    assert data["read_ms"]["batch"]["n"] == data["read_ms"]["job"]["n"] == 50
