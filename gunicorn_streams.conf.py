"""gunicorn settings for the event-stream server: ``gunicorn api.wsgi:app -c gunicorn_streams.conf.py``.

The same Flask app as the API (same auth, tenant checks, Last-Event-ID resume,
per-tenant stream cap), served by a gevent worker: an open stream
(GET /api/v1/jobs/{id}/events) is a greenlet blocked in XREAD, a few tens of
KB, instead of one of the gthread API's threads. One process holds thousands
(bench/streams.py measures it), and ordinary requests stay on the gthread API,
which a proxy in front routes everything else to (docs/live-events.md, "Many
open streams"). gevent patches sockets and threads only in this process: the
API's publisher and the workers run unpatched, as everywhere else.
"""

import os

bind = os.environ.get("LONGRUN_STREAMS_BIND", "0.0.0.0:8001")
worker_class = "gevent"
workers = int(os.environ.get("LONGRUN_STREAMS_WORKERS", "1"))
# Open connections per worker process (each stream is one).
worker_connections = int(os.environ.get("LONGRUN_STREAMS_CONNECTIONS", "4000"))
timeout = 120
graceful_timeout = 10
keepalive = 75
