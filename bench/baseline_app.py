"""Bare Flask baselines, served by the same gunicorn command as the API:
``gunicorn bench.baseline_app:app``.

- ``GET /hello``: a hello-world JSON answer (the ceiling of Flask on gunicorn here);
- ``POST /submit``: only ``apply_async`` of the raw no-op task (no validation, no job record);
- ``GET /state/<id>``: only ``AsyncResult(id).state``.
"""

import uuid

from celery.result import AsyncResult
from flask import Flask

from bench.raw_celery import app as celery_app
from bench.raw_celery import noop

app = Flask(__name__)


@app.get("/hello")
def hello():
    return {"hello": "world"}


@app.post("/submit")
def submit():
    task_id = uuid.uuid4().hex
    noop.apply_async(args=[task_id], task_id=task_id)
    return {"id": task_id}, 202


@app.get("/state/<task_id>")
def state(task_id):
    return {"id": task_id, "state": AsyncResult(task_id, app=celery_app).state}
