"""Delayed jobs: run_at / delay_seconds keep a job ``scheduled`` in Redis (no
Celery ETA) until its time; then it starts within about a second."""

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from longrun import keys

pytestmark = pytest.mark.integration


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_a_delayed_job_waits_survives_a_worker_restart_and_starts_on_time(flow_rig, wait_for):
    rig = flow_rig()
    first = rig.worker("delay-a")
    # Long enough that a worker's stop and another's start (seconds on a loaded 2-core CI machine) end before it.
    job = rig.submit(input={"seconds": 0}, delay_seconds=10)
    assert job["status"] == "scheduled" and job["run_at"]
    run_at = epoch(job["run_at"])
    assert rig.redis.zscore(keys.FLOW_DUE, job["id"]) == pytest.approx(run_at, abs=0.01)
    assert not any(rig.redis.llen(k) for k in keys.queue_keys("sleep"))  # no message yet, nowhere

    first.stop()  # the worker that would have moved it goes away; another takes over
    rig.worker("delay-b")
    assert rig.job(job["id"])["status"] == "scheduled"
    assert time.time() < run_at

    done = rig.wait_status(job["id"], "completed", timeout=30)
    started = epoch(done["started_at"])
    assert started >= run_at  # never early
    assert started - run_at < 1.5  # a worker was free: within about a second
    listed = rig.call("GET", "/api/v1/jobs?limit=5").get_json()
    assert listed["stats"]["scheduled"] == 0


def test_run_at_in_rfc3339_and_a_past_time_runs_at_once(flow_rig):
    rig = flow_rig()
    rig.worker("delay-c")
    soon = (datetime.now(UTC) + timedelta(seconds=2)).astimezone(timezone(timedelta(hours=2)))
    later = rig.submit(input={"seconds": 0}, run_at=soon.isoformat())
    past = rig.submit(input={"seconds": 0}, run_at="2020-01-01T00:00:00Z")

    assert later["status"] == "scheduled"
    assert epoch(later["run_at"]) == pytest.approx(soon.timestamp(), abs=0.01)
    assert past["status"] == "pending" and past["run_at"] is None
    assert rig.wait_status(past["id"], "completed")["status"] == "completed"
    done = rig.wait_status(later["id"], "completed", timeout=30)
    assert epoch(done["started_at"]) >= soon.timestamp()


def test_a_scheduled_job_can_be_cancelled_or_deleted_and_never_starts(flow_rig):
    rig = flow_rig()
    rig.worker("delay-d")
    cancelled = rig.submit(input={"seconds": 0}, delay_seconds=1.5)
    deleted = rig.submit(input={"seconds": 0}, delay_seconds=1.5)

    response = rig.call("POST", f"/api/v1/jobs/{cancelled['id']}/cancel")
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    assert rig.call("DELETE", f"/api/v1/jobs/{deleted['id']}").status_code == 204
    assert rig.redis.zscore(keys.FLOW_DUE, deleted["id"]) is None
    time.sleep(2.5)  # past their time, with a worker free

    assert rig.job(cancelled["id"])["status"] == "cancelled"
    assert rig.job(cancelled["id"])["started_at"] is None
    assert rig.call("GET", f"/api/v1/jobs/{deleted['id']}").status_code == 404
    assert rig.redis.zcard(keys.FLOW_DUE) == 0


@pytest.mark.parametrize(
    "body, field",
    [
        ({"run_at": "2030-01-01T00:00:00"}, "run_at"),  # no offset: not RFC 3339
        ({"run_at": "tomorrow"}, "run_at"),
        ({"delay_seconds": -1}, "delay_seconds"),
        ({"delay_seconds": 5, "run_at": "2030-01-01T00:00:00Z"}, "delay_seconds"),
        ({"run_at": "2999-01-01T00:00:00Z"}, "run_at"),  # past LONGRUN_MAX_DELAY_SECONDS
    ],
)
def test_bad_start_times_are_a_400_naming_the_field(client, body, field):
    response = client.post("/api/v1/jobs", json={"kind": "sleep", "input": {}, **body})

    assert response.status_code == 400, response.get_json()
    assert field in response.get_json()["error"]["details"]


def test_compat_routes_show_a_scheduled_job_as_not_started(flow_rig):
    from api.compat import common, orchestrator, pdf_codegen

    assert common.CANCELLED_AS_FAILED["scheduled"] == "pending"
    assert orchestrator.STATUS["scheduled"] == "created"
    assert pdf_codegen.STATUS["scheduled"] == "pending"
    rig = flow_rig()
    job = rig.submit(input={"seconds": 0}, delay_seconds=60)
    response = rig.call("GET", f"/tasks/{job['id']}")
    assert response.status_code == 200 and response.get_json()["status"] == "created"


def test_with_fair_dispatch_off_a_delayed_job_still_waits_for_its_time(flow_rig):
    rig = flow_rig(fair_dispatch="off")
    job = rig.submit(input={"seconds": 0}, delay_seconds=1.5)

    assert job["status"] == "scheduled"
    assert not any(rig.redis.llen(k) for k in keys.queue_keys("sleep"))  # not published early
    from workers.celery_app import make_celery
    from workers.dispatcher import Mover

    mover = Mover(make_celery(rig.svc.settings), rig.svc.store)
    assert mover.tick()["promoted"] == []
    # A due list read for a later time cannot start it early either: the promote script checks again.
    assert mover.tick(now=time.time() + 60)["promoted"] == []
    time.sleep(1.6)
    assert mover.tick()["promoted"] == [job["id"]]
    assert rig.job(job["id"])["status"] == "pending"
    assert sum(rig.redis.llen(k) for k in keys.queue_keys("sleep")) == 1  # published directly at its time
