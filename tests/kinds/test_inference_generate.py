"""tasks.inference.generate alone: a streamed answer becomes progress reports,
and a cancel is seen at the next token (no Celery, the fake OpenAI server)."""

import threading

import pytest

from backends.llm import LLMClient
from longrun.errors import JobCancelled
from longrun.job import Job
from tasks.inference import generate, run_inference
from workers.progress import ProgressReporter


class RecordingTask:
    """Stands in for the Celery task: keeps what update_state was given."""

    def __init__(self):
        self.states: list[dict] = []

    def update_state(self, task_id, state, meta):
        self.states.append(meta)


@pytest.fixture
def job():
    task = RecordingTask()
    progress = ProgressReporter(task, "job-1", threading.Event(), interval=0)
    return Job(id="job-1", attempt=1, progress=progress, artifacts=None, timeout_seconds=60)


@pytest.fixture
def llm(openai_server):
    return LLMClient(openai_server.url, "fake-model", read_timeout=5, max_retries=0)


def test_each_token_extends_the_reported_output(job, llm, openai_server):
    openai_server.reply(tokens=["a", "b", "c"])

    result = generate(job, llm, [{"role": "user", "content": "abc?"}], {"max_tokens": 10})

    outputs = [s.get("output") for s in job.progress.task.states]
    assert outputs[0] is None  # "waiting for the model"
    assert outputs[1:] == ["a", "ab", "abc", "abc"]
    assert [s["percentage"] for s in job.progress.task.states[1:4]] == [10, 20, 30]
    assert job.progress.task.states[-1]["message"] == "done: 3 tokens"
    assert result.content == "abc"


def test_a_cancel_is_seen_at_the_next_token(job, llm, openai_server):
    openai_server.reply(tokens=[f"t{i} " for i in range(100)], token_delay=0.02)
    original = job.progress.report

    def cancel_after_two_reports(**fields):
        original(**fields)
        if len(job.progress.task.states) == 3:
            job.progress.cancel_event.set()

    job.progress.report = cancel_after_two_reports

    with pytest.raises(JobCancelled):
        generate(job, llm, [{"role": "user", "content": "go"}], {})
    assert job.progress.task.states[-1]["output"] == "t0 t1 "


def test_run_inference_wraps_a_prompt_as_one_user_message(job, llm, openai_server):
    result = run_inference(job, llm, input="hello", options={"temperature": 0})

    assert result == {
        "output": "echo: hello",
        "model": "fake-model",
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }
    assert openai_server.requests[-1]["messages"] == [{"role": "user", "content": "hello"}]
    assert openai_server.requests[-1]["temperature"] == 0
