"""/api/v1/jobs: submit, follow, cancel, delete and list jobs."""

import re

from flask import request, send_file, url_for
from flask.views import MethodView
from werkzeug.routing import BaseConverter

from api import service, uploads
from api.auth import current_tenant
from api.extensions import Blueprint, services
from api.fastdump import compile_dump, json_response
from api.schemas import (
    ArtifactListSchema,
    ClearedSchema,
    ClearQuerySchema,
    JobListQuerySchema,
    JobListSchema,
    JobSchema,
    JobSubmitSchema,
    ReplayRequestSchema,
    ReplaySchema,
    ResultSchema,
)
from longrun.errors import InvalidInput
from longrun.jobstore import body_hash
from longrun.states import JobStatus

blp = Blueprint("jobs", __name__, url_prefix="/api/v1/jobs", description="Submit and follow jobs.")


class JobIdConverter(BaseConverter):
    """A job id in ``/api/v1/jobs/<id>``: any path segment but "retry", which is the bulk
    replay's own route (so that OPTIONS /api/v1/jobs/retry lists only its methods)."""

    regex = r"(?!retry$)[^/]+"


def register_converters(app, api) -> None:
    app.url_map.converters["job_id"] = JobIdConverter
    api.register_converter(JobIdConverter, lambda converter: {"type": "string"})


MAX_PREFER_WAIT = 60
# GET /jobs/{id} is the hottest read: its JobSchema dump compiled once (same output).
DUMP_JOB = compile_dump(JobSchema())
PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait=(\d+)")
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def prefer_wait() -> int:
    match = PREFER_WAIT.search(request.headers.get("Prefer", ""))
    return min(int(match.group(1)), MAX_PREFER_WAIT) if match else 0


def idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise InvalidInput(
            "Idempotency-Key must be 1-255 visible ASCII characters",
            details={"Idempotency-Key": ["must be 1-255 visible ASCII characters"]},
        )
    return key


def location(job_id: str) -> dict:
    return {"Location": url_for("jobs.Job", job_id=job_id)}


@blp.route("")
class Jobs(MethodView):
    # An instance, not the class: webargs would build a new schema for every request.
    @blp.arguments(JobSubmitSchema(), location="json_or_multipart")
    @blp.response(202, JobSchema)
    @blp.alt_response(200, schema=JobSchema, description="Finished within Prefer: wait=N, or an idempotent replay.")
    def post(self, payload):
        """Submit a job; answers at once with its id (202 + Location).

        Kinds that take files (``file_fields`` in GET /api/v1/kinds) are sent as
        multipart/form-data: ``kind``, ``input`` (a JSON string), optional
        ``priority`` / ``timeout_seconds``, and one file per file field.
        """
        svc = services()
        tenant = current_tenant()
        if request.mimetype == "multipart/form-data":
            job, created = uploads.submit(
                svc, tenant, files=request.files, idempotency_key=idempotency_key(), **payload
            )
        else:
            job, created = service.submit(
                svc, tenant, idempotency_key=idempotency_key(), request_hash=body_hash(request.get_data()), **payload
            )
        wait = prefer_wait()
        if wait and not JobStatus(job["status"]).is_final:
            job = service.wait(svc, tenant, job["id"], wait)
        headers = location(job["id"])
        if wait:
            headers["Preference-Applied"] = f"wait={wait}"
        finished = JobStatus(job["status"]).is_final
        return job, 200 if finished or not created else 202, headers

    @blp.arguments(JobListQuerySchema, location="query")
    @blp.response(200, JobListSchema)
    def get(self, query):
        """List jobs, newest first, with counts per status and queue lengths."""
        return service.list_jobs(services(), current_tenant(), **query)

    @blp.arguments(ClearQuerySchema, location="query")
    @blp.response(200, ClearedSchema)
    def delete(self, query):
        """Delete every finished job in one status (completed, failed or cancelled)."""
        return {"deleted": service.clear(services(), current_tenant(), query["status"])}


@blp.route("/retry")
class JobsRetry(MethodView):
    @blp.arguments(ReplayRequestSchema)
    @blp.response(202, ReplaySchema, description="Replay under way; follow it at Location.")
    @blp.alt_response(200, schema=ReplaySchema, description="Every matching job was retried already.")
    def post(self, body):
        """Bulk replay: retry every job of yours that matches the filter.

        ``statuses`` (default failed), ``kind``, and ``finished_after`` /
        ``finished_before``: a time bound is required unless ``"all": true``.
        Short replays are done within the request (200); longer ones go on in
        the background (202 + Location of the replay's progress).
        """
        replay = service.retry_many(services(), current_tenant(), **body)
        headers = {"Location": url_for("jobs.JobsReplay", replay_id=replay["id"])}
        return replay, 200 if replay["status"] == "done" else 202, headers


@blp.route("/retry/<string:replay_id>")
class JobsReplay(MethodView):
    @blp.response(200, ReplaySchema)
    def get(self, replay_id):
        """A bulk replay's progress: jobs looked at, retried, not retried."""
        return service.get_replay(services(), current_tenant(), replay_id)


@blp.route("/<job_id:job_id>")
class Job(MethodView):
    @blp.response(200, JobSchema)
    def get(self, job_id):
        """The job's status, progress and (when completed) result."""
        return json_response(DUMP_JOB(service.get(services(), current_tenant(), job_id)))

    @blp.response(204)
    def delete(self, job_id):
        """Delete the job, its result and its files; a running job is cancelled."""
        service.delete(services(), current_tenant(), job_id)


@blp.route("/<string:job_id>/result")
class JobResult(MethodView):
    @blp.response(200, ResultSchema)
    def get(self, job_id):
        """The result of a completed job (409 while it is not finished)."""
        job = service.result(services(), current_tenant(), job_id)
        return {"id": job["id"], "kind": job["kind"], "result": job["result"]}


@blp.route("/<string:job_id>/retry")
class JobRetry(MethodView):
    @blp.response(202, JobSchema, description="The new job (retried_from names this one); Location is its URL.")
    def post(self, job_id):
        """Retry a failed, cancelled or completed job as a new job: same kind, input,
        priority, timeout and metadata, its files shared (409 while it is pending or running)."""
        job = service.retry(services(), current_tenant(), job_id)
        return job, 202, location(job["id"])


@blp.route("/<string:job_id>/cancel")
class JobCancel(MethodView):
    @blp.response(200, JobSchema, description="Cancelled (it was still pending).")
    @blp.alt_response(202, schema=JobSchema, description="Cancel requested; the running job stops shortly.")
    def post(self, job_id):
        """Cancel: a pending job never starts; a running job is stopped."""
        job = service.cancel(services(), current_tenant(), job_id)
        return job, 200 if job["status"] == "cancelled" else 202


@blp.route("/<string:job_id>/artifacts")
class JobArtifacts(MethodView):
    @blp.response(200, ArtifactListSchema)
    def get(self, job_id):
        """Names of the files the job took in or produced."""
        return {"artifacts": service.artifact_names(services(), current_tenant(), job_id)}


@blp.route("/<string:job_id>/artifacts/<path:name>")
class JobArtifact(MethodView):
    @blp.response(200, description="The file.", content_type="application/octet-stream")
    def get(self, job_id, name):
        """Download one of the job's files."""
        path = service.artifact_path(services(), current_tenant(), job_id, name)
        return send_file(path, as_attachment=True, download_name=path.name)
