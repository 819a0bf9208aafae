"""Longrun's core: what the API and the workers share.

Settings, Redis keys and job states (named once here), the one error tree,
the job store and the Lua scripts it runs, event streams, webhooks, per-job
logs, artifacts, metrics, PDFs, the URL rules, and the ``Job`` context a kind's
function receives. Nothing here imports Flask or Celery, nor anything of ours
outside ``longrun``: ``backends/``, ``tasks/``, ``workers/`` and ``api/`` are
built on top (tests/worker/test_import_layers.py checks it).
"""

__version__ = "0.1.0"
