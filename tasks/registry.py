"""The job kinds: their names, input schemas, files, and where their work is.

The API reads this (names, schemas, file fields) without importing any work
code: ``work`` is the dotted path of the kind's plain function, which only the
worker runtime imports (workers/kind_tasks.py wraps each into the Celery task
``jobs.<kind>``).
"""

from collections.abc import Callable
from dataclasses import dataclass

from marshmallow import Schema

from longrun.pdf import check_pdf
from tasks.inputs import BrowserInput, ChatCompletionInput, ChatInput, CodegenInput, InferenceInput, SleepInput


@dataclass(frozen=True)
class UploadType:
    """What a kind's uploaded files must be: stored as ``<field><suffix>``;
    ``check(data)`` raises ValueError (with a reason) for a file it cannot take."""

    suffix: str
    check: Callable[[bytes], None]


@dataclass(frozen=True)
class Kind:
    name: str
    # "module:function": the plain function ``f(job, **input) -> result``.
    work: str
    input_schema: type[Schema]
    description: str
    # Upload fields this kind takes as multipart files (stored as artifacts).
    file_fields: tuple[str, ...] = ()
    upload_type: UploadType | None = None
    # The progress steps the kind always reports, in order (empty: they vary).
    steps: tuple[str, ...] = ()


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            name="sleep",
            work="tasks.sleep:sleep",
            input_schema=SleepInput,
            description="Diagnostic: sleep in steps, reporting progress; optionally fail.",
        ),
        Kind(
            name="inference",
            work="tasks.inference:inference",
            input_schema=InferenceInput,
            description="LLM completion of a prompt or conversation, streamed into progress.output.",
        ),
        Kind(
            name="chat",
            work="tasks.chat:chat",
            input_schema=ChatInput,
            description="One QA turn of a conversation; history per chat_id is kept and sent to the model.",
        ),
        Kind(
            name="browser",
            work="tasks.browser:browser",
            input_schema=BrowserInput,
            description="Drive headless Chromium: scripted steps, or an LLM agent given a task.",
        ),
        Kind(
            name="codegen",
            work="tasks.codegen:codegen",
            input_schema=CodegenInput,
            description="Code from a datasheet PDF and a schematic PDF (multipart uploads) and an instruction.",
            file_fields=("datasheet", "schematic"),
            upload_type=UploadType(suffix=".pdf", check=check_pdf),
            steps=("parse datasheet", "parse schematic", "generate code"),
        ),
        Kind(
            name="chat_completion",
            work="tasks.chat_completion:chat_completion",
            input_schema=ChatCompletionInput,
            description="One OpenAI chat completion request body, passed through to the model backend "
            "(an OpenAI Batch API line); result {status_code, body}.",
        ),
    )
}
