"""The native batch routes are in /openapi.json with their schemas; the OpenAI ones are not
(their contract is OpenAI's)."""


def test_batch_routes_are_documented(client):
    spec = client.get("/openapi.json").get_json()
    paths = spec["paths"]
    for path in (
        "/api/v1/batches",
        "/api/v1/batches/{batch_id}",
        "/api/v1/batches/{batch_id}/cancel",
        "/api/v1/batches/{batch_id}/jobs",
        "/api/v1/batches/{batch_id}/results",
        "/api/v1/batches/{batch_id}/events",
    ):
        assert path in paths, path
    post = paths["/api/v1/batches"]["post"]
    assert ("202" in post["responses"] and "400" in post["responses"]) or "default" in post["responses"]
    schemas = spec["components"]["schemas"]
    assert set(schemas["BatchSubmit"]["properties"]) >= {
        "kind",
        "items",
        "priority",
        "timeout_seconds",
        "metadata",
        "webhook",
    }
    assert set(schemas["BatchCounts"]["properties"]) == {
        "total",
        "pending",
        "running",
        "completed",
        "failed",
        "cancelled",
    }
    assert "batch_id" in schemas["Job"]["properties"]
    assert not any(p.startswith("/v1/") for p in paths)
    kinds = [k["name"] for k in client.get("/api/v1/kinds").get_json()["kinds"]]
    assert "chat_completion" in kinds
