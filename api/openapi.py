"""What /openapi.json says beyond the marshmallow schemas.

- Security: every operation needs an API key (Bearer or X-API-Key) but the
  public ones (api.auth.PUBLIC_PATHS), and each documents the 401.
- The submit body is one variant per job kind (``oneOf``): ``kind`` names
  the kind and ``input`` has that kind's input schema, so the contract says
  exactly which bodies are accepted (schemathesis holds us to it). The
  deployment's ``max_timeout_seconds`` is the documented maximum, and
  ``webhook`` is offered only where webhooks are enabled (a secret is set).
- A nullable nested schema: apispec writes it as ``anyOf: [$ref, {type: object,
  nullable: true}]``, whose second branch admits *any* object; we make it admit
  only null, so the contract does not promise bodies the API refuses.
"""

from copy import deepcopy

from api.auth import PUBLIC_PATHS
from longrun.settings import Settings
from tasks.registry import KINDS

SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyHeader": []}]
SPEC_OPTIONS = {"security": SECURITY}
SUBMIT_PATH = "/api/v1/jobs"
METHODS = {"get", "put", "post", "delete", "patch"}


def init_api(api, settings: Settings) -> None:
    """Call after every blueprint is registered."""
    spec = api.spec
    spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <API key>"}
    )
    spec.components.security_scheme("apiKeyHeader", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    spec.components.response(
        "UNAUTHORIZED",
        {
            "description": "Missing or invalid API key (one fixed body).",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
    )
    paths = spec._paths  # apispec keeps registered paths here until to_dict()
    for path, operations in paths.items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            if path in PUBLIC_PATHS:
                operation["security"] = []
            else:
                operation.setdefault("responses", {})["401"] = {"$ref": "#/components/responses/UNAUTHORIZED"}
    submit = paths.get(SUBMIT_PATH, {}).get("post")
    if submit:
        submit["requestBody"]["content"]["application/json"]["schema"] = submit_body_schema(api, settings)
    only_null_in_nullable_refs(paths)
    only_null_in_nullable_refs(spec.components.schemas)


def only_null_in_nullable_refs(node) -> None:
    if isinstance(node, dict):
        variants = node.get("anyOf")
        if (
            isinstance(variants, list)
            and len(variants) == 2
            and "$ref" in variants[0]
            and variants[1] == {"type": "object", "nullable": True}
        ):
            variants[1] = {"type": "object", "nullable": True, "enum": [None]}
        for value in node.values():
            only_null_in_nullable_refs(value)
    elif isinstance(node, list):
        for value in node:
            only_null_in_nullable_refs(value)


def submit_body_schema(api, settings: Settings) -> dict:
    converter = api.ma_plugin.converter
    from api.schemas import JobSubmitSchema

    common = converter.schema2jsonschema(JobSubmitSchema)
    common["properties"]["timeout_seconds"]["maximum"] = settings.max_timeout_seconds
    if not getattr(settings, "webhook_secret", None):
        common["properties"].pop("webhook", None)  # refused here: not part of this deployment's contract
    variants = []
    for kind in KINDS.values():
        variant = deepcopy(common)
        variant["title"] = f"Submit a {kind.name} job"
        variant["properties"]["kind"] = {"type": "string", "enum": [kind.name], "description": kind.description}
        variant["properties"]["input"] = converter.schema2jsonschema(kind.input_schema)
        variants.append(variant)
    return {"oneOf": variants}
