"""``chat_completion``: one OpenAI chat completion request, passed through as given.

This is what one line of an OpenAI Batch API input file runs as (api/openai_batch.py):
input ``{"body": {...}, "custom_id"?}`` is the request line (its ``model`` is passed
through to the configured backend, LLM_BASE_URL). Result ``{"status_code", "body"}``,
the backend's ``chat.completion``. A request the backend refuses (4xx) fails the job
with ``error.details = {"status_code", "body"}``: the Batch API reports such a request
as failed, in the error file, with the backend's answer.
"""

from backends.llm import LLMClient
from longrun.errors import BackendRejected
from longrun.job import Job


def run_chat_completion(job: Job, llm: LLMClient, body: dict) -> dict:
    job.progress.step(1, 1, "request", message="waiting for the model")
    status, answer = llm.chat_raw(body)
    if status >= 400:
        detail = answer.get("error") if isinstance(answer, dict) else None
        message = detail.get("message") if isinstance(detail, dict) else str(detail or answer)[:300]
        raise BackendRejected(
            f"the model backend answered {status}: {message}", {"status_code": status, "body": answer}
        )
    return {"status_code": status, "body": answer}


def chat_completion(job: Job, body: dict, custom_id: str | None = None) -> dict:
    return run_chat_completion(job, LLMClient.from_settings(), body)
