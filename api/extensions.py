"""Per-process services the routes use: the job store, artifact store and the
Celery publisher, created once by ``init_app`` and found through ``current_app``."""

import json
import re
from functools import partial

from flask import Flask, current_app
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import fields
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from api import json_limits
from longrun.artifacts import ArtifactStore
from longrun.jobstore import JobStore
from longrun.settings import Settings, get_settings
from longrun.webhooks import Dispatcher
from workers.publish import publish_webhook

EXTENSION = "longrun"


class Services:
    def __init__(self, settings: Settings, store: JobStore, artifacts: ArtifactStore, celery_app):
        self.settings = settings
        self.store = store
        self.artifacts = artifacts
        self.celery = celery_app


def init_app(app: Flask) -> None:
    settings = app.config.get("LONGRUN_SETTINGS")
    if settings is None:
        from workers.celery_app import app as celery_app

        settings = get_settings()
    else:  # a test or embedding app with its own Redis
        from workers.celery_app import make_celery

        celery_app = make_celery(settings)

    store = JobStore.from_settings(settings)
    # A cancel made here (a pending job) triggers the job's webhook too.
    store.on_transition = Dispatcher(store, partial(publish_webhook, celery_app))
    app.extensions[EXTENSION] = Services(
        settings=settings,
        store=store,
        artifacts=ArtifactStore(settings.artifacts_dir),
        celery_app=celery_app,
    )


def services(app: Flask | None = None) -> Services:
    return (app or current_app).extensions[EXTENSION]


INTEGER_TEXT = re.compile(r"^-?\d{1,18}$")


class Parser(FlaskParser):
    # Bad input is a 400 naming the field (webargs defaults to 422).
    DEFAULT_VALIDATION_STATUS = 400
    # A JSON body, or the fields of a multipart form (whose files the route takes itself).
    __location_map__ = dict(FlaskParser.__location_map__, json_or_multipart="load_json_or_multipart")

    def _raw_load_json(self, req):
        # The JSON body within json_limits (depth, integer size): a 400 naming the field, never a 500.
        if not is_json_request(req):
            return core.missing
        try:
            return json_limits.loads(req.get_data(cache=True))
        except UnicodeDecodeError as exc:
            raise json.JSONDecodeError(f"Bytes decoding error : {exc.reason}", doc="", pos=exc.start) from exc

    def load_json_or_multipart(self, req, schema):
        if req.mimetype != "multipart/form-data":
            return self.load_json(req, schema)
        # A form carries only text: the digits of an integer field are that integer
        # (JSON bodies stay strict: "2" is not an integer there).
        values = {name: req.form[name] for name in req.form}
        for name, field in schema.fields.items():
            raw = values.get(name)
            if isinstance(field, fields.Integer) and isinstance(raw, str) and INTEGER_TEXT.match(raw):
                values[name] = int(raw)
        return values


class Blueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = Parser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = dict(
        SmorestBlueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING, json_or_multipart="application/json"
    )


def make_api(app: Flask) -> Api:
    from api.errors import LongrunApi

    return LongrunApi(app)
