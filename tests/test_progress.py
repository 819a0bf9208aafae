"""The progress helper: coalesces bursts, always writes step changes, and is a
cancellation check."""

import threading

import pytest

from longrun.errors import JobCancelled
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


def test_step_is_always_written_with_its_percentage(task):
    progress = reporter(task)

    progress.step(1, 4, "parse")
    progress.step(2, 4, "render")

    assert [w[2]["step_name"] for w in task.writes] == ["parse", "render"]
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
