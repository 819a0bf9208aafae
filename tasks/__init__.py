"""Longrun's job kinds: schemas and plain functions.

``tasks.registry`` names every kind (its input schema from ``tasks.inputs``,
its files, and the dotted path of its work); ``tasks/<kind>.py`` holds the
plain function that does the work, given a ``longrun.job.Job``. No kind
imports Celery or the worker runtime: workers/kind_tasks.py wraps them.
"""
