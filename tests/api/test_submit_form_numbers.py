"""A multipart submit carries priority and timeout_seconds as form text, which
is read as numbers there; a JSON body still needs real JSON numbers."""

import io
import json

import pytest


def form(datasheet, schematic, **extra):
    return {
        "kind": "codegen",
        "input": json.dumps({"instruction": "blink"}),
        "datasheet": (io.BytesIO(datasheet), "a.pdf"),
        "schematic": (io.BytesIO(schematic), "b.pdf"),
        **extra,
    }


@pytest.mark.integration
def test_form_numbers_are_read_from_their_text(client, worker, datasheet_pdf, schematic_pdf):
    response = client.post(
        "/api/v1/jobs",
        data=form(datasheet_pdf, schematic_pdf, priority="3", timeout_seconds="60"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert (job["priority"], job["timeout_seconds"]) == (3, 60)
    assert client.post(f"/api/v1/jobs/{job['id']}/cancel").status_code in (200, 202)


@pytest.mark.parametrize("priority", ["x", "2.5", "", "10"])
def test_a_form_number_that_is_not_one_is_a_400_naming_it(client, datasheet_pdf, schematic_pdf, priority):
    response = client.post(
        "/api/v1/jobs", data=form(datasheet_pdf, schematic_pdf, priority=priority), content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert "priority" in response.get_json()["error"]["details"]


def test_a_json_body_still_wants_a_json_number(client):
    response = client.post("/api/v1/jobs", json={"kind": "sleep", "input": {}, "priority": "3"})
    assert response.status_code == 400
    assert "priority" in response.get_json()["error"]["details"]
