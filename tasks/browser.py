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

from celery import shared_task
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from backends.browser.agent import run_agent, safe_title
from backends.browser.session import BrowserSession
from backends.browser.steps import ACTIONS, StepContext, run_steps
from backends.llm import LLMClient
from longrun import keys
from longrun.errors import UnsafeURL
from longrun.settings import Settings, get_settings
from longrun.urls import check_url
from tasks.kind import Kind
from workers.job_task import Job, JobTask

ARTIFACT_NAME = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
                                error="must be a plain file name (letters, digits, . _ -)")


def _safe_url(value: str) -> None:
    try:
        check_url(value, resolve=False)
    except UnsafeURL as exc:
        raise ValidationError(exc.message) from None


class StepBase(Schema):
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    timeout_ms = fields.Integer(validate=validate.Range(min=1, max=300_000))


class GotoStep(StepBase):
    url = fields.String(required=True, validate=_safe_url)
    wait_until = fields.String(validate=validate.OneOf(("load", "domcontentloaded", "networkidle", "commit")))


class ClickStep(StepBase):
    selector = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class FillStep(ClickStep):
    value = fields.String(required=True, validate=validate.Length(max=100_000))


class PressStep(StepBase):
    selector = fields.String(validate=validate.Length(min=1, max=2000))
    key = fields.String(required=True, validate=validate.Length(min=1, max=100))


class ExtractStep(StepBase):
    selector = fields.String(validate=validate.Length(min=1, max=2000))
    attribute = fields.String(validate=validate.Length(min=1, max=200))
    all = fields.Boolean()
    name = fields.String(validate=ARTIFACT_NAME)


class ScreenshotStep(StepBase):
    selector = fields.String(validate=validate.Length(min=1, max=2000))
    full_page = fields.Boolean()
    name = fields.String(validate=ARTIFACT_NAME)


class WaitForStep(StepBase):
    selector = fields.String(validate=validate.Length(min=1, max=2000))
    state = fields.String(validate=validate.OneOf(("attached", "detached", "visible", "hidden")))
    url = fields.String(validate=validate.Length(min=1, max=4000))
    ms = fields.Integer(validate=validate.Range(min=0, max=600_000))

    @validates_schema
    def one_condition(self, data, **kwargs):
        if sum(k in data for k in ("selector", "url", "ms")) != 1:
            raise ValidationError("give exactly one of selector, url or ms")


STEP_SCHEMAS = {"goto": GotoStep, "click": ClickStep, "fill": FillStep, "press": PressStep,
                "extract": ExtractStep, "screenshot": ScreenshotStep, "wait_for": WaitForStep}


def _first_message(messages) -> str:
    if isinstance(messages, dict):
        name, value = next(iter(messages.items()))
        return f"{name}: {_first_message(value)}" if name != "_schema" else _first_message(value)
    if isinstance(messages, list) and messages:
        return _first_message(messages[0])
    return str(messages)


