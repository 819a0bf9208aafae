"""The input schemas of the job kinds: what the API validates a job's input with.

Kept apart from the kinds' work (tasks/<kind>.py) so that the API reads them
without importing any work code; tasks/registry.py names each kind's schema.
"""

from typing import Any, cast

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from backends.browser.steps import ACTIONS
from longrun import jsonfields
from longrun.artifacts import SAFE_NAME
from longrun.errors import UnsafeURL
from longrun.urls import check_allowlisted, check_url

# -- sleep ---------------------------------------------------------------------


class SleepInput(Schema):
    seconds = jsonfields.Float(load_default=1.0, validate=validate.Range(min=0, max=24 * 3600))
    steps = jsonfields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    fail = jsonfields.Boolean(load_default=False)
    # Extra log lines per step, to exercise per-job logs and their caps.
    log_lines = jsonfields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000))


# -- inference -----------------------------------------------------------------

ROLES = ("system", "user", "assistant", "tool")
MAX_INPUT_CHARS = 200_000


class MessageSchema(Schema):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    content = fields.String(required=True, validate=validate.Length(max=MAX_INPUT_CHARS))


class OptionsSchema(Schema):
    """Per-job model settings; anything left out uses the server's (or LLM_MODEL's) default."""

    model = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200))
    temperature = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0, max=2))
    max_tokens = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=32768))


class InferenceInput(Schema):
    input = fields.String(
        validate=validate.Length(min=1, max=MAX_INPUT_CHARS),
        metadata={"description": "A prompt (sent as one user message)."},
    )
    messages = fields.List(
        fields.Nested(MessageSchema),
        validate=validate.Length(min=1, max=1000),
        metadata={"description": "A whole conversation instead of input."},
    )
    options = fields.Nested(OptionsSchema, load_default=dict)

    @validates_schema
    def one_of_input_or_messages(self, data, **kwargs):
        if ("input" in data) == ("messages" in data):
            raise ValidationError("give either input (a prompt) or messages (a conversation)", "input")


# -- chat ----------------------------------------------------------------------


class Identifier(fields.Field):
    """A string or integer id (seed 001 sends numeric user ids), kept as a string."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValidationError("must be a string or an integer")
        text = str(value).strip()
        if not text or len(text) > 200:
            raise ValidationError("must be 1 to 200 characters")
        return text


class ChatCompletionInput(Schema):
    """One OpenAI Batch API request line: its body, passed through as given."""

    body = fields.Dict(
        required=True,
        metadata={"description": "An OpenAI chat completion request body (model, messages, temperature, ...)."},
    )
    custom_id = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=512),
        metadata={"description": "The caller's name for the request (Batch API lines)."},
    )

    @validates_schema
    def has_messages(self, data, **kwargs):
        messages = (data.get("body") or {}).get("messages")
        if not isinstance(messages, list) or not messages:
            raise ValidationError("body.messages must be a non-empty list", "body")


class ChatInput(Schema):
    input = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_INPUT_CHARS),
        metadata={"description": "The user's question."},
    )
    chat_id = Identifier(
        load_default=None,
        allow_none=True,
        metadata={"description": "The conversation; a new one is started when left out."},
    )
    user_id = Identifier(
        load_default=None,
        allow_none=True,
        metadata={"description": "Who asks; a chat answers only the user who started it."},
    )
    user_type = fields.String(load_default="user", validate=validate.Length(min=1, max=100))
    file_ids = fields.List(Identifier(), load_default=list, validate=validate.Length(max=100))
    options = fields.Nested(OptionsSchema, load_default=dict)


# -- codegen -------------------------------------------------------------------


class CodegenInput(Schema):
    instruction = fields.String(required=True, validate=validate.Length(min=1, max=8000))
    language = fields.String(load_default="c", validate=validate.Length(min=1, max=32))
    # Names of the uploaded files among the job's artifacts (set by the API).
    datasheet = fields.String(required=True, validate=validate.Regexp(SAFE_NAME))
    schematic = fields.String(required=True, validate=validate.Regexp(SAFE_NAME))
    model = fields.String(load_default=None, allow_none=True)
    temperature = fields.Float(load_default=None, allow_none=True, validate=validate.Range(0, 2))
    max_tokens = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(1, 32768))


# -- browser -------------------------------------------------------------------

ARTIFACT_NAME = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", error="must be a plain file name (letters, digits, . _ -)"
)


def _safe_url(value: str) -> None:
    try:
        check_url(value, resolve=False)
    except UnsafeURL as exc:
        raise ValidationError(exc.message) from None


def _allowlisted_url(field: str):
    """A URL the job hands work to (cdp_url, the LLM host): the URL rules and the operator's allow-list."""

    def validate_url(value: str) -> None:
        try:
            check_allowlisted(value, resolve=False, field=field)
        except UnsafeURL as exc:
            raise ValidationError(exc.message) from None

    return validate_url


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


STEP_SCHEMAS = {
    "goto": GotoStep,
    "click": ClickStep,
    "fill": FillStep,
    "press": PressStep,
    "extract": ExtractStep,
    "screenshot": ScreenshotStep,
    "wait_for": WaitForStep,
}


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
        for index, step in enumerate(cast(list[Any], raw), start=1):  # JSON objects: Dict items are never None
            action = step.get("action")
            schema = STEP_SCHEMAS.get(action)
            if schema is None:
                raise ValidationError(f"step {index}: action must be one of {', '.join(ACTIONS)}, not {action!r}")
            try:
                steps.append(schema().load(step))
            except ValidationError as exc:
                raise ValidationError(f"step {index} ({action}): {_first_message(exc.messages)}") from None
        return steps


class BrowserInput(Schema):
    steps = Steps(
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": (
                "scripted mode: {action: goto|click|fill|press|extract|screenshot|wait_for, ...} in order; "
                "goto {url, wait_until?}, click {selector}, fill {selector, value}, press {key, selector?}, "
                "extract {selector?, attribute?, all?, name?}, screenshot {selector?, full_page?, name?}, "
                "wait_for {selector, state?} | {url} | {ms}; any step: timeout_ms"
            )
        },
    )
    task = fields.String(
        validate=validate.Length(min=1, max=10_000),
        metadata={"description": "agent mode: what the model should do in the browser"},
    )
    max_steps = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))
    start_url = fields.String(validate=_safe_url)
    cdp_url = fields.String(validate=_allowlisted_url("cdp_url"), allow_none=True)
    model = fields.String(validate=validate.Length(min=1, max=200), allow_none=True)
    host = fields.String(validate=_allowlisted_url("host"), allow_none=True)  # seed 000: the LLM host override
    temperature = fields.Float(validate=validate.Range(min=0, max=2), allow_none=True)
    max_tokens = fields.Integer(load_default=256, validate=validate.Range(min=16, max=4096))
    timeout = fields.Float(validate=validate.Range(min=1), allow_none=True)  # seconds, within the job
    viewport = fields.Dict(
        keys=fields.String(validate=validate.OneOf(("width", "height"))),
        values=fields.Integer(validate=validate.Range(min=100, max=4000)),
        metadata={"description": 'window size, e.g. {"width": 1280, "height": 800}'},
    )
    # Seed 000 sent these; Longrun's browser is always headless and logs to the job.
    headless = fields.Boolean()
    verbose = fields.Boolean()

    @validates_schema
    def one_mode(self, data, **kwargs):
        if bool(data.get("steps")) == bool(data.get("task")):
            raise ValidationError("give either steps (scripted mode) or task (agent mode)", "steps")
        if data.get("start_url") and not data.get("task"):
            raise ValidationError("start_url is for agent mode; use a goto step", "start_url")
