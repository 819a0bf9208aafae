"""Cron schedules: the API contract, exactly one job per tick with several
workers, pause/resume, overlap policies, and restarts (a test clock)."""

import time
from datetime import datetime
from itertools import pairwise

import pytest

from longrun import keys
from longrun.schedules import ScheduleStore, fire_due, tick_job_id

EVERY_2S = "*/2 * * * * *"  # cronsim: a 6th field, seconds first


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def create(rig, status=201, tenant="alice", **body):
    body.setdefault("job", {"kind": "sleep", "input": {"seconds": 0}})
    body.setdefault("cron", "*/5 * * * *")
    response = rig.call("POST", "/api/v1/schedules", tenant=tenant, json=body)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def schedule_jobs(rig, schedule_id, tenant="alice"):
    jobs = rig.call("GET", "/api/v1/jobs?limit=100", tenant=tenant).get_json()["jobs"]
    return sorted((j for j in jobs if j.get("schedule_id") == schedule_id), key=lambda j: j["created_at"])


# -- the API ------------------------------------------------------------------


def test_create_list_get_patch_and_delete(flow_rig):
    rig = flow_rig()
    made = create(
        rig,
        cron="0 9 * * 1-5",
        timezone="Europe/Berlin",
        overlap="queue",
        job={"kind": "sleep", "input": {"seconds": 1}, "priority": 3, "metadata": {"team": "ops"}},
    )

    assert made["next_run_at"] and made["paused"] is False and made["overlap"] == "queue"
    local = datetime.fromisoformat(made["next_run_at"].replace("Z", "+00:00")).astimezone(
        __import__("zoneinfo").ZoneInfo("Europe/Berlin")
    )
    assert (local.hour, local.minute) == (9, 0) and local.weekday() < 5
    assert made["job"]["input"] == {"seconds": 1, "steps": 1, "fail": False, "log_lines": 0}  # validated, normalized
    assert rig.call("GET", f"/api/v1/schedules/{made['id']}").get_json() == made
    assert [s["id"] for s in rig.call("GET", "/api/v1/schedules").get_json()["schedules"]] == [made["id"]]
    assert rig.call("GET", "/api/v1/schedules", tenant="bob").get_json()["schedules"] == []
    assert rig.call("GET", f"/api/v1/schedules/{made['id']}", tenant="bob").status_code == 404

    paused = rig.call("PATCH", f"/api/v1/schedules/{made['id']}", json={"paused": True}).get_json()
    assert paused["paused"] is True and paused["next_run_at"] is None
    assert rig.redis.zscore(keys.SCHEDULES_DUE, made["id"]) is None
    changed = rig.call(
        "PATCH", f"/api/v1/schedules/{made['id']}", json={"paused": False, "cron": "30 * * * *"}
    ).get_json()
    assert changed["paused"] is False and epoch(changed["next_run_at"]) % 3600 == 1800
    assert rig.redis.zscore(keys.SCHEDULES_DUE, made["id"]) == epoch(changed["next_run_at"])

    assert rig.call("DELETE", f"/api/v1/schedules/{made['id']}").status_code == 204
    assert rig.call("GET", f"/api/v1/schedules/{made['id']}").status_code == 404
    assert rig.redis.zscore(keys.SCHEDULES_DUE, made["id"]) is None


@pytest.mark.parametrize(
    "body, field",
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "every day"}, "cron"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"overlap": "sometimes"}, "overlap"),
        ({"job": {"kind": "nope"}}, "kind"),
        ({"job": {"kind": "sleep", "input": {"seconds": "long"}}}, "job"),
        ({"job": {"kind": "codegen"}}, "job"),  # takes files
    ],
)
def test_bad_schedules_are_a_400_naming_the_field(flow_rig, body, field):
    rig = flow_rig()
    response = rig.call("POST", "/api/v1/schedules", json={"cron": "* * * * *", "job": {"kind": "sleep"}, **body})

    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert field in str(error["details"]), error


