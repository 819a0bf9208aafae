"""The live stream the console relies on: progress
coalesced as documented, a bounded stream that keeps every lifecycle event, an
explicit ``resync`` event for a resume point older than what was kept, the
final progress carried to the client's ``on_progress``, and one charset on /metrics."""

import itertools
import statistics

import pytest
import requests
from prometheus_client import CONTENT_TYPE_LATEST

from longrun import keys
from longrun.jobstore import JobStore
from longrun.settings import get_settings
from longrun.states import JobStatus
from longrun.streams import job_events
from tests.support.sse import read_sse

pytestmark = pytest.mark.integration

RESYNC = "resync"  # the event name the docs and the OpenAPI description give


def entry_ms(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


def test_a_burst_of_quick_steps_is_coalesced_to_the_documented_rate(live_api, api_headers, redis_client):
    interval = get_settings().progress_interval_seconds
    response = requests.post(
        f"{live_api.url}/api/v1/jobs",
        headers=api_headers,
        timeout=10,
        json={"kind": "sleep", "input": {"seconds": 2.0, "steps": 400}},
    )
    job_id = response.json()["id"]
    with requests.get(
        f"{live_api.url}/api/v1/jobs/{job_id}/events", headers=api_headers, stream=True, timeout=60
    ) as stream:
        events = [e for e in read_sse(stream) if "data" in e]

    progress = [e for e in events if e["event"] == "progress"]
    assert events[-1]["data"]["status"] == "completed"
    # 400 steps in about 2 s: at most one event per interval (the docs' "at most 5 a
    # second" with the default 0.2 s) over however long the job really ran, not one per step.
    ran = (entry_ms(events[-1]["id"]) - entry_ms(events[1]["id"])) / 1000
    assert 2 <= len(progress) <= ran / interval + 2 < 400, (len(progress), ran)
    gaps = [entry_ms(b["id"]) - entry_ms(a["id"]) for a, b in itertools.pairwise(progress)]
    # Entry ids are stamped when Redis writes them, so single gaps jitter with the machine's load.
    assert statistics.median(gaps) >= interval * 1000, gaps
    steps = [e["data"]["progress"]["current_step"] for e in progress]
    assert steps == sorted(steps) and steps[-1] > 300


@pytest.fixture
def small_store(redis_client, settings_for, redis_url):
    """A job store keeping at most 50 events per job, on the session Redis."""
    return JobStore(redis_client, settings_for(redis_url, events_maxlen=50))


def run_job(store: JobStore, steps: int) -> str:
    job_id, _, _ = store.create(tenant="default", kind="sleep", input={}, timeout_seconds=60)
    store.transition(job_id, JobStatus.RUNNING)  # what a worker's claim writes
    for step in range(1, steps + 1):
        store.transition(
            job_id,
            JobStatus.RUNNING,
            progress={"percentage": 100 * step / steps, "current_step": step, "total_steps": steps},
        )
    return job_id


def test_the_stream_stays_bounded_and_keeps_every_lifecycle_event(small_store, redis_client):
    job_id = run_job(small_store, 300)
    small_store.transition(job_id, JobStatus.COMPLETED)

    entries = redis_client.xrange(keys.events(job_id))
    assert len(entries) <= 50
    statuses = [fields["status"] for _, fields in entries]
    assert statuses[:2] == ["pending", "running"] and statuses[-1] == "completed"
    # What was dropped is the oldest progress: the newest reports are all there, in order.
    seqs = [int(fields["seq"]) for _, fields in entries]
    assert seqs[:2] == [0, 1] and seqs[-1] == 302
    assert seqs[2:] == list(range(seqs[2], 303))

    frames = list(job_events(small_store, job_id, "0-0", heartbeat_seconds=5))
    assert '"status":"pending"' in frames[1] and '"status":"running"' in frames[2]
    assert '"status":"completed"' in frames[-1]
    assert not any(f"event: {RESYNC}" in f for f in frames)  # a late subscriber resumed from nothing


def test_each_attempt_is_kept_when_the_stream_is_trimmed(small_store, redis_client):
    job_id = run_job(small_store, 100)
    small_store.transition(job_id, JobStatus.PENDING)  # requeued after a lost worker
    small_store.transition(job_id, JobStatus.RUNNING)  # its second attempt
    for step in range(100):
        small_store.transition(job_id, JobStatus.RUNNING, progress={"percentage": step})

    statuses = [(fields["status"], "progress" in fields) for _, fields in redis_client.xrange(keys.events(job_id))]
    assert statuses[:2] == [("pending", False), ("running", False)]
    assert ("pending", False) in statuses[2:] and statuses.count(("running", False)) == 2
    small_store.delete(job_id)  # no worker runs it


def test_a_resume_point_older_than_what_was_kept_gets_a_resync_event(small_store, redis_client, live_api, api_headers):
    job_id, _, _ = small_store.create(tenant="default", kind="sleep", input={}, timeout_seconds=60)
    small_store.transition(job_id, JobStatus.RUNNING)
    small_store.transition(job_id, JobStatus.RUNNING, progress={"percentage": 1})
    seen = redis_client.xrange(keys.events(job_id))[-1][0]  # a client saw seq 2, then went away
    for step in range(2, 200):
        small_store.transition(job_id, JobStatus.RUNNING, progress={"percentage": step / 2})
    small_store.transition(job_id, JobStatus.COMPLETED)

    headers = {**api_headers, "Last-Event-ID": seen}
    with requests.get(
        f"{live_api.url}/api/v1/jobs/{job_id}/events", headers=headers, stream=True, timeout=30
    ) as stream:
        events = [e for e in read_sse(stream) if "data" in e]

    assert events[0]["event"] == RESYNC
    assert "re-read the job" in events[0]["data"]["message"]
    assert "id" not in events[0]  # the client's resume point stays its own
    assert events[-1]["data"]["status"] == "completed"

    # A resume point after what was dropped resumes silently, as before.
    kept = redis_client.xrange(keys.events(job_id))[-3][0]
    frames = list(job_events(small_store, job_id, kept, heartbeat_seconds=5))
    assert not any(f"event: {RESYNC}" in f for f in frames)
    assert len([f for f in frames if f.startswith("id:")]) == 2


def test_wait_following_the_stream_reports_the_final_progress(lr_client):
    seen = []
    job = lr_client.submit("sleep", {"seconds": 0.6, "steps": 4})

    document = job.wait(timeout=60, on_progress=seen.append)

    assert job.followed_by == "events"
    assert document["status"] == "completed"
    assert seen[-1].status == "completed" and seen[-1].percentage == 100


def test_metrics_content_type_names_its_charset_once(client):
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    assert response.headers["Content-Type"].count("charset") == 1
