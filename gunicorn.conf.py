"""gunicorn settings for the API: ``gunicorn api.wsgi:app`` reads this file.

Worker class: gthread. Each open event stream (GET /jobs/{id}/events) holds
one thread for its lifetime, blocked in XREAD on Redis, so a worker gets many
threads, and ``post_worker_init`` caps open streams per process below the
thread count: the last RESERVED_THREADS threads of every worker always serve
ordinary requests, however many clients follow jobs. gthread needs no monkey
patching, so redis-py, kombu's publisher and Celery behave as everywhere else
(gevent would hold more idle streams per process, but patches sockets and
threads under every library we use). docs/live-events.md has the numbers.
Command-line flags (as the tests pass them) override what is set here.

keepalive: gunicorn closes an idle keep-alive connection after 2 s by default,
exactly the polling interval of the seed clients (000 and 001 poll every 2 s,
002 every 5-15 s): a client then races the close and sees "connection reset"
on a request it sent. Idle connections are kept longer than any seed's poll
interval and than common proxies' idle timeouts, so the client side closes
first. (gthread workers park idle connections in their poller; they hold no
thread.)
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
keepalive = 75

# Threads per worker kept free of event streams.
RESERVED_THREADS = 2


def post_worker_init(worker):
    from api import live

    if worker.cfg.worker_class_str == "gthread":
        live.PROCESS_STREAMS.limit = max(1, worker.cfg.threads - max(RESERVED_THREADS, worker.cfg.threads // 4))


def on_starting(server):
    # Requests gunicorn cannot parse answer the one JSON error body, not HTML.
    from api.gunicorn_errors import install

    install()