class Steps(fields.List):
    """A list of steps, each checked by its action's schema; errors name the step."""

    def __init__(self, **kwargs):
        super().__init__(fields.Dict(), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        raw = super()._deserialize(value, attr, data, **kwargs)
        steps = []
        for index, step in enumerate(raw, start=1):
            action = step.get("action")
            schema = STEP_SCHEMAS.get(action)
            if schema is None:
                raise ValidationError(f"step {index}: action must be one of {', '.join(ACTIONS)}, "
                                      f"not {action!r}")
            try:
                steps.append(schema().load(step))
            except ValidationError as exc:
                raise ValidationError(f"step {index} ({action}): {_first_message(exc.messages)}") from None
        return steps


class BrowserInput(Schema):
    steps = Steps(validate=validate.Length(min=1, max=200), metadata={"description": (
        "scripted mode: {action: goto|click|fill|press|extract|screenshot|wait_for, ...} in order; "
        "goto {url, wait_until?}, click {selector}, fill {selector, value}, press {key, selector?}, "
        "extract {selector?, attribute?, all?, name?}, screenshot {selector?, full_page?, name?}, "
        "wait_for {selector, state?} | {url} | {ms}; any step: timeout_ms")})
    task = fields.String(validate=validate.Length(min=1, max=10_000),
                         metadata={"description": "agent mode: what the model should do in the browser"})
    max_steps = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))
    start_url = fields.String(validate=_safe_url)
    cdp_url = fields.String(validate=_safe_url, allow_none=True)
    model = fields.String(validate=validate.Length(min=1, max=200), allow_none=True)
    host = fields.String(validate=_safe_url, allow_none=True)  # seed 000: the LLM host override
    temperature = fields.Float(validate=validate.Range(min=0, max=2), allow_none=True)
    max_tokens = fields.Integer(load_default=256, validate=validate.Range(min=16, max=4096))
    timeout = fields.Float(validate=validate.Range(min=1), allow_none=True)  # seconds, within the job
    viewport = fields.Dict(keys=fields.String(validate=validate.OneOf(("width", "height"))),
                           values=fields.Integer(validate=validate.Range(min=100, max=4000)),
                           metadata={"description": "window size, e.g. {\"width\": 1280, \"height\": 800}"})
    # Seed 000 sent these; Longrun's browser is always headless and logs to the job.
    headless = fields.Boolean()
    verbose = fields.Boolean()

    @validates_schema
    def one_mode(self, data, **kwargs):
        if bool(data.get("steps")) == bool(data.get("task")):
            raise ValidationError("give either steps (scripted mode) or task (agent mode)", "steps")
        if data.get("start_url") and not data.get("task"):
            raise ValidationError("start_url is for agent mode; use a goto step", "start_url")


def llm_for(settings: Settings, host: str | None, allowlist=None) -> LLMClient:
    """The LLM client for a job; a per-job ``host`` must pass the URL rules and never
    receives the operator's API key."""
    client = LLMClient.from_settings(settings)
    if host:
        check_url(host, allowlist=allowlist)
        client = LLMClient(host, settings.llm_model, "",
                           connect_timeout=settings.llm_connect_timeout_seconds,
                           read_timeout=settings.llm_read_timeout_seconds,
                           max_retries=settings.llm_max_retries,
                           retry_backoff=settings.llm_retry_backoff_seconds)
    return client


def run_browser_job(job: Job, *, steps: list[dict] | None = None, task: str | None = None, max_steps: int = 10,
                    start_url: str | None = None, cdp_url: str | None = None, model: str | None = None,
                    host: str | None = None, temperature: float | None = None, max_tokens: int = 256,
                    timeout: float | None = None,
                    viewport: dict | None = None, settings: Settings | None = None, **ignored) -> dict:
    """The ``browser`` kind's work: scripted ``steps`` or an agent ``task``; returns the result."""
    settings = settings or get_settings()
    allowlist = settings.url_allowlist
    started = time.monotonic()
    ctx = StepContext(save_artifact=job.save_artifact, check_cancelled=job.check_cancelled,
                      deadline=started + timeout if timeout else None)
    llm = llm_for(settings, host, allowlist) if task else None  # refuse a bad host before a browser starts
    job.progress.report(message="starting the browser", force=True)
    with BrowserSession(job.id, settings=settings, cdp_url=cdp_url, allowlist=allowlist,
                        viewport=viewport) as session:
        if task:
            result = run_agent(session, job, ctx, llm, task=task, max_steps=max_steps, model=model,
                               start_url=start_url, temperature=temperature, max_tokens=max_tokens)
        else:
            result = run_steps(session, job, steps or [], ctx)
        result.update(final_url=session.page.url, title=safe_title(session.page))
        result["blocked_requests"] = session.page_refusals()
    result.update(artifacts=ctx.artifacts, extracted=ctx.extracted,
                  duration_seconds=round(time.monotonic() - started, 3))
    return result


@shared_task(base=JobTask, name=keys.task_name("browser"))
def browser(job: Job, **job_input) -> dict:
    return run_browser_job(job, **job_input)


KIND = Kind(name="browser", module="browser", input_schema=BrowserInput,
            description="Drive headless Chromium: scripted steps, or an LLM agent given a task.")
