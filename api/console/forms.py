"""A submit form per job kind, generated from the kind's JSON schema (the one
GET /api/v1/kinds publishes), and the form's values turned back into the
request body the API takes: what is left empty is left out, so the kind's
defaults apply and the API's own validation speaks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

# Options every job takes besides its input (api.schemas.JobSubmitSchema).
OPTION_FIELDS = ("priority", "timeout_seconds", "metadata")
LONG_TEXT = 1000  # strings that may be longer than this get a text area


@dataclass
class FormField:
    name: str
    label: str
    widget: str  # text, textarea, number, checkbox, select, json, file
    required: bool = False
    description: str = ""
    default: object = None
    choices: list = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    step: str = "any"

    @property
    def form_name(self) -> str:
        return self.name if self.widget == "file" else f"input.{self.name}"

    @property
    def dom_id(self) -> str:
        return "f-" + self.name


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def fields_for(kind: dict) -> list[FormField]:
    """The form fields of a kind document from GET /api/v1/kinds."""
    schema = kind["input_schema"]
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema.get("properties", {}).items():
        default = prop.get("default")
        common = {
            "name": name,
            "label": _label(name),
            "required": name in required,
            "description": prop.get("description", ""),
            "default": default,
        }
        kind_of = prop.get("type")
        if name in kind["file_fields"]:
            out.append(FormField(widget="file", **{**common, "required": True}))
        elif "enum" in prop:
            out.append(FormField(widget="select", choices=list(prop["enum"]), **common))
        elif kind_of == "boolean":
            out.append(FormField(widget="checkbox", **common))
        elif kind_of in ("integer", "number"):
            out.append(
                FormField(
                    widget="number",
                    minimum=prop.get("minimum"),
                    maximum=prop.get("maximum"),
                    step="1" if kind_of == "integer" else "any",
                    **common,
                )
            )
        elif kind_of in ("array", "object") or "$ref" in prop:
            out.append(FormField(widget="json", **common))
        elif kind_of == "string" and (prop.get("maxLength") or 0) >= LONG_TEXT:
            out.append(FormField(widget="textarea", **common))
        else:
            out.append(FormField(widget="text", **common))
    return out


def _number(text: str):
    try:
        value = float(text)
    except ValueError:
        return text  # sent as it is: the API names what is wrong with it
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


class FormError(ValueError):
    """A value the browser form cannot turn into JSON at all (the API never sees it)."""

    def __init__(self, details: dict):
        self.details = details
        super().__init__("; ".join(f"{k}: {v[0]}" for k, v in details.items()))


def payload_from(form, fields: list[FormField]) -> dict:
    """The submit body (kind aside) from a submitted form."""
    job_input: dict = {}
    problems: dict = {}
    for spec in fields:
        if spec.widget == "file":
            continue
        raw = form.get(spec.form_name)
        if spec.widget == "checkbox":
            job_input[spec.name] = raw is not None
            continue
        if raw is None or raw.strip() == "":
            continue
        if spec.widget == "number":
            job_input[spec.name] = _number(raw.strip())
        elif spec.widget == "json":
            try:
                job_input[spec.name] = json.loads(raw)
            except ValueError:
                problems[f"input.{spec.name}"] = ["must be JSON"]
        else:
            job_input[spec.name] = raw
    body: dict = {"input": job_input}
    for name in ("priority", "timeout_seconds"):
        raw = (form.get(name) or "").strip()
        if raw:
            body[name] = _number(raw)
    raw = (form.get("metadata") or "").strip()
    if raw:
        try:
            body["metadata"] = json.loads(raw)
        except ValueError:
            problems["metadata"] = ["must be a JSON object"]
    if problems:
        raise FormError(problems)
    return body
