"""gunicorn settings for the API: ``gunicorn api.wsgi:app`` reads this file.

Worker class: gthread. Each open event stream (GET /jobs/{id}/events) holds
one thread for its lifetime, blocked in XREAD on Redis, so a worker gets many
threads, and ``post_worker_init`` caps open streams per process below the
thread count: the last RESERVED_THREADS threads of every worker always serve
ordinary requests, however many clients follow jobs. gthread needs no monkey
patching, so redis-py, kombu's publisher and Celery behave as everywhere else
(gevent would hold more idle streams per process, but patches sockets and
threads under every library we use). README "Live events" has the numbers.
Command-line flags (as the tests pass them) override what is set here.
"""

import os

bind = os.environ.get("LONGRUN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = int(os.environ.get("LONGRUN_API_WORKERS", "2"))
threads = int(os.environ.get("LONGRUN_API_THREADS", "64"))
# gthread's main loop heartbeats while threads serve long requests, so this is
# not a limit on a stream's length.
timeout = 120
graceful_timeout = 10
keepalive = 5

# Threads per worker kept free of event streams.
RESERVED_THREADS = 2


def post_worker_init(worker):
    from api import live

    if worker.cfg.worker_class_str == "gthread":
        live.PROCESS_STREAMS.limit = max(1, worker.cfg.threads - max(RESERVED_THREADS, worker.cfg.threads // 4))
