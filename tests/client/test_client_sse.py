"""Event-stream parsing, poll backoff and event de-duplication, as plain functions."""

import itertools

from longrun_client.client import _Tracker
from longrun_client.sse import Backoff, ServerSentEvent, backoff_delays, iter_sse


def test_events_are_split_on_blank_lines_with_id_event_and_multiline_data():
    lines = [
        "id: 1-0",
        "event: progress",
        'data: {"seq": 1,',
        'data: "status": "running"}',
        "",
        ": heartbeat",
        "",
        "id: 2-0",
        "data:plain",
        "retry: 3000",
        "",
        "data: cut off",
    ]
    events = list(iter_sse(lines))
    assert events == [
        ServerSentEvent("progress", '{"seq": 1,\n"status": "running"}', "1-0"),
        ServerSentEvent("message", "plain", "2-0", 3000),
    ]


def test_the_last_id_is_kept_for_events_that_do_not_repeat_it():
    events = list(iter_sse(["id: 5-1", "data: a", "", "data: b", ""]))
    assert [e.id for e in events] == ["5-1", "5-1"]


def test_comments_alone_dispatch_nothing():
    assert list(iter_sse([": ping", "", ": ping", ""])) == []


def test_backoff_grows_to_its_maximum_and_starts_over_on_reset():
    assert list(itertools.islice(backoff_delays(1, 2, 5), 5)) == [1, 2, 4, 5, 5]
    backoff = Backoff(0.5, 2, 3)
    assert [backoff.next() for _ in range(4)] == [0.5, 1, 2, 3]
    backoff.reset()
    assert backoff.next() == 0.5


def test_a_longer_retry_after_wins_over_the_backoff():
    backoff = Backoff(0.5, 2, 3)
    assert backoff.next(retry_after=4) == 4
    assert backoff.next(retry_after=0.1) == 1


def test_tracker_reports_each_event_once_and_skips_replays():
    seen = []
    tracker = _Tracker("j", seen.append)
    assert tracker.feed("pending", {"percentage": 0}, seq=0)
    assert tracker.feed("running", '{"percentage": 50, "seq": 2, "step_name": "two"}')
    assert not tracker.feed("running", {"percentage": 50, "seq": 2, "step_name": "two"})  # same poll twice
    assert not tracker.feed("pending", {}, seq=0)  # a stream replayed from its start
    assert tracker.feed("completed", {"percentage": 100}, seq=3)
    assert [(e.status, e.seq, e.percentage) for e in seen] == [
        ("pending", 0, 0),
        ("running", 2, 50),
        ("completed", 3, 100),
    ]
    assert seen[1].step_name == "two" and seen[2].is_final
