"""Artifact names that could leave the job's folder are 404, on the real route,
in-process and through gunicorn (raw HTTP, so no client tidies the path)."""

import http.client

import pytest

from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

# As they appear in the URL after /artifacts/.
HOSTILE_NAMES = [
    "../x",
    "..%2fx",
    "%2e%2e/x",
    "%2e%2e%2fx",
    "%2E%2E%2F%2E%2E%2Fsecret.txt",
    "..",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "....//secret.txt",
    "..\\secret.txt",
    "..%5csecret.txt",
    "%00out.txt",
    "out.txt%00",
    ".out.txt.part",
    "out.txt/..",
    "sub/out.txt",
    "%252e%252e%252fsecret.txt",
]


@pytest.fixture(scope="module")
def job_with_file(app, worker, api_headers):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = api_headers["Authorization"]
    job = client.post("/api/v1/jobs", json={"kind": "sleep", "input": {"seconds": 0}}).get_json()
    wait_until(
        lambda: client.get(f"/api/v1/jobs/{job['id']}").get_json()["status"] == "completed",
        timeout=30,
        message="the job",
    )
    artifacts = app.extensions["longrun"].artifacts
    artifacts.save(job["id"], "out.txt", b"the job's file")
    # Files a traversal would reach: beside the job's folder and above it.
    (artifacts.root / "secret.txt").write_bytes(b"another job's secret")
    (artifacts.root / "x").write_bytes(b"another job's secret")
    return job["id"]


def test_a_plain_name_downloads_the_file(client, job_with_file):
    with client.get(f"/api/v1/jobs/{job_with_file}/artifacts/out.txt") as response:
        assert response.status_code == 200
        assert response.data == b"the job's file"


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_name_that_could_leave_the_jobs_folder_is_404(client, job_with_file, name):
    with client.get(f"/api/v1/jobs/{job_with_file}/artifacts/{name}") as response:
        assert response.status_code == 404
        assert b"job's secret" not in response.data and b"root:x:" not in response.data


def test_through_gunicorn_no_hostile_name_reaches_a_file(live_api, job_with_file, api_headers):
    conn = http.client.HTTPConnection("127.0.0.1", live_api.port, timeout=10)
    statuses = {}
    try:
        for name in ["out.txt", *HOSTILE_NAMES]:
            conn.request("GET", f"/api/v1/jobs/{job_with_file}/artifacts/{name}", headers=api_headers)
            response = conn.getresponse()
            body = response.read()
            statuses[name] = response.status
            assert b"job's secret" not in body and b"root:x:" not in body, name
    finally:
        conn.close()

    assert statuses.pop("out.txt") == 200
    # 404 from the route, or 400 where the HTTP server refuses the request line itself.
    assert set(statuses.values()) <= {404, 400}, statuses
    assert statuses["%2e%2e/x"] == 404 and statuses["/etc/passwd"] == 404
