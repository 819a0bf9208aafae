"""Tenant isolation on every batch and file route: another tenant's ids are 404s,
and lists show only one's own."""

import hashlib
import io
import json

import pytest

OTHER_KEY = "other-tenant-key-0123456789"


@pytest.fixture
def two_tenants(batch_stack, api_headers):
    own_key = api_headers["Authorization"].split(" ", 1)[1]
    api_keys = ",".join(
        f"{tenant}={hashlib.sha256(key.encode()).hexdigest()}"
        for tenant, key in (("default", own_key), ("other", OTHER_KEY))
    )
    return batch_stack(api_keys=api_keys), {"Authorization": f"Bearer {OTHER_KEY}"}


def line(custom_id):
    return (
        json.dumps(
            {
                "custom_id": custom_id,
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"messages": [{"role": "user", "content": "hi"}]},
            }
        )
        + "\n"
    )


def test_native_batch_routes_are_per_tenant(two_tenants):
    stack, other = two_tenants
    bid = stack.submit(items=[{"seconds": 0}] * 2).get_json()["id"]
    job_id = stack.client.get(f"/api/v1/batches/{bid}/jobs").get_json()["jobs"][0]["id"]
    client = stack.client

    for method, path in [
        ("get", ""),
        ("get", "/jobs"),
        ("get", "/results"),
        ("get", "/events"),
        ("post", "/cancel"),
        ("delete", ""),
    ]:
        response = getattr(client, method)(f"/api/v1/batches/{bid}{path}", headers=other)
        assert response.status_code == 404, (method, path, response.status_code)
        assert response.get_json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/batches", headers=other).get_json()["batches"] == []
    assert client.get(f"/api/v1/jobs/{job_id}", headers=other).status_code == 404
    # The owner still has all of it.
    assert client.get(f"/api/v1/batches/{bid}").get_json()["counts"]["pending"] == 2
    assert [b["id"] for b in client.get("/api/v1/batches").get_json()["batches"]] == [bid]


def test_openai_file_and_batch_routes_are_per_tenant(two_tenants):
    stack, other = two_tenants
    client = stack.client
    uploaded = client.post(
        "/v1/files",
        data={"purpose": "batch", "file": (io.BytesIO(line("a").encode()), "a.jsonl")},
        content_type="multipart/form-data",
    ).get_json()
    batch = client.post(
        "/v1/batches",
        json={"input_file_id": uploaded["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"},
    ).get_json()
    cancelled = client.post(f"/v1/batches/{batch['id']}/cancel").get_json()
    error_file = cancelled["error_file_id"]
    assert error_file

    for method, path in [
        ("get", f"/v1/files/{uploaded['id']}"),
        ("get", f"/v1/files/{uploaded['id']}/content"),
        ("delete", f"/v1/files/{uploaded['id']}"),
        ("get", f"/v1/batches/{batch['id']}"),
        ("post", f"/v1/batches/{batch['id']}/cancel"),
        ("get", f"/v1/files/{error_file}"),
        ("get", f"/v1/files/{error_file}/content"),
        ("delete", f"/v1/files/{error_file}"),
    ]:
        response = getattr(client, method)(path, headers=other)
        assert response.status_code == 404, (method, path, response.status_code)
        assert set(response.get_json()["error"]) == {"message", "type", "param", "code"}
    refused = client.post(
        "/v1/batches",
        headers=other,
        json={"input_file_id": uploaded["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"},
    )
    assert refused.status_code == 404
    assert client.get("/v1/files", headers=other).get_json()["data"] == []
    assert client.get("/v1/batches", headers=other).get_json()["data"] == []
    assert client.get(f"/v1/files/{uploaded['id']}").status_code == 200
    assert client.get(f"/v1/files/{error_file}/content").status_code == 200
    # A native route sees the OpenAI batch (one batch system); the OpenAI routes do not see native batches.
    assert client.get(f"/api/v1/batches/{batch['id']}").status_code == 200
    native = stack.submit(items=[{"seconds": 0}]).get_json()["id"]
    assert client.get(f"/v1/batches/{native}").status_code == 404


def test_openai_errors_use_openai_envelope(two_tenants):
    stack, _ = two_tenants
    unauthorized = stack.client.get("/v1/batches", headers={"Authorization": "Bearer nope"})
    assert unauthorized.status_code == 401
    assert unauthorized.get_json()["error"]["code"] == "invalid_api_key"
    bad = stack.client.post(
        "/v1/files",
        data={"purpose": "fine-tune", "file": (io.BytesIO(b"{}"), "x.jsonl")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400 and bad.get_json()["error"]["param"] == "purpose"
    assert stack.client.get("/v1/batches?limit=0").get_json()["error"]["type"] == "invalid_request_error"
