"""Longrun's worker app with the bench-only kind added:
``celery -A bench.longrun_worker worker`` (everything else as in production)."""

import bench.kinds  # noqa: F401  (registers jobs.bench_chatty)
from workers.celery_app import app  # noqa: F401  (the app celery -A finds)
