"""bench/console.py runs against the current code (a rename in the console or
the core must break this test, not the next bench run). Figures are not asserted."""

import json
import subprocess
import sys

from tests.support.paths import ROOT
from tests.support.processes import subprocess_env


def test_the_console_benchmark_runs_and_reports_both_pages_and_their_baselines():
    out = subprocess.run(
        [sys.executable, "-m", "bench.console", "--jobs", "30", "--requests", "10"],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )

    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
    assert line is not None, out.stderr[-3000:]
    figures = json.loads(line[len("BENCH ") :])["30"]
    assert set(figures) == {"jobs list", "job page"}
    for page in figures.values():
        assert page["ttfb_ms"] > 0 and page["baseline_ms"] > 0
        assert page["weight_bytes"] > page["html_bytes"] > 0  # the page's CSS and JS were counted
