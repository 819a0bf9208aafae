"""Batches from the Python client and the ``longrun batch`` CLI, against gunicorn and a real worker."""

import json

import pytest

from longrun_client import BatchHandle, InvalidInput
from longrun_client.cli import ExitCode, render_batch_progress

pytestmark = pytest.mark.integration


def test_client_submits_waits_and_reads_results(lr_client):
    batch = lr_client.submit_batch("sleep", [{"seconds": 0.1 * (i % 2)} for i in range(5)], metadata={"n": 5})
    assert isinstance(batch, BatchHandle) and batch.last["counts"]["total"] == 5
    seen = []

    done = batch.wait(timeout=60, on_progress=lambda b: seen.append(dict(b["counts"])))

    assert done["status"] == "completed" and done["counts"]["completed"] == 5
    assert seen and seen[-1]["completed"] == 5
    assert [r["index"] for r in batch.results()] == [0, 1, 2, 3, 4]
    assert [j["batch_index"] for j in batch.jobs(page_size=2)] == [0, 1, 2, 3, 4]
    assert batch.id in [b["id"] for b in lr_client.batches(limit=5)]
    with pytest.raises(InvalidInput) as refused:
        lr_client.submit_batch("sleep", [{"seconds": 0}, {"seconds": -1}])
    assert "item 1" in str(refused.value)
    batch.delete()


def test_cli_batch_submit_wait_shows_one_bar_and_results(run_cli, tmp_path):
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"seconds": 0.2, "steps": 2}) + "\n" for _ in range(4)))

    run = run_cli("batch", "submit", str(items), "--kind", "sleep", "--wait")

    assert run.returncode == ExitCode.OK, run.stderr
    lines = run.stderr.splitlines()
    assert lines[0].startswith("submitted batch_") and "(4 items)" in lines[0]
    batch_id = lines[0].split()[1]
    bars = [line for line in lines if line.startswith(batch_id[:14])]
    assert bars and "100.0%  completed  4/4 done" in bars[-1], run.stderr
    assert "completed: 4 completed, 0 failed, 0 cancelled" in lines[-1]

    results = run_cli("batch", "results", batch_id)
    assert results.returncode == ExitCode.OK
    lines = [json.loads(line) for line in results.stdout.splitlines()]
    assert [r["index"] for r in lines] == [0, 1, 2, 3]
    assert all(r["result"] == {"slept": 0.2, "steps": 2} for r in lines)

    status = run_cli("batch", "status", batch_id, "--json")
    assert json.loads(status.stdout)["counts"]["completed"] == 4
    assert run_cli("batch", "rm", batch_id).returncode == ExitCode.OK
    assert run_cli("batch", "status", batch_id).returncode == ExitCode.NOT_FOUND


def test_cli_batch_exit_codes(run_cli, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"seconds": 0}\n{"seconds": "x"}\n')
    refused = run_cli("batch", "submit", str(bad), "--kind", "sleep")
    assert refused.returncode == ExitCode.USAGE and "item 1" in refused.stderr
    failing = tmp_path / "fail.jsonl"
    failing.write_text('{"seconds": 0}\n{"seconds": 0, "fail": true}\n')
    run = run_cli("batch", "submit", str(failing), "--kind", "sleep", "--wait", "-q")
    assert run.returncode == ExitCode.JOB_FAILED, run.stderr


def test_render_batch_progress():
    line = render_batch_progress("running", {"total": 4, "completed": 1, "failed": 1, "running": 2, "cancelled": 0})
    assert line == "[############------------]  50.0%  running  2/4 done  running 2  failed 1"
