"""JobHandle.wait: follows the live event stream, resumes it with Last-Event-ID
after a cut, and falls back to polling when the server will not stream."""

import pytest

from longrun_client import Client
from tests.support.session import TEST_API_KEY

pytestmark = pytest.mark.integration


def follow(client, **job_input):
    events = []
    job = client.submit("sleep", job_input)
    final = job.wait(timeout=90, on_progress=events.append)
    return job, final, events


def test_wait_receives_every_event_of_the_job_in_order_from_the_stream(lr_client):
    job, final, events = follow(lr_client, seconds=0.6, steps=6)
    assert job.followed_by == "events"
    assert final["status"] == "completed" and final["result"] == {"slept": 0.6, "steps": 6}
    # The stream carries every state change: seq 0 (pending) up to the final one, none twice.
    assert [e.seq for e in events] == list(range(events[-1].seq + 1))
    assert [e.progress.get("current_step") for e in events if e.status == "running"][-6:] == [1, 2, 3, 4, 5, 6]
    assert events[-1].status == "completed"


def test_a_cut_stream_is_resumed_with_last_event_id_and_misses_nothing(live_api):
    # Events come about 0.7 s apart and heartbeats every 15 s, so a 0.3 s read
    # timeout drops the connection between events again and again.
    with Client(live_api.url, api_key=TEST_API_KEY, stream_read_timeout=0.3) as client:
        job, final, events = follow(client, seconds=2.8, steps=4)
    assert job.followed_by == "events"
    assert job.reconnects >= 2
    assert final["status"] == "completed"
    assert [e.seq for e in events] == list(range(events[-1].seq + 1))


def test_wait_polls_when_the_server_refuses_streams(start_api, worker):
    # A server allowed no open streams answers 429 to /events (a server without
    # the route answers 404): either way wait() polls, with the same events API.
    server = start_api(env={"LONGRUN_SSE_MAX_STREAMS_PER_TENANT": "0"}, workers=1)
    with Client(server.url, api_key=TEST_API_KEY, poll_interval=0.1, max_poll_interval=0.5) as client:
        job, final, events = follow(client, seconds=1.2, steps=3)
    assert job.followed_by == "polling"
    assert final["status"] == "completed" and final["result"] == {"slept": 1.2, "steps": 3}
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs)) and events[-1].status == "completed"
    assert any(e.status == "running" and e.step_name for e in events)
