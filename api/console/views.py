"""The console's pages: sign-in, jobs, a job, submit, overview.

Every page reads and acts through the functions the API's routes call
(api.service, api.uploads, api.live, api.system), for the tenant of the
signed-in key, so it shows what the API says and refuses what the API refuses.
Its live parts (static/*.js) read the API's own GET routes with the session
cookie; every change goes through a form here that carries the CSRF token.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import redis
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from kombu.exceptions import OperationalError
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from api import service, uploads
from api.auth import DEFAULT_TENANT, find_key
from api.console import forms
from api.console import session as console_session
from api.errors import describe_fields
from api.extensions import services
from api.live import deliveries, redeliver
from api.schemas import STATUSES, JobSubmitSchema
from api.system import kind_documents
from longrun.errors import InvalidInput, JobNotFound, LongrunError, ServiceUnavailable
from longrun.states import JobStatus

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

PAGE_SIZE = 25
RETRY_RULES = frozenset({"/api/v1/jobs/<string:job_id>/retry", "/api/v1/jobs/<job_id>/retry"})
# Pages anyone may open: the sign-in form and the assets it needs.
OPEN_ENDPOINTS = frozenset({"console.static", "console.sign_in"})
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def auth_enabled() -> bool:
    return current_app.extensions["longrun.auth"].enabled


def signed_in_tenant() -> str | None:
    if not auth_enabled():
        return DEFAULT_TENANT
    key = console_session.session_key(current_app.extensions["longrun.auth"].keys)
    return key.tenant if key else None


@bp.before_request
def guard():
    if g.get("api_key") is not None:
        # The request itself presented a valid API key (a script, not a browser
        # session): it acts for that key's tenant, and no other site can forge
        # a header, so it needs no CSRF token.
        return None
    if request.method not in ("GET", "HEAD") and not console_session.csrf_ok():
        return render_template(
            "console/error.html",
            title="Refused",
            message="This form did not come with this console session's CSRF token, so "
            "nothing was changed. Reload the page and try again.",
        ), 403
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    tenant = signed_in_tenant()
    if tenant is None:
        if request.path.endswith("/rows") or request.path.endswith("/panel"):
            abort(401)
        return redirect(url_for("console.sign_in", next=request.full_path.rstrip("?")))
    g.tenant = tenant
    return None


@bp.after_request
def security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(LongrunError)
def longrun_error(error: LongrunError):
    retry_after = getattr(error, "retry_after", None)  # 503 and 429 say when to come back
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    title = {404: "Not found", 410: "Expired", 503: "Unavailable"}.get(error.status, "Error")
    return render_template("console/error.html", title=title, message=error.message), error.status, headers


@bp.errorhandler(redis.RedisError)
@bp.errorhandler(OperationalError)
def infrastructure_error(error):
    return longrun_error(ServiceUnavailable("a backing service (Redis) is unreachable; try again shortly"))


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException):
    return render_template("console/error.html", title=error.name, message=error.description), error.code


@bp.app_context_processor
def template_globals():
    return {
        "csrf_token": console_session.csrf_token,
        "auth_enabled": auth_enabled,
        "STATUSES": STATUSES,
        "retry_available": retry_endpoint() is not None,
    }


@bp.app_template_filter("when")
def when(value: str | None) -> str:
    """ISO 8601 -> "2026-12-01 20:55:12 UTC" (the full value stays in <time datetime>)."""
    return value.replace("T", " ").split(".")[0].removesuffix("Z") + " UTC" if value else "—"


@bp.app_template_filter("pretty")
def pretty(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


@bp.app_template_filter("age")
def age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def retry_endpoint() -> str | None:
    """The API's retry route, once it exists (POST /api/v1/jobs/<id>/retry)."""
    for rule in current_app.url_map.iter_rules():
        if rule.rule in RETRY_RULES and "POST" in (rule.methods or ()):
            return rule.endpoint
    return None


