"""``chat_completion``: one OpenAI chat completion request, passed through as given.

This is what one line of an OpenAI Batch API input file runs as (api/openai_batch.py):
input ``{"body": {...}, "custom_id"?}`` is the request line (its ``model`` is passed
through to the configured backend, LLM_BASE_URL). Result ``{"status_code", "body"}``,
the backend's ``chat.completion``. A request the backend refuses (4xx) fails the job
with ``error.details = {"status_code", "body"}``: the Batch API reports such a request
as failed, in the error file, with the backend's answer.
"""

from celery import shared_task
from marshmallow import Schema, ValidationError, fields, validate, validates

from longrun import keys
from longrun.errors import LLMRejected
from tasks.kind import Kind
from workers.job_task import Job, JobTask
from workers.llm import LLMClient


class BackendRejected(LLMRejected):
    """Raised when the model backend answers a request with a 4xx (carried as the job's error details)."""

    def __init__(self, message: str, response: dict):
        super().__init__(message)
        self.args = (message, response)  # what Celery records: describe_error keeps the details


class ChatCompletionInput(Schema):
    body = fields.Dict(required=True, metadata={
        "description": "An OpenAI chat completion request body (model, messages, temperature, ...)."})
    custom_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=512),
                              metadata={"description": "The caller's name for the request (Batch API lines)."})

    @validates("body")
    def has_messages(self, value, **kwargs):
        messages = value.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ValidationError("body.messages must be a non-empty list")


def run_chat_completion(job: Job, llm: LLMClient, body: dict) -> dict:
    job.progress.step(1, 1, "request", message="waiting for the model")
    status, answer = llm.chat_raw(body)
    if status >= 400:
        detail = answer.get("error") if isinstance(answer, dict) else None
        message = detail.get("message") if isinstance(detail, dict) else str(detail or answer)[:300]
        raise BackendRejected(f"the model backend answered {status}: {message}",
                              {"status_code": status, "body": answer})
    return {"status_code": status, "body": answer}


@shared_task(base=JobTask, name=keys.task_name("chat_completion"))
def chat_completion(job: Job, body: dict, custom_id: str | None = None) -> dict:
    return run_chat_completion(job, LLMClient.from_settings(), body)


KIND = Kind(name="chat_completion", module="chat_completion", input_schema=ChatCompletionInput,
            description="One OpenAI chat completion request body, passed through to the model backend "
                        "(an OpenAI Batch API line); result {status_code, body}.")
