"""The job console at /console (server-rendered pages with small vanilla JS for
the live parts) and the offline API reference at /docs; see docs/console.md.

Every asset is served by Longrun itself (this package's static/ folder, and
Swagger UI from the ``swagger-ui-bundle`` package): nothing comes from the
internet and nothing needs a build step.
"""

from flask import Flask

from api.console import docs, session
from api.console.views import bp
from api.extensions import services


def init_app(app: Flask) -> None:
    svc = services(app)
    session.configure(
        app, session.SecretSource(svc.settings.console_secret, svc.store.redis), svc.settings.console_session_hours
    )
    # A signed-in browser may read the API's GET routes (events, logs, files) with its session.
    app.extensions["longrun.auth"].session_key = session.session_key
    app.register_blueprint(bp)
    app.register_blueprint(docs.bp)