def safe_next(target: str | None) -> str:
    """Only a path inside the console: no open redirect through ?next=."""
    parts = urlsplit(target or "")
    if not target or parts.scheme or parts.netloc or not parts.path.startswith("/console"):
        return url_for("console.jobs")
    return target


# -- signing in -------------------------------------------------------------------------


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    if not auth_enabled():
        return redirect(url_for("console.jobs"))
    if request.method == "GET":
        console_session.csrf_token()  # the form's token, in a session of its own
        return render_template("console/sign_in.html", next=request.args.get("next", ""), error=None)
    presented = (request.form.get("api_key") or "").strip()
    key = find_key(presented, current_app.extensions["longrun.auth"].keys) if presented else None
    if key is None:
        return render_template(
            "console/sign_in.html",
            next=request.form.get("next", ""),
            error="That API key is not valid. Check it and try again.",
        ), 401
    console_session.sign_in(key)
    return redirect(safe_next(request.form.get("next")), 303)


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    console_session.sign_out()
    return redirect(url_for("console.sign_in") if auth_enabled() else url_for("console.jobs"), 303)


# -- jobs -------------------------------------------------------------------------------


def list_filters() -> dict:
    status = request.args.get("status") or None
    kind = request.args.get("kind") or None
    cursor = request.args.get("cursor") or None
    if status not in (None, *STATUSES):
        raise InvalidInput(f"unknown status {status!r}")
    if kind is not None:
        service.kind_or_error(kind)
    if cursor is not None and not (cursor.isdigit() and len(cursor) <= 20):
        raise InvalidInput("the page cursor must be digits")
    return {"status": status, "kind": kind, "cursor": cursor}


def kinds() -> list[dict]:
    """GET /api/v1/kinds' documents, built once per process (the registry is fixed at start)."""
    cached = current_app.extensions.get("longrun.console.kinds")
    if cached is None:
        cached = current_app.extensions["longrun.console.kinds"] = kind_documents()
    return cached


def jobs_page() -> dict:
    filters = list_filters()
    page = service.list_jobs(services(), g.tenant, limit=PAGE_SIZE, **filters)
    return {**page, "filters": filters, "kinds": [k["name"] for k in kinds()]}


@bp.route("")
@bp.route("/")
def jobs():
    query = (request.args.get("q") or "").strip()
    if query:
        try:
            service.get(services(), g.tenant, query)
        except JobNotFound:
            flash(f"No job with id {query} was found.", "error")
        else:
            return redirect(url_for("console.job", job_id=query))
    return render_template("console/jobs.html", **jobs_page(), query=query)


@bp.route("/jobs/rows")
def job_rows():
    """The jobs page's counts, rows and pager, which the list page polls to stay live."""
    return render_template("console/_jobs_live.html", **jobs_page())


def job_context(job_id: str) -> dict:
    svc = services()
    job = service.get(svc, g.tenant, job_id)
    return {
        "job": job,
        "artifacts": service.artifact_names(svc, g.tenant, job_id),
        "deliveries": deliveries(svc, g.tenant, job_id),
    }


@bp.route("/jobs/<string:job_id>")
def job(job_id: str):
    return render_template("console/job.html", **job_context(job_id))


@bp.route("/jobs/<string:job_id>/panel")
def job_panel(job_id: str):
    """Result, error, files and webhooks, which the job page fetches again when the job ends."""
    return render_template("console/_job_panel.html", **job_context(job_id))


@bp.route("/jobs/<string:job_id>/cancel", methods=["POST"])
def cancel(job_id: str):
    try:
        job = service.cancel(services(), g.tenant, job_id)
    except JobNotFound:
        raise
    except LongrunError as exc:
        flash(exc.message, "error")
    else:
        flash(
            "Cancelled." if job["status"] == JobStatus.CANCELLED else "Cancel requested: the job stops shortly.", "info"
        )
    return redirect(url_for("console.job", job_id=job_id), 303)


