"""Every outbound channel of a job is checked where it is made, at every hop
(findings 1-4 of the security review): a job on a real worker, driving a real
Chromium, with one loopback port allow-listed as a "public" host that tries to
bounce the job into a loopback "internal service" that must see nothing.
"""

import pytest
import requests

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("status", [307, 302, 303, 308])
def test_finding1_llm_host_redirect_never_reaches_the_internal_service(stack, public_service, internal_service, status):
    # The public LLM "host" answers every call with a redirect into the internal service.
    job = stack.run(
        "browser", {"task": "say hello", "max_steps": 1, "host": public_service.url(f"/redirect/{status}/v1")}
    )
    assert job["status"] == "failed"
    assert any(hit.startswith("POST /redirect/") for hit in public_service.hits)  # the job did call it
    internal_service.assert_nothing_seen()
    message = job["error"]["message"]
    assert internal_service.secret not in message and str(internal_service.port) not in message
    assert str(status) in message  # names what failed and the status


def test_finding1_llm_errors_name_the_status_never_the_body(stack, public_service, internal_service):
    # The body a remote service answers (here: a 404 with text) never reaches the tenant.
    job = stack.run("browser", {"task": "say hello", "max_steps": 1, "host": public_service.url("/nothing/v1")})
    assert job["status"] == "failed"
    assert "404" in job["error"]["message"] and "not found" not in job["error"]["message"]


def test_finding2_cdp_endpoint_cannot_name_an_internal_websocket(stack, public_service, internal_service):
    job = stack.run(
        "browser",
        {"cdp_url": public_service.url("/cdp"), "steps": [{"action": "goto", "url": public_service.url("/report")}]},
    )
    assert job["status"] == "failed"
    assert any("/cdp/json/version" in hit for hit in public_service.hits)
    internal_service.assert_nothing_seen()
    assert job["error"]["type"] == "UnsafeURL"
    assert internal_service.secret not in job["error"]["message"]


def test_finding3_webrtc_and_quic_send_no_udp_around_the_egress_proxy(stack, public_service, internal_service):
    job = stack.run(
        "browser",
        {"steps": [{"action": "goto", "url": public_service.url("/webrtc")}, {"action": "wait_for", "ms": 4000}]},
    )
    assert job["status"] == "completed", job["error"]
    assert public_service.reports and public_service.reports[0]["ran"] == "1"  # the page's script ran
    internal_service.assert_nothing_seen()


@pytest.mark.parametrize("field", ["cdp_url", "host"])
@pytest.mark.parametrize("url", ["http://93.184.216.34:9222", "https://llm.example.com/v1"])
def test_finding4_overrides_need_the_allow_list_on_the_core_input(stack, internal_service, field, url):
    job_input = {"task": "x", field: url}
    response = stack.submit("browser", job_input)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and field in error["message"]
    assert "LONGRUN_URL_ALLOWLIST" in error["message"]


@pytest.mark.parametrize("field", ["cdp_url", "host"])
def test_finding4_overrides_need_the_allow_list_on_seed_000(stack, field):
    response = requests.post(
        stack.url + "/run_task",
        json={"task": "x", field: "http://93.184.216.34:9222"},
        headers=stack.headers,
        timeout=10,
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", field]


def test_finding4_an_allow_listed_override_is_still_accepted(stack, public_service):
    response = stack.submit(
        "browser", {"task": "x", "host": public_service.url("/v1"), "cdp_url": public_service.url("/cdp")}
    )
    assert response.status_code == 202, response.text
