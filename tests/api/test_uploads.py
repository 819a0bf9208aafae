"""Multipart submission of kinds that take files (api/uploads.py), shown with codegen.

Files are checked before anything is stored, stored before the job is
published, and deleted with the job.
"""

import io
import json
import os
from pathlib import Path

import pytest

from api import create_app


@pytest.fixture
def idle_redis_url(redis_factory):
    return redis_factory().url  # no worker: jobs stay pending and never call a model


@pytest.fixture
def client(idle_redis_url, settings_for, api_headers):
    app = create_app({"TESTING": True, "LONGRUN_SETTINGS": settings_for(idle_redis_url)})
    with app.test_client() as test_client:
        test_client.environ_base["HTTP_AUTHORIZATION"] = api_headers["Authorization"]
        yield test_client


def form(datasheet: bytes, schematic: bytes, **extra) -> dict:
    return {
        "kind": "codegen",
        "input": json.dumps({"instruction": "init the touch keys"}),
        "datasheet": (io.BytesIO(datasheet), "BF7615CMXX.pdf"),
        "schematic": (io.BytesIO(schematic), "Schematic Prints.pdf"),
        **extra,
    }


def job_dirs() -> set[str]:
    """Job folders holding uploads (other tests' jobs may write other files meanwhile)."""
    root = Path(os.environ["LONGRUN_ARTIFACTS_DIR"])
    if not root.exists():
        return set()
    return {p.name for p in root.iterdir() if (p / "datasheet.pdf").exists() or (p / "schematic.pdf").exists()}


def test_uploads_are_stored_before_publishing_and_deleted_with_the_job(client, datasheet_pdf, schematic_pdf):
    response = client.post(
        "/api/v1/jobs", data=form(datasheet_pdf, schematic_pdf, priority="3"), content_type="multipart/form-data"
    )
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert job["kind"] == "codegen" and job["priority"] == 3
    assert job["metadata"]["uploads"] == {"datasheet": "BF7615CMXX.pdf", "schematic": "Schematic Prints.pdf"}
    names = client.get(f"/api/v1/jobs/{job['id']}/artifacts").get_json()["artifacts"]
    assert {"datasheet.pdf", "schematic.pdf"} <= set(names)
    stored = client.get(f"/api/v1/jobs/{job['id']}/artifacts/datasheet.pdf")
    assert stored.data == datasheet_pdf
    stored.close()
    assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 204
    assert job["id"] not in job_dirs()


@pytest.mark.parametrize("bad", [b"just some text, not a pdf" * 20, b"%PDF-1.4\ngarbage\n%%EOF"])
def test_a_file_that_is_not_a_pdf_is_a_400_naming_the_field(client, datasheet_pdf, bad):
    before = job_dirs()
    response = client.post("/api/v1/jobs", data=form(datasheet_pdf, bad), content_type="multipart/form-data")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"]["code"] == "invalid_upload" and "schematic" in body["error"]["details"]
    assert job_dirs() == before  # nothing was stored


def test_a_missing_file_or_a_json_body_is_a_400(client, datasheet_pdf):
    data = form(datasheet_pdf, b"")
    del data["schematic"]
    response = client.post("/api/v1/jobs", data=data, content_type="multipart/form-data")
    assert response.status_code == 400 and "schematic" in response.get_json()["error"]["details"]
    response = client.post("/api/v1/jobs", json={"kind": "codegen", "input": {"instruction": "x"}})
    assert response.status_code == 400 and "multipart/form-data" in response.get_json()["error"]["message"]


def test_input_that_is_not_json_is_a_400(client, datasheet_pdf, schematic_pdf):
    data = form(datasheet_pdf, schematic_pdf)
    data["input"] = "{not json"
    response = client.post("/api/v1/jobs", data=data, content_type="multipart/form-data")
    assert response.status_code == 400 and "input" in response.get_json()["error"]["details"]


def test_a_file_over_the_limit_is_a_413(settings_for, idle_redis_url, api_headers, datasheet_pdf, schematic_pdf):
    app = create_app(
        {"TESTING": True, "LONGRUN_SETTINGS": settings_for(idle_redis_url, max_upload_bytes=len(datasheet_pdf) - 1)}
    )
    before = job_dirs()
    with app.test_client() as small:
        response = small.post(
            "/api/v1/jobs",
            data=form(datasheet_pdf, schematic_pdf),
            headers=api_headers,
            content_type="multipart/form-data",
        )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"
    assert "datasheet" in response.get_json()["error"]["details"]
    assert job_dirs() == before


def test_an_idempotent_replay_returns_the_same_job_and_keeps_no_second_copy(client, datasheet_pdf, schematic_pdf):
    before = job_dirs()
    headers = {"Idempotency-Key": "codegen-upload-replay-1"}
    first = client.post(
        "/api/v1/jobs", data=form(datasheet_pdf, schematic_pdf), headers=headers, content_type="multipart/form-data"
    )
    again = client.post(
        "/api/v1/jobs", data=form(datasheet_pdf, schematic_pdf), headers=headers, content_type="multipart/form-data"
    )
    other = client.post(
        "/api/v1/jobs", data=form(schematic_pdf, datasheet_pdf), headers=headers, content_type="multipart/form-data"
    )
    assert first.status_code == 202 and again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert other.status_code == 409  # the same key with other files
    assert job_dirs() - before == {first.get_json()["id"]}
    client.delete(f"/api/v1/jobs/{first.get_json()['id']}")
