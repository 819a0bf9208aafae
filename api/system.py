"""Health and the registry of job kinds."""

import redis
from flask import current_app, g
from flask.views import MethodView

from api.extensions import Blueprint, services
from api.schemas import HealthSchema, KindListSchema
from longrun import __version__, keys
from tasks.registry import KINDS

blp = Blueprint("system", __name__, url_prefix="/api/v1", description="Health and job kinds.")

# A worker that has not said it is alive for this long does not count.
WORKER_SEEN_SECONDS = 30


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="Not ready: Redis unreachable or no worker seen.")
    def get(self):
        """Liveness and readiness: Redis reachable and a worker seen recently."""
        svc = services()
        body = {"status": "healthy", "version": __version__, "tasks_count": None, "redis": "ok", "workers": None}
        try:
            tenant = g.get("tenant")  # health is public: count jobs only for a known caller
            pipe = svc.store.redis.pipeline(transaction=False)
            pipe.zcount(keys.WORKERS, f"({_now() - WORKER_SEEN_SECONDS}", "+inf")
            if tenant:
                pipe.zcard(keys.tenant_index(tenant))
            body["workers"], *count = pipe.execute()
            body["tasks_count"] = count[0] if count else None
        except redis.RedisError:
            body.update(status="unhealthy", redis="unreachable")
            return body, 503, {"Retry-After": "5"}
        if not body["workers"]:
            body["status"] = "unhealthy"
            return body, 503, {"Retry-After": "5"}
        return body


@blp.route("/kinds")
class Kinds(MethodView):
    @blp.response(200, KindListSchema)
    def get(self):
        """The job kinds this deployment runs, with the JSON schema of their input."""
        return {"kinds": kind_documents()}


def kind_documents() -> list[dict]:
    """Each kind with the JSON schema of its input (GET /api/v1/kinds; the console's forms)."""
    converter = current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"].ma_plugin.converter
    return [
        {
            "name": kind.name,
            "description": kind.description,
            "file_fields": list(kind.file_fields),
            "input_schema": converter.schema2jsonschema(kind.input_schema),
        }
        for kind in KINDS.values()
    ]


def _now() -> float:
    import time

    return time.time()
