"""Benchmarks: Longrun's overhead against raw Celery and bare Flask, measured
side by side in one run (``python -m bench``; see docs/benchmarks.md)."""
