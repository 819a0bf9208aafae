"""The ``longrun`` CLI in a subprocess against the live server: output and exit codes."""

import io
import json
import re

import pytest

from longrun_client.cli import ExitCode, main
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

NO_SUCH_JOB = "0" * 32


def test_submit_wait_shows_a_progress_bar_and_prints_the_result(run_cli):
    run = run_cli("submit", "sleep", "-i", "seconds=1", "-i", "steps=4", "--wait")
    assert run.returncode == ExitCode.OK, run.stderr
    assert json.loads(run.stdout) == {"slept": 1, "steps": 4}
    lines = run.stderr.splitlines()
    assert lines[0].startswith("submitted ")
    job_id = lines[0].split()[1]
    bars = [line for line in lines[1:] if line.startswith(job_id[:8])]
    # bar, percentage, status, step n/N and the step's name, as the job reports them
    assert any(re.search(r"\[#*-*\] +\d+\.\d%  running  step [1-4]/4  step [1-4]", line) for line in bars), run.stderr
    assert "[########################] 100.0%  completed" in bars[-1]


def test_submit_status_wait_ls_and_rm_by_id(run_cli):
    submitted = run_cli("submit", "sleep", "--input", '{"seconds": 0.2}', "--priority", "3")
    assert submitted.returncode == ExitCode.OK, submitted.stderr
    job_id = submitted.stdout.strip()
    assert len(job_id) == 32

    waited = run_cli("wait", job_id, "--json", "--timeout", "60")
    assert waited.returncode == ExitCode.OK
    assert json.loads(waited.stdout)["status"] == "completed"

    status = run_cli("--json", "status", job_id)
    assert json.loads(status.stdout)["priority"] == 3

    table = run_cli("ls", "--kind", "sleep", "--status", "completed", "--limit", "100")
    assert table.returncode == ExitCode.OK
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["ID", "KIND", "STATUS", "PROGRESS", "STEP", "CREATED", "FINISHED"]
    assert any(row.split()[:4] == [job_id, "sleep", "completed", "100%"] for row in rows)
    listed = json.loads(run_cli("ls", "--json", "--limit", "100").stdout)
    assert job_id in [job["id"] for job in listed["jobs"]]

    assert run_cli("rm", job_id).returncode == ExitCode.OK
    gone = run_cli("status", job_id)
    assert gone.returncode == ExitCode.NOT_FOUND
    assert "not_found" in gone.stderr or "expired" in gone.stderr


def test_a_failing_job_exits_3_on_wait_and_on_result(run_cli):
    run = run_cli("submit", "sleep", "-i", "seconds=0", "-i", "fail=true", "--wait", "--json")
    assert run.returncode == ExitCode.JOB_FAILED
    job = json.loads(run.stdout)
    assert job["status"] == "failed" and job["error"]["type"] == "SleepFailed"
    result = run_cli("result", job["id"])
    assert result.returncode == ExitCode.JOB_FAILED
    assert "failed" in result.stderr


def test_cancel_then_wait_exits_4_and_a_second_cancel_is_a_conflict(run_cli, lr_client):
    job_id = run_cli("submit", "sleep", "-i", "seconds=60", "-i", "steps=60").stdout.strip()
    wait_until(lambda: lr_client.job(job_id).status()["status"] == "running", timeout=60, message="job running")
    cancel = run_cli("cancel", job_id)
    assert cancel.returncode == ExitCode.OK
    assert cancel.stdout.strip() in ("cancel requested", "cancelled")
    waited = run_cli("wait", job_id, "--timeout", "60")
    assert waited.returncode == ExitCode.JOB_CANCELLED
    assert run_cli("cancel", job_id).returncode == ExitCode.CONFLICT


def test_wait_timeout_exits_7(run_cli, lr_client):
    job_id = run_cli("submit", "sleep", "-i", "seconds=60", "-i", "steps=60").stdout.strip()
    try:
        assert run_cli("wait", job_id, "--timeout", "1", "-q").returncode == ExitCode.NOT_FINISHED
    finally:
        lr_client.job(job_id).cancel()


def test_result_o_saves_the_files_a_browser_job_made(run_cli, test_pages, tmp_path):
    steps = [
        {"action": "goto", "url": test_pages.url("/about")},
        {"action": "extract", "selector": "#about", "name": "about.txt"},
        {"action": "screenshot", "name": "page.png"},
    ]
    run = run_cli("submit", "browser", "--input", json.dumps({"steps": steps}), "--wait", "--json", "--timeout", "120")
    assert run.returncode == ExitCode.OK, run.stderr
    job = json.loads(run.stdout)
    assert "step 3/3" in run.stderr  # the bar named the browser's steps

    saved = run_cli("result", job["id"], "-o", str(tmp_path / "out"), "--json")
    assert saved.returncode == ExitCode.OK, saved.stderr
    body = json.loads(saved.stdout)
    assert body["result"]["extracted"] == {"about.txt": "Longrun test site"}
    assert sorted(body["artifacts"]) == [str(tmp_path / "out" / "about.txt"), str(tmp_path / "out" / "page.png")]
    assert (tmp_path / "out" / "about.txt").read_text() == "Longrun test site"
    assert (tmp_path / "out" / "page.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_usage_errors_exit_2_locally_and_when_the_server_rejects_input(run_cli):
    assert run_cli("submit").returncode == ExitCode.USAGE
    rejected = run_cli("submit", "sleep", "-i", "seconds=-1")
    assert rejected.returncode == ExitCode.USAGE
    assert "input.seconds" in rejected.stderr
    unknown = run_cli("submit", "no-such-kind", "--json")
    assert unknown.returncode == ExitCode.USAGE
    assert json.loads(unknown.stdout)["error"]["code"] == "unknown_kind"


def test_unknown_ids_exit_5(run_cli, live_api, api_headers):
    assert run_cli("status", NO_SUCH_JOB).returncode == ExitCode.NOT_FOUND
    # The other commands take the same path; in-process against the same live server to save startups.
    key = api_headers["Authorization"].removeprefix("Bearer ")
    for command in ("wait", "result", "cancel", "logs", "rm"):
        out, err = io.StringIO(), io.StringIO()
        code = main(["--url", live_api.url, "--api-key", key, command, NO_SUCH_JOB], out, err)
        assert code == ExitCode.NOT_FOUND, (command, err.getvalue())


def test_logs_prints_what_the_job_logged(run_cli, lr_client):
    job = lr_client.submit("sleep", {"seconds": 0.2, "steps": 2, "fail": True})
    job.wait(timeout=60)
    run = run_cli("logs", job.id)
    assert run.returncode == ExitCode.OK, run.stderr
    lines = run.stdout.splitlines()
    assert [line.split(" ", 2)[1] for line in lines] == ["INFO", "INFO", "ERROR"]
    assert lines[0].endswith("step 1 of 2: sleeping 0.1s")
    assert "failing on purpose after 2 steps" in lines[-1]
    assert [entry["level"] for entry in job.logs()] == ["INFO", "INFO", "ERROR"]


def test_a_wrong_or_missing_api_key_exits_8(run_cli, live_api):
    wrong = run_cli("ls", LONGRUN_TOKEN="not-a-key")
    assert wrong.returncode == ExitCode.UNAUTHORIZED
    assert "401" in wrong.stderr
    out, err = io.StringIO(), io.StringIO()
    assert main(["--url", live_api.url, "--api-key", "", "ls"], out, err) == ExitCode.UNAUTHORIZED
