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
from longrun.settings import get_settings

# How a resumed answer goes on (LONGRUN_LLM_RESUME, docs/steps.md): "prefix" sends the
# text so far as a final assistant message, which llama.cpp's server and Ollama
# continue; "vllm" adds vLLM's continue_final_message; "restart" asks again from the
# start (OpenAI's API does not continue an assistant message).
RESUME_EXTRA = {"prefix": {}, "vllm": {"continue_final_message": True, "add_generation_prompt": False}}


def generate(job: Job, llm: LLMClient, messages: list[dict], options: dict) -> ChatResult:
    """Stream one answer into the job's progress: text so far in ``output``, a cancel check per token.

    The answer is one checkpointed step; the text so far is saved with each progress
    report, so a job that runs again continues the answer instead of starting it over."""
    answer = job.step("generate", _stream_answer, job, llm, messages, options, message="waiting for the model")
    return ChatResult(content=answer["content"], model=answer["model"], usage=answer["usage"])


def _stream_answer(job: Job, llm: LLMClient, messages: list[dict], options: dict) -> dict:
    max_tokens = options.get("max_tokens")
    resume = get_settings().llm_resume
    earlier = job.partial() if resume in RESUME_EXTRA else None
    prefix = earlier["text"] if earlier else ""
    pieces: list[str] = [prefix] if prefix else []
    extra = None
    if earlier and prefix:
        job.log.info("continuing an answer of %d characters from an earlier attempt", len(prefix))
        messages = [*messages, {"role": "assistant", "content": prefix}]
        extra = RESUME_EXTRA[resume] or None
        if max_tokens:  # the budget is the answer's, not each attempt's
            max_tokens = max(1, max_tokens - earlier.get("tokens", 0))
    counted = earlier.get("tokens", 0) if earlier else 0

    next_report = 0.0

    def on_token(text: str) -> None:
        nonlocal next_report, counted
        pieces.append(text)
        counted += 1
        job.check_cancelled()
        # The progress helper coalesces reports anyway; joining the text only when
        # one would be written keeps long answers linear, not quadratic.
        if time.monotonic() < next_report:
            return
        next_report = time.monotonic() + job.progress.interval
        so_far = "".join(pieces)
        # Percentage against max_tokens when known (the answer may well end sooner).
        limit = options.get("max_tokens")
        percentage = min(99.0, round(100 * counted / limit, 1)) if limit else 0
        job.save_partial(
            {"text": so_far, "tokens": counted},
            output=so_far,
            percentage=percentage,
            message=f"generated {counted} token{'s' if counted != 1 else ''}",
        )

    result = llm.chat(
        messages,
        model=options.get("model"),
        temperature=options.get("temperature"),
        max_tokens=max_tokens,
        on_token=on_token,
        extra=extra,
    )
    content = prefix + result.content
    job.progress.report(output=content, message=f"done: {counted} tokens", force=True)
    return {"content": content, "model": result.model, "usage": result.usage}


def run_inference(
    job: Job, llm: LLMClient, input: str | None = None, messages: list[dict] | None = None, options: dict | None = None
) -> dict:
    messages = messages or [{"role": "user", "content": input}]
    result = generate(job, llm, messages, options or {})
    return {"output": result.content, "model": result.model, "usage": result.usage}


def inference(
    job: Job, input: str | None = None, messages: list[dict] | None = None, options: dict | None = None
) -> dict:
    return run_inference(job, LLMClient.from_settings(), input, messages, options)
