"""GET /api/v1/jobs/{id}/events: Server-Sent Events read from the job's Redis Stream."""

import threading
import time

import pytest
import requests

from longrun import keys
from longrun.errors import InvalidInput, TooManyStreams
from longrun.jobstore import JobStore
from longrun.states import JobStatus
from longrun.streams import StreamSlots, job_events, parse_last_event_id
from tests.support.sse import read_sse
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def submit_live(live_api, api_headers, **input):
    response = requests.post(
        f"{live_api.url}/api/v1/jobs", headers=api_headers, timeout=10, json={"kind": "sleep", "input": input}
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def stream(live_api, api_headers, job_id, last_event_id=None):
    headers = dict(api_headers)
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    return requests.get(f"{live_api.url}/api/v1/jobs/{job_id}/events", headers=headers, stream=True, timeout=30)


def stream_entries(redis_client, job_id):
    return [(entry_id, fields) for entry_id, fields in redis_client.xrange(keys.events(job_id))]


def test_sse_client_receives_every_event_of_a_real_job_in_order_then_the_stream_ends(
    live_api, api_headers, redis_client
):
    job_id = submit_live(live_api, api_headers, seconds=1.0, steps=5)

    with stream(live_api, api_headers, job_id) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = [e for e in read_sse(response) if "data" in e]

    # Exactly what the worker wrote to the job's stream, in order, ids included.
    assert [(e["id"], e["data"]["seq"]) for e in events] == [
        (entry_id, int(fields["seq"])) for entry_id, fields in stream_entries(redis_client, job_id)
    ]
    assert [e["data"]["seq"] for e in events] == list(range(len(events)))
    assert events[0]["data"]["status"] == "pending"
    steps = [e["data"]["progress"]["current_step"] for e in events if e["event"] == "progress"]
    assert steps == sorted(steps) and set(steps) == {1, 2, 3, 4, 5}
    final = events[-1]
    assert final["event"] == "status" and final["data"]["status"] == "completed"
    assert final["data"]["result"] == {"slept": 1.0, "steps": 5}


def test_reconnect_with_last_event_id_misses_nothing_and_repeats_nothing(live_api, api_headers, redis_client):
    job_id = submit_live(live_api, api_headers, seconds=2.0, steps=8)

    with stream(live_api, api_headers, job_id) as response:
        first = [e for e in read_sse(response, limit=3) if "data" in e]
    assert len(first) == 3
    # Stay away while the job moves on, then resume after the last event seen.
    wait_until(lambda: len(stream_entries(redis_client, job_id)) > 5, timeout=30, message="more events")
    with stream(live_api, api_headers, job_id, last_event_id=first[-1]["id"]) as response:
        rest = [e for e in read_sse(response) if "data" in e]

    seqs = [e["data"]["seq"] for e in first + rest]
    assert seqs == list(range(len(seqs)))
    assert [e["id"] for e in first + rest] == [entry_id for entry_id, _ in stream_entries(redis_client, job_id)]
    assert rest[-1]["data"]["status"] == "completed"


def test_resuming_after_the_final_event_ends_at_once(live_api, api_headers, redis_client, wait_for_status):
    job_id = submit_live(live_api, api_headers, seconds=0)
    wait_for_status(job_id, "completed")
    last_id = stream_entries(redis_client, job_id)[-1][0]

    with stream(live_api, api_headers, job_id, last_event_id=last_id) as response:
        assert [e for e in read_sse(response) if "data" in e] == []


def test_unknown_or_other_tenants_job_is_404_with_the_same_body_as_get(client):
    missing = "0" * 32

    events = client.get(f"/api/v1/jobs/{missing}/events")

    assert events.status_code == 404
    assert events.get_json() == client.get(f"/api/v1/jobs/{missing}").get_json()


def test_malformed_last_event_id_is_a_400(client, submit):
    job = submit(input={"seconds": 0})

    response = client.get(f"/api/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": "yesterday"})

    assert response.status_code == 400
    assert "Last-Event-ID" in response.get_json()["error"]["details"]
    with pytest.raises(InvalidInput):
        parse_last_event_id("1-2-3")


