"""``inference``: one LLM completion, streamed (seed 004's inference task).

Input ``{"input": "..."}`` or ``{"messages": [{"role", "content"}, ...]}``, plus
``options: {model, temperature, max_tokens}``. The answer is streamed from the
model: while the job runs, its progress carries the text so far (``output``)
and a token count, so a client can show it growing; every token is also a
cancel check. Result: ``{output, model, usage}``.
"""

import time

from backends.llm import ChatResult, LLMClient
from longrun.job import Job


def generate(job: Job, llm: LLMClient, messages: list[dict], options: dict) -> ChatResult:
    """Stream one answer into the job's progress: text so far in ``output``, a cancel check per token."""
    max_tokens = options.get("max_tokens")
    pieces: list[str] = []
    job.progress.step(1, 1, "generate", message="waiting for the model")

    next_report = 0.0

    def on_token(text: str) -> None:
        nonlocal next_report
        pieces.append(text)
        job.check_cancelled()
        # The progress helper coalesces reports anyway; joining the text only when
        # one would be written keeps long answers linear, not quadratic.
        if time.monotonic() < next_report:
            return
        next_report = time.monotonic() + job.progress.interval
        count = len(pieces)
        # Percentage against max_tokens when known (the answer may well end sooner).
        percentage = min(99.0, round(100 * count / max_tokens, 1)) if max_tokens else 0
        job.progress.report(output="".join(pieces), percentage=percentage,
                            message=f"generated {count} token{'s' if count != 1 else ''}")

    result = llm.chat(messages, model=options.get("model"), temperature=options.get("temperature"),
                      max_tokens=max_tokens, on_token=on_token)
    job.progress.report(output=result.content, message=f"done: {len(pieces)} tokens", force=True)
    return result


def run_inference(job: Job, llm: LLMClient, input: str | None = None, messages: list[dict] | None = None,
                  options: dict | None = None) -> dict:
    messages = messages or [{"role": "user", "content": input}]
    result = generate(job, llm, messages, options or {})
    return {"output": result.content, "model": result.model, "usage": result.usage}


def inference(job: Job, input: str | None = None, messages: list[dict] | None = None,
              options: dict | None = None) -> dict:
    return run_inference(job, LLMClient.from_settings(), input, messages, options)

