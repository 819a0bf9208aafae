"""The HTTP API: a Flask app factory, served by gunicorn as ``api.wsgi:app``."""

from typing import cast

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from longrun import __version__


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    # "/artifacts//etc/passwd" is a 404, not a redirect to a tidied path.
    app.url_map.merge_slashes = False
    app.config.from_mapping(
        API_TITLE="Longrun",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        # /docs is served by api.console.docs from installed assets (no CDN).
    )
    if test_config:
        app.config.update(test_config)

    from api.json_limits import LimitedJSONProvider

    app.json = LimitedJSONProvider(app)  # every JSON body within the depth and integer limits
    cast(DefaultJSONProvider, app.json).sort_keys = False  # Flask's default provider has it

    from api import (
        auth,
        batches,
        errors,
        extensions,
        jobs,
        limits,
        live,
        metrics,
        openai_batch,
        openapi,
        schedules,
        system,
    )

    extensions.init_app(app)
    settings = extensions.services(app).settings
    auth.init_app(app, settings)
    limits.configure(app, settings)
    app.config.setdefault("API_SPEC_OPTIONS", openapi.SPEC_OPTIONS)
    api = extensions.make_api(app)
    errors.init_app(app)
    jobs.register_converters(app, api)
    api.register_blueprint(jobs.blp)
    api.register_blueprint(system.blp)
    api.register_blueprint(live.blp)
    api.register_blueprint(metrics.blp)
    api.register_blueprint(schedules.blp)
    api.register_blueprint(batches.blp)
    openai_batch.register(app)  # /v1/files, /v1/batches: OpenAI's contract, outside /openapi.json
    from api import compat  # the older systems' APIs (docs/compatibility.md)

    compat.register(app)
    from api import console  # the job console (/console) and the offline /docs

    console.init_app(app)
    openapi.init_api(api, settings)  # keep last: documents every registered route
    return app