@bp.route("/jobs/<string:job_id>/delete", methods=["POST"])
def delete(job_id: str):
    service.delete(services(), g.tenant, job_id)
    flash(f"Job {job_id} was deleted.", "info")
    return redirect(url_for("console.jobs"), 303)


@bp.route("/jobs/<string:job_id>/retry", methods=["POST"])
def retry(job_id: str):
    """Through the API's own retry route (built elsewhere): shown only when it exists."""
    endpoint = retry_endpoint()
    if endpoint is None:
        abort(404)
    service.get(services(), g.tenant, job_id)  # not found for other tenants, before anything
    view: Any = current_app.view_functions[endpoint]
    response = current_app.make_response(view(job_id=job_id))
    body = response.get_json(silent=True) or {}
    if response.status_code >= 400:
        flash((body.get("error") or {}).get("message") or "The job could not be retried.", "error")
        return redirect(url_for("console.job", job_id=job_id), 303)
    flash("Retried.", "info")
    return redirect(url_for("console.job", job_id=body.get("id") or job_id), 303)


@bp.route("/jobs/<string:job_id>/webhooks/<string:delivery_id>/redeliver", methods=["POST"])
def redeliver_webhook(job_id: str, delivery_id: str):
    redeliver(services(), g.tenant, job_id, delivery_id)
    flash("The delivery was queued again.", "info")
    return redirect(url_for("console.job", job_id=job_id) + "#webhooks", 303)


# -- submit -----------------------------------------------------------------------------


@bp.route("/submit")
def submit_index():
    return render_template("console/submit_index.html", kinds=kinds())


def kind_document(name: str) -> dict:
    for kind in kinds():
        if kind["name"] == name:
            return kind
    raise JobNotFound(f"there is no job kind {name!r}")


@bp.route("/submit/<string:kind_name>", methods=["GET", "POST"])
def submit(kind_name: str):
    kind = kind_document(kind_name)
    fields = forms.fields_for(kind)
    if request.method == "GET":
        return render_template("console/submit.html", kind=kind, fields=fields, values={}, error=None, details={})
    try:
        body = forms.payload_from(request.form, fields)
        try:
            payload = JobSubmitSchema().load({"kind": kind_name, **body})
        except ValidationError as exc:  # as the API words it (api.errors)
            messages = exc.normalized_messages()
            raise InvalidInput(f"invalid input: {describe_fields(messages)}", details=messages) from None
        svc = services()
        if kind["file_fields"]:
            files = {name: f for name, f in request.files.items() if f.filename}
            job, _ = uploads.submit(svc, g.tenant, files=files, **payload)
        else:
            job, _ = service.submit(svc, g.tenant, **payload)
    except forms.FormError as exc:
        return render_form_error(kind, fields, f"invalid input: {exc}", exc.details)
    except InvalidInput as exc:
        return render_form_error(kind, fields, exc.message, exc.details)
    except LongrunError as exc:
        if exc.status >= 500 or exc.status == 404:
            raise
        return render_form_error(kind, fields, exc.message, exc.details, exc.status)
    return redirect(url_for("console.job", job_id=job["id"]), 303)


def render_form_error(kind, fields, message: str, details: dict, status: int = 400):
    flat = {}
    for name, value in (details or {}).items():
        if name == "input" and isinstance(value, dict):
            flat.update({f"input.{k}": v for k, v in value.items()})
        else:
            flat[name] = value
    messages = {name: (v[0] if isinstance(v, list) and v else str(v)) for name, v in flat.items()}
    return render_template(
        "console/submit.html", kind=kind, fields=fields, values=request.form, error=message, details=messages
    ), status


# -- overview ---------------------------------------------------------------------------


@bp.route("/overview")
def overview():
    return render_template("console/overview.html", **service.overview(services(), g.tenant))


@bp.route("/overview/panel")
def overview_panel():
    return render_template("console/_overview_panel.html", **service.overview(services(), g.tenant))


def signed_in_label() -> str:
    return session.get("tenant") or DEFAULT_TENANT
