"""``GET /metrics``: Prometheus text format, computed from Redis at scrape time
(see longrun/metrics.py for why), so every API process answers the same."""

from flask import Response
from flask.views import MethodView
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from api.extensions import Blueprint, services
from longrun.metrics import RedisCollector
from tasks.registry import KINDS

blp = Blueprint("metrics", __name__, url_prefix="", description="Prometheus metrics.")


def registry_for(client) -> CollectorRegistry:
    # A registry of our own: the default one would add this one process's
    # Python/process metrics, which say nothing about the service.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(client, KINDS))
    return registry


@blp.route("/metrics")
class Metrics(MethodView):
    @blp.response(200, description="Prometheus text exposition format.", content_type=CONTENT_TYPE_LATEST)
    def get(self):
        """Jobs submitted/finished, run-time and queue-wait histograms, queues, running jobs, workers."""
        # content_type, not mimetype: CONTENT_TYPE_LATEST already names its charset, and
        # Flask appends one more to a mimetype.
        return Response(generate_latest(registry_for(services().store.redis)), content_type=CONTENT_TYPE_LATEST)
