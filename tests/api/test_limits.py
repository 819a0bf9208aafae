"""Limits: body and upload size, form parts, per-key rate, per-tenant running
cap and queue-depth backpressure."""

import io
import time

import pytest

from api.limits import check_rate
from tests.support.tenants import bearer
from tests.support.waiting import wait_until


def error_of(response) -> dict:
    return response.get_json()["error"]


# -- size and parts ------------------------------------------------------------


@pytest.fixture(scope="module")
def small_app(make_app):
    return make_app(max_request_bytes=4096, max_form_parts=5, max_form_field_bytes=1024)


# What each request over small_app's limits sends (made anew per test: an upload is read once).
OVER_THE_LIMITS = {
    "a_body_over_the_size_limit": lambda: {"json": {"kind": "sleep", "input": {}, "metadata": {"pad": "x" * 5000}}},
    "an_upload_over_the_size_limit": lambda: {"data": {"file": (io.BytesIO(b"%PDF" + b"0" * 8000), "big.pdf")}},
    "a_form_with_too_many_parts": lambda: {
        "data": {f"field{i}": "v" for i in range(10)},
        "content_type": "multipart/form-data",
    },
}


@pytest.mark.parametrize("request_kwargs", OVER_THE_LIMITS.values(), ids=OVER_THE_LIMITS.keys())
def test_a_request_over_a_limit_is_a_413(small_app, request_kwargs):
    client = small_app.test_client()

    response = client.post("/api/v1/jobs", headers=bearer("alice"), **request_kwargs())

    assert response.status_code == 413
    assert error_of(response)["code"] == "too_large"


def test_a_form_within_the_limits_is_not_refused_for_its_size(small_app):
    client = small_app.test_client()
    data = {f"field{i}": "v" for i in range(3)}

    response = client.post("/api/v1/jobs", data=data, content_type="multipart/form-data", headers=bearer("alice"))

    assert response.status_code not in (413, 500)


# -- rate ------------------------------------------------------------------------


def test_the_rate_window_counts_requests_and_says_how_long_to_wait(redis_client):
    identity = f"unit-{time.time_ns()}"
    start = 30 * 33_333_334 + 20.0  # 20 s into a 30 s window

    assert check_rate(redis_client, identity, 2, 30, now=start) == 0
    assert check_rate(redis_client, identity, 2, 30, now=start + 1) == 0
    assert check_rate(redis_client, identity, 2, 30, now=start + 2) == 8
    assert check_rate(redis_client, identity, 2, 30, now=start + 10) == 0  # a new window


def test_a_key_past_its_rate_gets_429_with_retry_after_and_other_keys_do_not(make_app):
    app = make_app(rate_limit_requests=3, rate_limit_window_seconds=60)
    client = app.test_client()
    # Start at a fresh window so that all requests land in one.
    wait_until(lambda: time.time() % 60 < 50, timeout=15, interval=0.5, message="a fresh rate window")

    statuses = [client.get("/api/v1/jobs", headers=bearer("bob")).status_code for _ in range(3)]
    refused = client.get("/api/v1/jobs", headers=bearer("bob"))

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert error_of(refused)["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert client.get("/api/v1/jobs", headers=bearer("alice")).status_code == 200
    # Public routes are not counted against anyone.
    assert client.get("/openapi.json").status_code == 200


# -- backpressure and the running cap (their own Redis) --------------------------


@pytest.mark.integration
def test_submit_past_the_queue_depth_is_a_503_with_retry_after_and_leaves_no_record(make_app, redis_factory):
    app = make_app(redis_factory().url, max_queue_depth=2)  # no worker: jobs stay queued
    client = app.test_client()

    def submit():
        return client.post("/api/v1/jobs", json={"kind": "sleep", "input": {}}, headers=bearer("alice"))

    accepted = [submit().status_code for _ in range(2)]
    refused = submit()

    assert accepted == [202, 202]
    assert refused.status_code == 503
    assert error_of(refused)["code"] == "queue_full"
    assert int(refused.headers["Retry-After"]) > 0
    listed = client.get("/api/v1/jobs", headers=bearer("alice")).get_json()
    assert len(listed["jobs"]) == 2 and listed["stats"]["queues"]["sleep"] == 2


@pytest.mark.integration
def test_a_tenant_at_its_running_cap_waits_while_other_tenants_run(make_app, redis_factory, start_worker):
    redis = redis_factory()
    # Fair dispatch keeps the cap: every process (API and workers) has the same settings.
    start_worker("capped", concurrency=2, redis=redis.url, LONGRUN_MAX_RUNNING_PER_TENANT=1)
    client = make_app(redis.url, max_running_per_tenant=1).test_client()

    def submit(tenant):
        response = client.post(
            "/api/v1/jobs", json={"kind": "sleep", "input": {"seconds": 1.5}}, headers=bearer(tenant)
        )
        assert response.status_code == 202
        return response.get_json()["id"]

    alices = [submit("alice"), submit("alice")]
    bobs = submit("bob")
    seen_running_together = set()

    def all_done():
        docs = {
            i: client.get(f"/api/v1/jobs/{i}", headers=bearer(t)).get_json()
            for i, t in [(alices[0], "alice"), (alices[1], "alice"), (bobs, "bob")]
        }
        running = {i for i, d in docs.items() if d["status"] == "running"}
        if len(running) > 1:
            seen_running_together.add(frozenset(running))
        return docs if all(d["status"] == "completed" for d in docs.values()) else None

    docs = wait_until(all_done, timeout=60, interval=0.1, message="all three jobs")

    assert frozenset(alices) not in seen_running_together, "alice ran two jobs at once"
    first, second = sorted((docs[i] for i in alices), key=lambda d: d["started_at"])
    assert second["started_at"] >= first["finished_at"]
    # Bob was not held back by alice's cap: his job overlapped one of hers.
    assert any(bobs in pair for pair in seen_running_together)
    # Deferring is not an attempt.
    assert [docs[i]["attempts"] for i in (*alices, bobs)] == [1, 1, 1]
