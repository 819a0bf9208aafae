"""bench.flow runs against the current code (small counts; nothing is timed here)."""

import subprocess
import sys

import pytest

from tests.support.paths import ROOT

pytestmark = pytest.mark.integration


def test_the_fair_dispatch_bench_runs_and_reports_both_sides():
    out = subprocess.run(
        [sys.executable, "-m", "bench.flow", "--jobs", "40", "--rounds", "1", "--tenants", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0].startswith("| figure | fair dispatch on | off")
    figures = {row.split(" | ")[0].strip("| ") for row in rows[1:]}
    assert figures == {
        "end-to-end no-op jobs/s, 1 tenant",
        "end-to-end no-op jobs/s, 5 tenants",
        "submit -> started, 1 tenant busy, free slot (ms)",
        "final transition + next dispatch, 5 tenants waiting (µs)",
    }
