"""Longrun's core: the pieces shared by the API and the workers.

Nothing here imports Flask; only ``longrun.jobstore`` talks to Redis. The API
(``api/``) and the Celery side (``workers/``, ``tasks/``) are built on top.
"""

__version__ = "0.1.0"
