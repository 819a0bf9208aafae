"""``retry`` in the Python client and the CLI, against the live server."""

import json
from datetime import UTC, datetime

import pytest

from longrun_client.cli import ExitCode
from longrun_client.errors import Conflict

pytestmark = pytest.mark.integration


def test_client_retries_a_failed_job_and_refuses_a_running_one(lr_client):
    failed = lr_client.submit("sleep", {"seconds": 0, "fail": True}, priority=2)
    assert failed.wait(timeout=60)["status"] == "failed"

    again = failed.retry()

    assert again.id != failed.id and again.last["retried_from"] == failed.id
    assert again.wait(timeout=60)["status"] == "failed"
    assert failed.status()["retries"] == [again.id]
    running = lr_client.submit("sleep", {"seconds": 20, "steps": 20})
    try:
        with pytest.raises(Conflict):
            running.retry()
    finally:
        running.cancel()


def test_client_and_cli_replay_by_filter(lr_client, run_cli):
    since = datetime.now(UTC).isoformat()
    jobs = [lr_client.submit("sleep", {"seconds": 0, "fail": True}) for _ in range(2)]
    for job in jobs:
        job.wait(timeout=60)

    replay = lr_client.retry_many(["failed"], kind="sleep", finished_after=since)

    assert (replay["status"], replay["retried"]) == ("done", 2)
    assert lr_client.replay(replay["id"])["retried"] == 2
    for job_id in replay["jobs"]:
        lr_client.job(job_id).wait(timeout=60)
    until = datetime.now(UTC).isoformat()
    run = run_cli("--json", "retry", "--status", "failed", "--since", since, "--until", until)
    assert run.returncode == ExitCode.OK, run.stderr
    assert json.loads(run.stdout)["retried"] == 4  # the two jobs and their two retries
    one = run_cli("retry", jobs[0].id)
    assert one.returncode == ExitCode.OK, one.stderr
    assert lr_client.job(one.stdout.strip()).status()["retried_from"] == jobs[0].id
    assert run_cli("retry").returncode == ExitCode.USAGE  # neither an id nor a filter
