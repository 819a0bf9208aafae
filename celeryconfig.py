"""Celery's settings for Longrun, read from the environment.

This is the one source of truth for the API (which publishes) and the workers
(which consume); tests override values with ``app.conf.update``, never a fork.
The names that follow from Longrun's settings are computed by one function,
``from_settings``; the rest are constants. A bad setting raises SettingsError
here like anywhere else; the entry points (api/wsgi.py, workers/celery_app.py)
turn it into one line naming the key. The delivery settings give at-least-once
execution (docs/guarantees.md).
"""

from longrun import keys, redis_conn
from longrun.settings import Settings, get_settings


def from_settings(s: Settings) -> dict:
    """The settings that follow from Longrun's own (URLs, retention, limits)."""
    # Broker and backend: one Redis or Sentinel, computed in one place (longrun/redis_conn.py).
    connection = redis_conn.celery_settings(s)
    return {
        **connection,
        "result_expires": s.retention_seconds or None,
        "broker_transport_options": {
            "visibility_timeout": s.visibility_timeout_seconds,
            # kombu looks for messages of vanished workers only every interval x
            # throttle seconds (100 s by default): scan often enough that a short
            # visibility timeout means a short redelivery delay.
            "unacked_restore_interval": max(1, min(10, s.visibility_timeout_seconds // 3)),
            "unacked_restore_throttle": 1,
            # Redis priorities: ten lists per queue, served lowest number first.
            # A job's priority (0 lowest … 9 highest) maps onto them (longrun.keys).
            "queue_order_strategy": "priority",
            "priority_steps": list(range(10)),
            "sep": ":",
            "socket_timeout": s.redis_timeout_seconds,
            "socket_connect_timeout": s.redis_timeout_seconds,
            # A timeout is not retried: against a hung Redis every retry costs
            # another socket timeout (a publish took 28 s with it on).
            "retry_on_timeout": False,
            "health_check_interval": 10,
            **connection["broker_transport_options"],
        },
        "redis_socket_timeout": s.redis_timeout_seconds,
        "redis_socket_connect_timeout": s.redis_timeout_seconds,
        "task_time_limit": s.max_timeout_seconds + s.job_grace_seconds,
        "task_soft_time_limit": s.max_timeout_seconds,
        # Profile key inference.max_concurrent_tasks; "celery worker -c N" still wins.
        **({"worker_concurrency": s.worker_concurrency} if s.worker_concurrency else {}),
        # An "io" worker waits on HTTP: many threads in one process, not a process per job
        # (docs/pools.md); "celery worker -P/-c" still win.
        **({"worker_pool": "threads", "worker_concurrency": s.io_concurrency} if s.worker_role == "io" else {}),
    }


_derived = from_settings(get_settings())
broker_url = _derived["broker_url"]
broker_transport = _derived["broker_transport"]
broker_transport_options = _derived["broker_transport_options"]
result_backend = _derived["result_backend"]
result_backend_transport_options = _derived["result_backend_transport_options"]
result_expires = _derived["result_expires"]
redis_socket_timeout = _derived["redis_socket_timeout"]
redis_socket_connect_timeout = _derived["redis_socket_connect_timeout"]
task_time_limit = _derived["task_time_limit"]
task_soft_time_limit = _derived["task_soft_time_limit"]
# None: one process per CPU (Celery's default).
worker_concurrency = _derived.get("worker_concurrency")
worker_pool = _derived.get("worker_pool", "prefork")

# JSON only: a pickle message is refused before it reaches a task.
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]
# One result backend per process, not one per thread: a threads pool of 200 built
# 200 (each a Redis connection pool and a package-metadata scan, a fifth of an
# I/O-bound worker's CPU at start). The backend is a redis-py client: thread-safe.
result_backend_thread_safe = True

# At least once: ack after the job ran, requeue when its process dies, and
# take one message at a time so a busy worker does not sit on queued jobs.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
worker_cancel_long_running_tasks_on_connection_loss = True

broker_connection_retry_on_startup = True
# Publishing gives up after one try so that the API answers 503 within about one
# socket timeout (LONGRUN_REDIS_TIMEOUT_SECONDS) even when Redis hangs; each
# kombu retry would add a reconnect and another timeout. redis-py still
# reconnects a connection that went stale when Redis restarted, so a restart
# costs no 503. (tests/faults/test_redis_outage.py)
task_publish_retry_policy = {"max_retries": 0}
redis_backend_health_check_interval = 10
# redis-py's default cap (100) raises past it; a threads pool runs hundreds of jobs per process.
redis_max_connections = 10_000
result_backend_always_retry = True
result_backend_max_retries = 10

task_default_queue = keys.QUEUE_PREFIX + "default"
task_create_missing_queues = True
# One queue per job kind: "jobs.<kind>" runs on "longrun.<kind>".
task_routes = ("workers.routing.route_job",)

worker_hijack_root_logger = False
worker_send_task_events = False  # compose turns them on (-E) for Flower
task_send_sent_event = False
