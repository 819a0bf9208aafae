"""longrun_client.Client against the live server (gunicorn + a real worker + Redis)."""

import os

import pytest

from longrun.artifacts import ArtifactStore
from longrun_client import (
    Client,
    InvalidInput,
    JobCancelled,
    JobFailed,
    JobNotFinished,
    NotFound,
    Unauthorized,
    Unavailable,
    WaitTimeout,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def place_artifact(job_id: str, name: str, data: bytes) -> None:
    """Put a file where the server keeps the job's files (the real artifact store, shared dir)."""
    ArtifactStore(os.environ["LONGRUN_ARTIFACTS_DIR"]).save(job_id, name, data)


def running(job):
    return job.status()["status"] == "running"


def test_submit_wait_and_result_report_every_step_in_order(lr_client):
    events = []
    job = lr_client.submit(
        "sleep", {"seconds": 0.8, "steps": 4}, priority=5, timeout_seconds=120, metadata={"team": "qa"}
    )
    assert job.last["status"] in ("pending", "running")
    final = job.wait(timeout=60, on_progress=events.append)
    assert final["status"] == "completed"
    assert job.result() == {"slept": 0.8, "steps": 4}
    assert (final["priority"], final["timeout_seconds"], final["metadata"]) == (5, 120, {"team": "qa"})
    assert events[-1].status == "completed" and events[-1].is_final
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    running_steps = [
        e.progress["current_step"] for e in events if e.status == "running" and e.progress.get("current_step")
    ]
    assert running_steps == sorted(running_steps) and running_steps  # steps seen, never backwards


def test_a_failed_job_waits_to_failed_and_its_result_raises_job_failed(lr_client):
    job = lr_client.submit("sleep", {"seconds": 0, "fail": True})
    assert job.wait(timeout=60)["status"] == "failed"
    with pytest.raises(JobFailed) as info:
        job.result()
    assert info.value.error["type"] == "SleepFailed"


def test_cancel_stops_a_running_job_and_wait_returns_cancelled(lr_client):
    job = lr_client.submit("sleep", {"seconds": 60, "steps": 60})
    wait_until(lambda: running(job), timeout=60, message="job running")
    with pytest.raises(JobNotFinished):
        job.result()
    assert job.cancel()["cancel_requested"] is True
    assert job.wait(timeout=60)["status"] == "cancelled"
    with pytest.raises(JobCancelled):
        job.result()


def test_wait_gives_up_after_its_timeout_with_the_last_document(lr_client):
    job = lr_client.submit("sleep", {"seconds": 60, "steps": 60})
    try:
        with pytest.raises(WaitTimeout) as info:
            job.wait(timeout=1.5)
        assert info.value.job["id"] == job.id
        assert info.value.job["status"] in ("pending", "running")
    finally:
        job.cancel()


def test_download_saves_a_file_of_the_job_and_leaves_nothing_on_error(lr_client, tmp_path):
    job = lr_client.submit("sleep", {"seconds": 0})
    job.wait(timeout=60)
    data = bytes(range(256)) * 1000
    place_artifact(job.id, "report.bin", data)
    assert job.artifacts() == ["report.bin"]
    saved = job.download("report.bin", tmp_path)
    assert saved == tmp_path / "report.bin" and saved.read_bytes() == data
    assert job.download("report.bin", f"{tmp_path}/new/").read_bytes() == data  # a folder it makes
    (tmp_path / "new" / "report.bin").unlink()
    (tmp_path / "new").rmdir()
    with pytest.raises(NotFound):
        job.download("missing.txt", tmp_path / "missing.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.bin"]


def test_list_filters_by_kind_and_status_newest_first(lr_client):
    first = lr_client.submit("sleep", {"seconds": 0})
    second = lr_client.submit("sleep", {"seconds": 0})
    second.wait(timeout=60), first.wait(timeout=60)
    page = lr_client.list(status="completed", kind="sleep", limit=100)
    ids = [job["id"] for job in page]
    assert ids.index(second.id) < ids.index(first.id)
    assert {job["status"] for job in page} == {"completed"}
    assert "counts" in page.stats
    assert len(lr_client.list(limit=1)) == 1


def test_same_idempotency_key_returns_the_same_job(lr_client):
    one = lr_client.submit("sleep", {"seconds": 0}, idempotency_key="client-test-idem-1")
    two = lr_client.submit("sleep", {"seconds": 0}, idempotency_key="client-test-idem-1")
    assert one.id == two.id


def test_server_errors_become_the_client_error_tree(lr_client):
    with pytest.raises(InvalidInput) as info:
        lr_client.submit("sleep", {"seconds": -1})
    assert "input" in info.value.details
    with pytest.raises(InvalidInput):
        lr_client.submit("no-such-kind", {})
    with pytest.raises(NotFound):
        lr_client.job("0" * 32).status()
    with pytest.raises(NotFound):
        lr_client.job("0" * 32).wait(timeout=10)


def test_delete_removes_the_job(lr_client):
    job = lr_client.submit("sleep", {"seconds": 0})
    job.wait(timeout=60)
    job.delete()
    with pytest.raises(NotFound):
        job.status()


def test_a_wrong_key_is_unauthorized(live_api):
    with Client(live_api.url, api_key="not-a-key") as client, pytest.raises(Unauthorized) as info:
        client.job("0" * 32).status()
    assert info.value.status == 401


def test_an_unreachable_server_is_unavailable():
    with Client("http://127.0.0.1:9", timeout=2) as client, pytest.raises(Unavailable) as info:
        client.list()
    assert info.value.code == "unreachable"
