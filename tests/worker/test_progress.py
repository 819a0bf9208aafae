"""The progress helper: coalesces bursts (step changes too), and is a cancellation check."""

import threading
import time

import pytest

from longrun.errors import JobCancelled
from tests.support.waiting import wait_until
from workers.progress import ProgressReporter


class RecordingTask:
    """Stands in for a Celery task: records what update_state would write."""

    def __init__(self):
        self.writes = []

    def update_state(self, task_id, state, meta):
        self.writes.append((task_id, state, meta))


@pytest.fixture
def task():
    return RecordingTask()


def reporter(task, interval=60.0, cancel=None):
    return ProgressReporter(task, "job-1", cancel or threading.Event(), interval)


def test_first_report_is_written_and_a_burst_after_it_is_coalesced(task):
    progress = reporter(task)

    for n in range(100):
        progress.report(percentage=n, message=f"token {n}")

    assert len(task.writes) == 1
    progress.flush()
    assert task.writes[-1][2]["percentage"] == 99
    assert task.writes[-1][1] == "PROGRESS"


def test_steps_are_coalesced_like_any_report_and_keep_their_percentage(task):
    progress = reporter(task)

    progress.step(1, 4, "parse")
    progress.step(2, 4, "render")

    assert [w[2]["step_name"] for w in task.writes] == ["parse"]
    progress.flush()
    assert task.writes[-1][2]["step_name"] == "render"
    assert task.writes[-1][2]["percentage"] == 25.0
    assert task.writes[-1][2]["total_steps"] == 4


def test_percentage_follows_steps_when_not_given(task):
    progress = reporter(task, interval=0)

    progress.report(current_step=3, total_steps=4)

    assert task.writes[-1][2]["percentage"] == 75.0


def test_flush_without_news_writes_nothing(task):
    progress = reporter(task)
    progress.report(percentage=1)

    progress.flush()
    progress.flush()

    assert len(task.writes) == 1


def test_report_raises_once_cancel_is_set(task):
    cancel = threading.Event()
    progress = reporter(task, cancel=cancel)
    cancel.set()

    with pytest.raises(JobCancelled):
        progress.report(percentage=50)
    assert task.writes == []


def test_a_report_right_after_the_claims_event_is_coalesced_with_it(task):
    progress = ProgressReporter(task, "job-1", threading.Event(), 60.0, written_at=time.monotonic())

    progress.report(current_step=1, total_steps=100)

    assert task.writes == []
    assert progress.take_pending()["current_step"] == 1
    assert progress.take_pending() is None


def test_a_held_back_report_is_written_by_the_next_cancel_check_once_due(task):
    progress = ProgressReporter(task, "job-1", threading.Event(), 0.05, written_at=time.monotonic())
    progress.report(message="connecting")
    progress.check_cancelled()
    assert task.writes == []

    time.sleep(0.06)
    progress.check_cancelled()

    assert [w[2]["message"] for w in task.writes] == ["connecting"]


class TaskWithBackend(RecordingTask):
    """Also has Celery's request and backend, which the watchdog thread writes through."""

    def __init__(self):
        super().__init__()
        self.request = object()
        self.backend = self
        self.stored = []

    def store_result(self, task_id, result, state, request=None):
        self.stored.append((task_id, state, result["message"], request))


def test_the_watchdog_writes_a_report_held_back_past_the_interval_with_the_jobs_request():
    task = TaskWithBackend()
    progress = ProgressReporter(task, "job-1", threading.Event(), 0.05, written_at=time.monotonic())
    progress.report(message="waiting for the model")
    progress.flush_due()
    assert task.stored == []

    time.sleep(0.06)
    threading.Thread(target=progress.flush_due).start()  # as the watchdog does, from its own thread

    wait_until(lambda: task.stored, timeout=5)
    assert task.stored == [("job-1", "PROGRESS", "waiting for the model", task.request)]
    assert progress.take_pending() is None
