"""GET /metrics: Prometheus text computed from Redis, the same from every API process."""

import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from longrun import keys
from longrun.metrics import histogram_buckets
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def samples(text: str) -> dict:
    """{(sample name, frozenset(labels)): value} of one scrape."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scrape: dict, name: str, **labels) -> float:
    return scrape.get((name, frozenset(labels.items())), 0.0)


def test_histogram_buckets_are_cumulative():
    fields = {"k|0.5": "2", "k|10": "1", "k|+Inf": "1", "k|count": "4", "k|sum": "99.5"}

    buckets, count, total = histogram_buckets(fields, "k")

    as_dict = dict(buckets)
    assert as_dict["0.1"] == 0 and as_dict["0.5"] == 2 and as_dict["5"] == 2 and as_dict["10"] == 3
    assert as_dict["+Inf"] == 4 == count and total == 99.5


def test_metrics_move_when_jobs_run_and_every_gunicorn_worker_agrees(live_api, api_headers):
    def scrape():
        # A new connection each time, so both gunicorn workers get to answer.
        response = requests.get(f"{live_api.url}/metrics", headers={**api_headers, "Connection": "close"}, timeout=10)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return samples(response.text)

    before = scrape()
    ids = []
    for _ in range(2):
        response = requests.post(
            f"{live_api.url}/api/v1/jobs",
            headers=api_headers,
            timeout=10,
            json={"kind": "sleep", "input": {"seconds": 0.3}},
        )
        ids.append(response.json()["id"])

    def finished():
        return all(
            requests.get(f"{live_api.url}/api/v1/jobs/{i}", headers=api_headers, timeout=10).json()["status"]
            == "completed"
            for i in ids
        )

    wait_until(finished, timeout=60, interval=0.2, message="both jobs")

    after = [scrape() for _ in range(6)]
    wanted = [
        ("longrun_jobs_submitted_total", {"kind": "sleep"}),
        ("longrun_jobs_finished_total", {"kind": "sleep", "status": "completed"}),
        ("longrun_job_run_seconds_count", {"kind": "sleep"}),
        ("longrun_job_queue_wait_seconds_count", {"kind": "sleep"}),
    ]
    for name, labels in wanted:
        values = {value(s, name, **labels) for s in after}
        assert len(values) == 1, (name, values)  # same answer from any worker
        assert values.pop() >= value(before, name, **labels) + 2, name
    run_sum = value(after[0], "longrun_job_run_seconds_sum", kind="sleep") - value(
        before, "longrun_job_run_seconds_sum", kind="sleep"
    )
    assert run_sum >= 0.6  # two jobs of 0.3 s each
    assert value(after[0], "longrun_workers_online") >= 1
    assert value(after[0], "longrun_job_run_seconds_bucket", kind="sleep", le="+Inf") == value(
        after[0], "longrun_job_run_seconds_count", kind="sleep"
    )


def test_queue_depth_and_oldest_pending_age_with_no_worker(redis_factory, settings_for, api_headers):
    from api import create_app

    redis = redis_factory()
    app = create_app({"TESTING": True, "LONGRUN_SETTINGS": settings_for(redis.url)})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = api_headers["Authorization"]
    ids = [client.post("/api/v1/jobs", json={"kind": "sleep", "input": {}}).get_json()["id"] for _ in range(3)]
    time.sleep(0.3)

    scrape = samples(client.get("/metrics").get_data(as_text=True))
    assert value(scrape, "longrun_queue_depth", queue=keys.queue("sleep")) == 3
    assert value(scrape, "longrun_queue_depth", queue=keys.WEBHOOK_QUEUE) == 0
    assert value(scrape, "longrun_oldest_pending_job_age_seconds", queue=keys.queue("sleep")) >= 0.3
    assert value(scrape, "longrun_jobs_submitted_total", kind="sleep") == 3
    assert value(scrape, "longrun_jobs_running") == 0 and value(scrape, "longrun_workers_online") == 0

    for job_id in ids:
        client.post(f"/api/v1/jobs/{job_id}/cancel")
    scrape = samples(client.get("/metrics").get_data(as_text=True))
    assert value(scrape, "longrun_jobs_finished_total", kind="sleep", status="cancelled") == 3
    assert value(scrape, "longrun_oldest_pending_job_age_seconds", queue=keys.queue("sleep")) == 0
    assert value(scrape, "longrun_job_run_seconds_count", kind="sleep") == 0  # never ran


def test_metrics_answer_503_when_redis_is_down(redis_factory, settings_for, api_headers):
    from api import create_app

    redis = redis_factory()
    app = create_app({"TESTING": True, "LONGRUN_SETTINGS": settings_for(redis.url, redis_timeout_seconds=0.5)})
    redis.kill()

    response = app.test_client().get("/metrics", headers=api_headers)

    assert response.status_code == 503 and response.headers["Retry-After"]
