"""/docs: the API reference (Swagger UI over /openapi.json), rendered offline.

Swagger UI's files come from the ``swagger-ui-bundle`` package installed with
Longrun, so the page works on a host with no internet (the ReDoc page it
replaces loaded its script from a CDN and stayed blank there).
"""

from pathlib import Path

from flask import Blueprint, abort, make_response, render_template, send_from_directory
from swagger_ui_bundle import swagger_ui_path

bp = Blueprint("docs", __name__, template_folder="templates", static_folder=None)

ASSETS = Path(swagger_ui_path)
# Only what the page loads; the bundle also ships source maps and demo pages.
SERVED = frozenset(
    {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "favicon-32x32.png",
        "favicon-16x16.png",
    }
)
# Swagger UI sets inline styles on its own elements.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@bp.route("/docs")
def reference():
    response = make_response(render_template("console/docs.html"))
    response.headers["Content-Security-Policy"] = CSP
    return response


@bp.route("/docs/assets/<string:name>")
def asset(name: str):
    if name not in SERVED:
        abort(404)
    return send_from_directory(ASSETS, name, max_age=86400)