def test_bad_cron_in_a_patch_is_a_400_and_changes_nothing(flow_rig):
    rig = flow_rig()
    made = create(rig)
    response = rig.call("PATCH", f"/api/v1/schedules/{made['id']}", json={"cron": "* * *"})

    assert response.status_code == 400 and "cron" in response.get_json()["error"]["details"]
    assert rig.call("GET", f"/api/v1/schedules/{made['id']}").get_json()["cron"] == made["cron"]


def test_the_schedules_routes_are_in_the_openapi_contract(client):
    paths = client.get("/openapi.json").get_json()["paths"]

    assert {"post", "get"} <= set(paths["/api/v1/schedules"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/schedules/{schedule_id}"])


# -- firing, with real workers ----------------------------------------------------


@pytest.mark.integration
def test_exactly_one_job_per_tick_with_three_workers(flow_rig, wait_for):
    rig = flow_rig()
    for n in range(3):
        rig.worker(f"tick{n}")
    made = create(rig, cron=EVERY_2S)
    time.sleep(9)
    rig.call("PATCH", f"/api/v1/schedules/{made['id']}", json={"paused": True})
    time.sleep(0.5)  # a tick being fired right now lands

    jobs = schedule_jobs(rig, made["id"])
    ticks = sorted(rig.redis.hget(keys.job(j["id"]), "created_at") for j in jobs)
    assert 4 <= len(jobs) <= 5, jobs
    # Each tick's job has the tick's own id: no tick made two, none was skipped.
    first = epoch(made["next_run_at"])  # the first tick, as the API announced it
    expected = {tick_job_id(made["id"], first + 2 * n) for n in range(len(jobs))}
    assert {j["id"] for j in jobs} == expected
    assert all(float(b) - float(a) > 1.5 for a, b in pairwise(ticks))
    for job in jobs:
        assert rig.wait_status(job["id"], "completed")["schedule_id"] == made["id"]
    # Paused: no more ticks.
    before = len(schedule_jobs(rig, made["id"]))
    time.sleep(2.5)
    assert len(schedule_jobs(rig, made["id"])) == before
    resumed = rig.call("PATCH", f"/api/v1/schedules/{made['id']}", json={"paused": False}).get_json()
    wait_for(lambda: len(schedule_jobs(rig, made["id"])) == before + 1, timeout=10, message="a tick after resume")
    assert rig.call("GET", f"/api/v1/schedules/{made['id']}").get_json()["runs"] >= before + 1
    assert resumed["next_run_at"]


def runs_of(rig, schedule_id):
    docs = [rig.job(j["id"]) for j in schedule_jobs(rig, schedule_id)]
    return [(d["status"], d["started_at"], d["finished_at"]) for d in docs]


@pytest.mark.integration
def test_overlap_skip_and_queue_never_run_two_at_once(flow_rig, wait_for):
    rig = flow_rig()
    rig.worker("overlap", concurrency=4)
    job = {"kind": "sleep", "input": {"seconds": 2.5}}
    skip = create(rig, cron="* * * * * *", overlap="skip", job=job)
    queue = create(rig, cron="* * * * * *", overlap="queue", job=job)
    time.sleep(6.5)
    for made in (skip, queue):
        rig.call("PATCH", f"/api/v1/schedules/{made['id']}", json={"paused": True})

    skipped = schedule_jobs(rig, skip["id"])
    queued = schedule_jobs(rig, queue["id"])
    assert 2 <= len(skipped) <= 3  # ticks every second, a run takes 2.5 s: the others were skipped
    assert 2 <= len(queued) <= 5  # one run waits at most (the rest of the ticks were not piled up)
    for made in (skip, queue):
        for job_doc in schedule_jobs(rig, made["id"]):
            rig.wait_status(job_doc["id"], "completed", timeout=30)
        runs = sorted(runs_of(rig, made["id"]), key=lambda r: r[1])
        assert all(b[1] >= a[2] for a, b in pairwise(runs)), runs  # never two at once
    # queue: the waiting run starts right after the previous one ends.
    runs = sorted(runs_of(rig, queue["id"]), key=lambda r: r[1])
    gaps = [epoch(b[1]) - epoch(a[2]) for a, b in pairwise(runs)]
    assert gaps and min(gaps) < 1.0, gaps


@pytest.mark.integration
def test_overlap_cancel_previous_stops_the_running_one(flow_rig):
    rig = flow_rig()
    rig.worker("cancelprev", concurrency=2)
    made = create(rig, cron=EVERY_2S, overlap="cancel_previous", job={"kind": "sleep", "input": {"seconds": 30}})
    time.sleep(5)
    rig.call("PATCH", f"/api/v1/schedules/{made['id']}", json={"paused": True})

    jobs = schedule_jobs(rig, made["id"])
    assert len(jobs) >= 2
    for earlier in jobs[:-1]:
        assert rig.wait_status(earlier["id"], "cancelled", timeout=20)["status"] == "cancelled"
    rig.call("POST", f"/api/v1/jobs/{jobs[-1]['id']}/cancel")


# -- restarts and outages: a test clock ------------------------------------------


class Made:
    def __init__(self):
        self.jobs: list[tuple[str, float]] = []

    def __call__(self, record, tick, job_id, held):
        self.jobs.append((job_id, tick))
        return job_id


def test_a_restart_shorter_than_a_tick_misses_nothing_and_a_long_outage_runs_once(flow_rig):
    rig = flow_rig()
    schedules = ScheduleStore(rig.redis)
    t0 = 1_800_000_000.0  # a minute boundary
    made = schedules.create(
        "alice", cron="* * * * *", timezone="UTC", overlap="skip", job={"kind": "sleep"}, now=t0 - 30
    )
    maker = Made()

    def fire(now):
        return fire_due(schedules, maker, status_of=lambda _id: None, cancel=lambda _id: None, now=now)

    assert fire(t0 - 1) == []
    # The mover was down from t0 - 10 to t0 + 20 (shorter than the tick): the due tick is still there.
    assert fire(t0 + 20) == [(made["id"], "run")]
    assert maker.jobs == [(tick_job_id(made["id"], t0), t0)]
    assert fire(t0 + 21) == []  # the same tick is not fired twice
    # Down for ten minutes: one catch-up run, then the next tick after now (no burst of ten).
    assert fire(t0 + 60 * 10 + 5) == [(made["id"], "run")]
    assert len(maker.jobs) == 2 and maker.jobs[1][1] == t0 + 60
    assert rig.redis.zscore(keys.SCHEDULES_DUE, made["id"]) == t0 + 60 * 11


def test_two_movers_racing_on_one_tick_make_one_job(flow_rig):
    """The tick's job id and idempotency key come from (schedule, tick): a second
    mover that fires the same tick finds the same job, and only one advances it."""
    from workers.celery_app import make_celery
    from workers.dispatcher import Mover

    rig = flow_rig()
    store = rig.svc.store
    celery = make_celery(rig.svc.settings)
    movers = [Mover(celery, store), Mover(celery, store)]
    schedules = ScheduleStore(rig.redis)
    now = time.time()
    made = schedules.create(
        "alice",
        cron="* * * * *",
        timezone="UTC",
        overlap="queue",
        job={"kind": "sleep", "input": {"seconds": 0}, "timeout_seconds": 60},
        now=now - 120,
    )
    tick = rig.redis.zscore(keys.SCHEDULES_DUE, made["id"])
    record = rig.redis.hgetall(keys.schedule(made["id"]))

    ids = {m.make_job(record, tick, tick_job_id(made["id"], tick), False) for m in movers}
    assert len(ids) == 1
    assert schedules.advance(made["id"], tick, tick + 60, ids.pop()) is True
    assert schedules.advance(made["id"], tick, tick + 60, "other") is False
    assert rig.call("GET", "/api/v1/jobs?limit=10").get_json()["stats"]["counts"]["pending"] == 1