def test_idle_stream_sends_heartbeats_and_follows_live_changes(redis_client, settings_for, redis_url):
    """job_events on a job no worker runs: the test writes its states itself."""
    store = JobStore(redis_client, settings_for(redis_url))
    job_id, _, _ = store.create(tenant="sse-unit", kind="sleep", input={}, timeout_seconds=60)
    beats = []
    frames = job_events(store, job_id, "0-0", heartbeat_seconds=0.3, on_heartbeat=lambda: beats.append(1))

    assert next(frames).startswith("retry:")
    assert "event: status" in next(frames)  # pending
    assert next(frames) == ": keepalive\n\n"
    threading.Timer(0.2, lambda: store.transition(job_id, JobStatus.RUNNING, progress={"percentage": 50})).start()
    assert '"percentage":50' in next(frames)
    store.transition(job_id, JobStatus.FAILED, error={"type": "X", "message": "boom"})
    final = next(frames)
    assert '"status":"failed"' in final and '"boom"' in final
    assert list(frames) == []
    assert beats


def test_stream_of_a_deleted_job_says_gone_and_ends(redis_client, settings_for, redis_url):
    store = JobStore(redis_client, settings_for(redis_url))
    job_id, _, _ = store.create(tenant="sse-unit", kind="sleep", input={}, timeout_seconds=60)
    frames = job_events(store, job_id, "0-0", heartbeat_seconds=30)
    next(frames), next(frames)  # retry, pending

    store.delete(job_id)

    assert "event: gone" in next(frames)
    assert list(frames) == []


def test_open_streams_are_bounded_per_tenant_and_slots_free_up(redis_client):
    slots = StreamSlots(redis_client, limit=2, heartbeat_seconds=15)
    tenant = f"bounded-{time.time_ns()}"
    first, second = slots.acquire(tenant), slots.acquire(tenant)

    with pytest.raises(TooManyStreams):
        slots.acquire(tenant)
    slots.release(tenant, first)
    third = slots.acquire(tenant)
    # A slot whose process died (no renewals) lapses by itself.
    redis_client.zadd(keys.stream_slots(tenant), {second: time.time() - 1, third: time.time() - 1})
    assert slots.open_count(tenant) == 0
    slots.acquire(tenant)


def test_stream_over_the_tenant_limit_is_429_with_retry_after(
    settings_for, redis_url, api_headers, worker, redis_client
):
    from api import create_app

    # Streams of earlier tests that the server has not yet seen closed still hold their slot.
    for key in redis_client.scan_iter(keys.stream_slots("*")):
        redis_client.delete(key)
    app = create_app({"TESTING": True, "LONGRUN_SETTINGS": settings_for(redis_url, sse_max_streams_per_tenant=1)})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = api_headers["Authorization"]
    job_id = client.post("/api/v1/jobs", json={"kind": "sleep", "input": {"seconds": 30}}).get_json()["id"]
    try:
        open_stream = client.get(f"/api/v1/jobs/{job_id}/events", buffered=False)
        assert open_stream.status_code == 200
        refused = client.get(f"/api/v1/jobs/{job_id}/events", buffered=False)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"]
        assert refused.get_json()["error"]["code"] == "too_many_streams"
        open_stream.close()  # ends the generator: its slot is released
        again = client.get(f"/api/v1/jobs/{job_id}/events", buffered=False)
        assert again.status_code == 200
        again.close()
    finally:
        client.post(f"/api/v1/jobs/{job_id}/cancel")


def test_each_gunicorn_worker_keeps_threads_free_of_streams_for_ordinary_requests(
    start_api, api_headers, client, worker
):
    # gunicorn.conf.py caps open streams at threads - 2 per worker: 2 of 4 here.
    api = start_api(workers=1, threads=4, env={"LONGRUN_SSE_MAX_STREAMS_PER_TENANT": "100"})
    job_id = submit_live(api, api_headers, seconds=30)
    held = [stream(api, api_headers, job_id) for _ in range(2)]
    try:
        assert [r.status_code for r in held] == [200, 200]
        refused = stream(api, api_headers, job_id)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "too_many_streams"
        refused.close()
        # The threads left serve ordinary requests at once.
        assert requests.get(f"{api.url}/api/v1/jobs/{job_id}", headers=api_headers, timeout=5).status_code == 200
    finally:
        client.post(f"/api/v1/jobs/{job_id}/cancel")
        for response in held:  # each reads on to the final event, so the server's threads are free
            assert [e for e in read_sse(response) if "data" in e][-1]["data"]["status"] == "cancelled"
            response.close()
