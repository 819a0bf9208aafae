"""Jobs that take files: check the uploads, store them, then submit.

A kind names its upload fields (``Kind.file_fields``) and what they must be
(``Kind.upload_type``). Each file is checked (size, type) before anything is
stored, written to the artifact store under ``<field><suffix>`` in the new
job's folder, and only then is the job recorded and published, with the
stored names in its input: files never travel through Redis. If the submit
fails, or turns out to be an idempotent replay, the stored files are removed.
"""

import hashlib
import json

from werkzeug.datastructures import FileStorage

from api import service
from longrun.errors import InvalidUpload, UploadTooLarge
from longrun.jobstore import new_job_id
from tasks.registry import KINDS


def read_upload(field: str, upload: FileStorage, limit: int) -> bytes:
    """The file's bytes; UploadTooLarge past ``limit`` (read no further than that)."""
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise UploadTooLarge(
            f"{field}: file is larger than {limit} bytes", details={field: [f"must be at most {limit} bytes"]}
        )
    if not data:
        raise InvalidUpload(f"{field}: file is empty", details={field: ["file is empty"]})
    return data


def checked_files(kind_name: str, files, limit: int) -> dict[str, bytes]:
    """The kind's uploads from a multipart form's files, each checked; 4xx naming the field."""
    kind = service.kind_or_error(kind_name)
    expected = set(kind.file_fields)
    unexpected = sorted(set(files or ()) - expected)
    if unexpected:
        what = f"takes the files {', '.join(kind.file_fields)}" if expected else "takes no files"
        raise InvalidUpload(
            f"kind {kind_name!r} {what}; unexpected: {', '.join(unexpected)}",
            details={name: ["unexpected file"] for name in unexpected},
        )
    missing = [name for name in kind.file_fields if not files or name not in files]
    if missing:
        raise InvalidUpload(
            f"missing file(s): {', '.join(missing)} (send multipart/form-data)",
            details={name: ["a file is required"] for name in missing},
        )
    contents = {}
    for name in kind.file_fields:
        data = read_upload(name, files[name], limit)
        if kind.upload_type:
            try:
                kind.upload_type.check(data)
            except ValueError as exc:
                raise InvalidUpload(f"{name}: {exc}", details={name: [str(exc)]}) from None
        contents[name] = data
    return contents


def upload_hash(payload: dict, contents: dict[str, bytes]) -> str:
    """A request hash for Idempotency-Key that does not depend on the multipart boundary."""
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode())
    for name in sorted(contents):
        digest.update(name.encode() + b"\0" + hashlib.sha256(contents[name]).digest())
    return digest.hexdigest()


def submit(
    svc,
    tenant: str,
    *,
    kind: str,
    input: dict,
    files,
    idempotency_key: str | None = None,
    original_names: bool = True,
    **options,
) -> tuple[dict, bool]:
    """Submit a job of a kind that takes files; returns (job document, newly created)."""
    contents = checked_files(kind, files, svc.settings.max_upload_bytes)
    suffix = upload_type.suffix if (upload_type := KINDS[kind].upload_type) else ""
    stored = {name: f"{name}{suffix}" for name in contents}
    job_input = {**input, **stored}
    service.validate_input(kind, job_input)  # before any file is written
    metadata = dict(options.pop("metadata", None) or {})
    if original_names:
        metadata.setdefault("uploads", {name: files[name].filename or stored[name] for name in contents})
    request_hash = upload_hash({"kind": kind, "input": input, "options": options}, contents)
    job_id = new_job_id()
    try:
        for name, data in contents.items():
            svc.artifacts.save(job_id, stored[name], data)
        job, created = service.submit(
            svc,
            tenant,
            kind=kind,
            input=job_input,
            job_id=job_id,
            files_stored=True,
            metadata=metadata,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            **options,
        )
    except BaseException:
        svc.artifacts.delete_job(job_id)
        raise
    if not created:  # a replay: the earlier job has its own copies
        svc.artifacts.delete_job(job_id)
    return job, created
