"""The Celery side of Longrun: the app, its result backend, and the machinery
that runs a job (claim, progress, cancel, heartbeat, janitor)."""
