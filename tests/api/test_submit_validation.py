"""Bad submissions are 400s that name the field; nothing is enqueued for them."""

import pytest


@pytest.mark.parametrize(
    "body, field",
    [
        ({"input": {}}, "kind"),
        ({"kind": "no-such-kind"}, "kind"),
        ({"kind": "sleep", "input": {"seconds": "soon"}}, "input"),
        ({"kind": "sleep", "input": {"steps": 0}}, "input"),
        ({"kind": "sleep", "input": {"unexpected": 1}}, "input"),
        ({"kind": "sleep", "priority": 10}, "priority"),
        ({"kind": "sleep", "priority": -1}, "priority"),
        ({"kind": "sleep", "timeout_seconds": 0}, "timeout_seconds"),
        ({"kind": "sleep", "timeout_seconds": 10**9}, "timeout_seconds"),
        ({"kind": "sleep", "input": []}, "input"),
    ],
)
def test_bad_submission_is_400_naming_the_field(client, body, field):
    response = client.post("/api/v1/jobs", json=body)

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert field in error["details"]
    assert field in error["message"]


def test_unknown_kind_lists_the_known_kinds(client):
    error = client.post("/api/v1/jobs", json={"kind": "nope"}).get_json()["error"]

    assert error["code"] == "unknown_kind"
    assert "sleep" in error["message"]


def test_body_that_is_not_json_is_400(client):
    response = client.post("/api/v1/jobs", data="{not json", content_type="application/json")

    assert response.status_code == 400
    assert set(response.get_json()["error"]) == {"code", "message", "details"}


def test_bad_idempotency_key_is_400(client):
    response = client.post("/api/v1/jobs", json={"kind": "sleep"}, headers={"Idempotency-Key": "a" * 300})

    assert response.status_code == 400
    assert "Idempotency-Key" in response.get_json()["error"]["details"]


@pytest.mark.parametrize("query", ["status=bogus", "limit=0", "limit=1000", "cursor=abc"])
def test_bad_list_query_is_400(client, query):
    assert client.get(f"/api/v1/jobs?{query}").status_code == 400


def test_bulk_clear_of_unfinished_status_is_400(client):
    assert client.delete("/api/v1/jobs?status=running").status_code == 400
