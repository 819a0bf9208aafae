"""``browser`` (seed 000): drive a real headless Chromium.

Two modes. Scripted: ``steps``, a list of ``{"action": goto|click|fill|press|
extract|screenshot|wait_for, ...}`` carried out in order, each a progress step;
screenshots and extracted text become artifacts. Agent: ``task`` text and
``max_steps``; a language model picks each next action from the page's view
(backends/browser/). Seed 000's fields (``cdp_url``, ``model``, ``host``,
``headless``, ``verbose``, ``timeout``) are accepted as it documented them.

Every URL in the input passes the URL rules (longrun/urls.py) at submit time
by its text; the worker checks them again with DNS, and every request the
browser makes.
"""

import time

from backends.browser.agent import run_agent, safe_title
from backends.browser.session import BrowserSession
from backends.browser.steps import StepContext, run_steps
from backends.llm import LLMClient
from longrun.job import Job
from longrun.settings import Settings, get_settings
from longrun.urls import check_allowlisted


def llm_for(settings: Settings, host: str | None, allowlist=None) -> LLMClient:
    """The LLM client for a job; a per-job ``host`` must pass the URL rules and the
    operator's allow-list, and never receives the operator's API key."""
    client = LLMClient.from_settings(settings)
    if host:
        check_allowlisted(host, allowlist=allowlist, field="host")
        client = LLMClient(
            host,
            settings.llm_model,
            "",
            connect_timeout=settings.llm_connect_timeout_seconds,
            read_timeout=settings.llm_read_timeout_seconds,
            max_retries=settings.llm_max_retries,
            retry_backoff=settings.llm_retry_backoff_seconds,
        )
    return client


def run_browser_job(
    job: Job,
    *,
    steps: list[dict] | None = None,
    task: str | None = None,
    max_steps: int = 10,
    start_url: str | None = None,
    cdp_url: str | None = None,
    model: str | None = None,
    host: str | None = None,
    temperature: float | None = None,
    max_tokens: int = 256,
    timeout: float | None = None,
    viewport: dict | None = None,
    settings: Settings | None = None,
    **ignored,
) -> dict:
    """The ``browser`` kind's work: scripted ``steps`` or an agent ``task``; returns the result."""
    settings = settings or get_settings()
    allowlist = settings.url_allowlist
    started = time.monotonic()
    ctx = StepContext(
        save_artifact=job.save_artifact,
        check_cancelled=job.check_cancelled,
        deadline=started + timeout if timeout else None,
    )
    llm = llm_for(settings, host, allowlist) if task else None  # refuse a bad host before a browser starts
    job.progress.report(message="starting the browser", force=True)
    with BrowserSession(job.id, settings=settings, cdp_url=cdp_url, allowlist=allowlist, viewport=viewport) as session:
        if task:
            assert llm is not None  # made above whenever there is a task
            result = run_agent(
                session,
                job,
                ctx,
                llm,
                task=task,
                max_steps=max_steps,
                model=model,
                start_url=start_url,
                temperature=temperature,
                max_tokens=max_tokens,
            )
        else:
            result = run_steps(session, job, steps or [], ctx)
        result.update(final_url=session.page.url, title=safe_title(session.page))
        result["blocked_requests"] = session.page_refusals()
    result.update(
        artifacts=ctx.artifacts, extracted=ctx.extracted, duration_seconds=round(time.monotonic() - started, 3)
    )
    return result


def browser(job: Job, **job_input) -> dict:
    return run_browser_job(job, **job_input)
