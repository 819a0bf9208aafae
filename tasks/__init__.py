"""Longrun's job kinds: one module each, registered in KINDS.

A kind module defines its input schema (the API validates with it), a plain
function that does the work, and a thin Celery task named ``jobs.<kind>``
whose base class (workers.job_task.JobTask) handles claim, progress and cancel.
"""

from tasks import browser, chat, chat_completion, codegen, inference, sleep
from tasks.kind import Kind

KINDS: dict[str, Kind] = {kind.name: kind for kind in (sleep.KIND, inference.KIND, chat.KIND, browser.KIND,
                                                       codegen.KIND, chat_completion.KIND)}
