"""Rules shared by the seed adapters: which jobs each seed's routes show,
the id forms they accept, and the one health endpoint."""

import io
import uuid

import pytest

from api import create_app


@pytest.fixture
def client(redis_factory, settings_for, api_headers):
    """An API on a Redis of its own with no worker: jobs stay pending, no model is called."""
    app = create_app({"TESTING": True, "LONGRUN_SETTINGS": settings_for(redis_factory().url)})
    with app.test_client() as test_client:
        test_client.environ_base["HTTP_AUTHORIZATION"] = api_headers["Authorization"]
        yield test_client


def test_each_seed_shows_its_own_kinds_and_seed_003_shows_every_job(client, datasheet_pdf, schematic_pdf):
    inference_id = client.post("/api/v1/task/inference", json={"input": "hi"}).get_json()["task_id"]
    codegen = client.post(
        "/api/v1/generate/async",
        content_type="multipart/form-data",
        data={
            "instruction": "init",
            "datasheet": (io.BytesIO(datasheet_pdf), "d.pdf"),
            "schematic": (io.BytesIO(schematic_pdf), "s.pdf"),
        },
    )
    codegen_id = codegen.get_json()["task_id"]

    # /api/v1/task/{id} (seed 004) and /api/v1/tasks/{id} (seed 002) do not show each other's jobs.
    assert client.get(f"/api/v1/task/{codegen_id}").status_code == 404
    assert client.get(f"/api/v1/tasks/{inference_id}").status_code == 404
    assert client.get(f"/task_status/{codegen_id}").status_code == 404
    assert client.get(f"/api/v2/chat/qa/task/{inference_id}/status").status_code == 404
    # Seed 003's /tasks/{id} shows any job; task_type is its kind.
    assert client.get(f"/tasks/{codegen_id}").get_json()["task_type"] == "codegen"
    assert client.get(f"/tasks/{inference_id}").get_json()["task_type"] == "inference"
    # The seed 002 list holds codegen jobs only; its stats count every job of the caller.
    listing = client.get("/api/v1/tasks?limit=100").get_json()
    assert [t["task_id"] for t in listing["tasks"]] == [codegen_id] and listing["total"] == 1
    assert listing["stats"]["total"] == 2 and listing["stats"]["queue_length"] == 1
    assert client.get("/list_tasks").get_json() == {
        "total": 0,
        "tasks": [],
        "status_summary": {"pending": 0, "running": 0, "completed": 0, "failed": 0},
    }


def test_every_id_form_names_the_same_job(client):
    task_id = client.post("/api/v1/task/inference", json={"input": "hi"}).get_json()["task_id"]
    core = uuid.UUID(task_id).hex
    for form in (task_id, core, f"task_{core}", core.upper()):
        assert client.get(f"/api/v1/task/{form}").get_json()["task_id"] == task_id, form
        assert client.get(f"/tasks/{form}").get_json()["task_id"] == core, form
    assert client.get(f"/api/v1/jobs/{core}").get_json()["kind"] == "inference"
    for bad in ("task_", "task_xyz", core[:-1], "../" + core):
        assert client.get(f"/tasks/{bad}").status_code == 404, bad


def test_one_health_endpoint_has_the_seed_and_core_fields(client):
    client.post("/api/v1/task/inference", json={"input": "hi"})
    response = client.get("/api/v1/health")
    body = response.get_json()
    assert {"status", "version", "tasks_count", "redis", "workers"} <= set(body)
    assert body["tasks_count"] == 1
    # No worker on this Redis: not ready, in both vocabularies.
    assert response.status_code == 503 and body["status"] == "unhealthy" and body["workers"] == 0


def test_a_polling_client_can_reuse_its_connection_after_a_pause(live_api, api_headers):
    """Seed clients poll every 2-15 s over one keep-alive connection (gunicorn.conf.py)."""
    import http.client
    import time
    from urllib.parse import urlsplit

    address = urlsplit(live_api.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        for _ in range(2):
            connection.request("GET", "/tasks/0123456789abcdef0123456789abcdef", headers=api_headers)
            response = connection.getresponse()
            assert response.status == 404 and b"detail" in response.read()
            time.sleep(3)  # longer than gunicorn's default keep-alive (2 s)
    finally:
        connection.close()
