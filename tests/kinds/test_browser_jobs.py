"""The ``browser`` job kind, end to end: the API, a real worker, Debian's real
headless Chromium, and pages served on 127.0.0.1 by the test.

127.0.0.1 is allow-listed for the session (conftest TEST_ENV); refusals are
shown with addresses that are not (localhost, 10/8, the metadata address).
"""

import json

import pytest

from tests.support.ports import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def steps_job(test_pages, *steps, **body):
    return {"kind": "browser", "input": {"steps": list(steps)}, **body}


def no_chromium_left(chromium_processes, job_id):
    wait_until(lambda: not chromium_processes(job_id), timeout=30, message=f"job {job_id}'s Chromium processes to end")


def test_scripted_job_fills_a_form_clicks_extracts_and_screenshots(
    client, submit, wait_for_status, test_pages, chromium_processes
):
    job = submit(
        "browser",
        {
            "steps": [
                {"action": "goto", "url": test_pages.url("/form")},
                {"action": "fill", "selector": "#name", "value": "Ada"},
                {"action": "click", "selector": "#submit"},
                {"action": "wait_for", "selector": "#greeting"},
                {"action": "extract", "selector": "#greeting", "name": "greeting.txt"},
                {"action": "screenshot", "name": "hello.png", "full_page": True},
            ],
            "viewport": {"width": 800, "height": 600},
        },
    )
    done = wait_for_status(job["id"], "completed", "failed", timeout=90)
    assert done["status"] == "completed", done["error"]
    result = done["result"]
    assert result["extracted"] == {"greeting.txt": "Hello, Ada!"}
    assert result["final_url"] == test_pages.url("/hello?name=Ada")
    assert result["title"] == "Hello"
    assert [s["action"] for s in result["steps"]] == ["goto", "fill", "click", "wait_for", "extract", "screenshot"]
    assert result["steps"][0]["status"] == 200
    assert done["progress"]["total_steps"] == 6 and done["progress"]["percentage"] == 100

    with client.get(f"/api/v1/jobs/{job['id']}/artifacts/greeting.txt") as text:
        assert text.status_code == 200 and text.data == b"Hello, Ada!"
    with client.get(f"/api/v1/jobs/{job['id']}/artifacts/hello.png") as png:
        assert png.status_code == 200 and png.data.startswith(b"\x89PNG\r\n\x1a\n") and len(png.data) > 1000
        assert int.from_bytes(png.data[16:20], "big") == 800  # IHDR width: the job's viewport
    no_chromium_left(chromium_processes, job["id"])


def test_a_bad_step_is_a_400_naming_the_step(client, worker, test_pages):
    response = client.post(
        "/api/v1/jobs",
        json=steps_job(
            test_pages, {"action": "goto", "url": test_pages.url("/form")}, {"action": "fill", "selector": "#name"}
        ),
    )
    assert response.status_code == 400
    assert "step 2 (fill): value" in response.get_json()["error"]["message"]
    response = client.post("/api/v1/jobs", json=steps_job(test_pages, {"action": "teleport"}))
    assert response.status_code == 400 and "step 1" in response.get_json()["error"]["message"]
    response = client.post("/api/v1/jobs", json={"kind": "browser", "input": {}})
    assert response.status_code == 400 and "either steps" in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://localhost:8000/",
        "http://2130706433/",
        "file:///etc/passwd",
    ],
)
def test_navigation_to_a_private_address_is_refused_at_submit(client, worker, test_pages, url):
    response = client.post("/api/v1/jobs", json=steps_job(test_pages, {"action": "goto", "url": url}))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_input" and "step 1 (goto): url" in error["message"]


def test_seed_fields_cdp_url_and_llm_host_must_pass_the_url_rules(client, worker):
    for field in ("cdp_url", "host"):
        response = client.post(
            "/api/v1/jobs",
            json={"kind": "browser", "input": {"task": "look around", field: "http://169.254.169.254:9222"}},
        )
        assert response.status_code == 400
        assert field in response.get_json()["error"]["message"]
        assert "metadata" in response.get_json()["error"]["message"]


def test_a_redirect_into_a_private_address_fails_the_job_with_a_clear_error(
    submit, wait_for_status, test_pages, chromium_processes
):
    # 127.0.0.1 is allowed; the page it redirects to (localhost) is not.
    target = f"http://localhost:{test_pages.port}/about"
    about_hits = test_pages.hits.count("/about")
    job = submit(
        "browser",
        {
            "steps": [
                {"action": "goto", "url": test_pages.url("/redirect?to=" + target)},
                {"action": "extract", "selector": "body"},
            ]
        },
    )
    done = wait_for_status(job["id"], "completed", "failed", timeout=90)
    assert done["status"] == "failed"
    assert done["error"]["type"] == "UnsafeURL"
    assert f"navigation to {target} refused" in done["error"]["message"]
    assert "localhost" in done["error"]["message"]
    assert test_pages.hits.count("/about") == about_hits  # the redirect never reached the server
    no_chromium_left(chromium_processes, job["id"])


def test_a_link_into_a_private_address_fails_the_job_at_the_click(submit, wait_for_status, test_pages):
    job = submit(
        "browser",
        {
            "steps": [
                {"action": "goto", "url": test_pages.url("/links")},
                {"action": "click", "selector": "#to-private"},
                {"action": "screenshot"},
            ]
        },
    )
    done = wait_for_status(job["id"], "completed", "failed", timeout=90)
    assert done["status"] == "failed" and done["error"]["type"] == "UnsafeURL"
    assert "navigation to http://10.0.0.1/admin refused" in done["error"]["message"]
    assert done["progress"]["current_step"] == 2


def test_agent_mode_follows_the_models_json_actions_until_done(
    submit, wait_for_status, test_pages, openai_server, chromium_processes
):
    for action in (
        {"action": "click", "selector": "#to-private"},  # refused: the model hears why
        {"action": "click", "selector": "#to-form"},
        {"action": "fill", "element": 1, "value": "Grace"},  # [1] is the name input
        {"action": "click", "selector": "#submit"},
        {"action": "extract", "selector": "#greeting"},
        {"action": "done", "answer": "The page says: Hello, Grace!"},
    ):
        openai_server.reply(json.dumps(action))
    job = submit(
        "browser",
        {
            "task": "Greet Grace on the form and tell me what the page says",
            "start_url": test_pages.url("/links"),
            "max_steps": 8,
            "host": openai_server.url,
            "model": "agent-model",
        },
    )
    done = wait_for_status(job["id"], "completed", "failed", timeout=90)
    assert done["status"] == "completed", done["error"]
    result = done["result"]
    assert result["done"] is True and result["answer"] == "The page says: Hello, Grace!"
    assert result["steps_taken"] == 6 and result["final_url"] == test_pages.url("/hello?name=Grace")
    assert result["extracted"] == {"extract-5.txt": "Hello, Grace!"}
    assert "navigation to http://10.0.0.1/admin refused" in result["history"][0]["error"]
    assert result["blocked_requests"][0]["url"].startswith("http://10.0.0.1/admin")

    requests = openai_server.requests
    assert len(requests) == 6
    assert requests[0]["response_format"] == {"type": "json_object"} and requests[0]["model"] == "agent-model"
    assert "Task: Greet Grace" in requests[0]["messages"][-1]["content"]
    refused = "Your last action failed: navigation to http://10.0.0.1/admin refused"
    assert refused in requests[1]["messages"][-1]["content"]
    assert "Title: Links" in requests[1]["messages"][-1]["content"]  # back where it was
    form_view = requests[2]["messages"][-1]["content"]
    assert "Title: Greeter" in form_view
    assert "[1] <input> 'Your name'" in form_view and "[2] <button type=submit> 'Greet me'" in form_view
    assert "Hello, Grace!" in requests[-1]["messages"][-1]["content"]
    # A per-job LLM host never receives the operator's API key.
    assert all("Authorization" not in h and "authorization" not in h for h in openai_server.headers)
    no_chromium_left(chromium_processes, job["id"])


def test_cancel_during_a_page_that_never_loads_closes_chromium_and_the_worker_goes_on(
    client, submit, wait_for_status, test_pages, chromium_processes
):
    before = chromium_processes()
    job = submit("browser", {"steps": [{"action": "goto", "url": test_pages.url("/never"), "timeout_ms": 120_000}]})
    wait_until(lambda: len(chromium_processes(job["id"])) >= 2, timeout=60, message="Chromium to start")
    wait_until(lambda: "/never" in test_pages.hits, timeout=30, message="the page request")
    assert client.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 202
    # The step is stuck inside Playwright: the watchdog interrupts it after the grace period.
    done = wait_for_status(job["id"], "cancelled", "failed", "completed", timeout=60)
    assert done["status"] == "cancelled"
    no_chromium_left(chromium_processes, job["id"])
    assert set(chromium_processes()) <= set(before)  # none added (earlier ones may still be ending)
    _next_job_runs(submit, wait_for_status, test_pages)


def test_timeout_during_a_page_that_never_loads_fails_the_job_closes_chromium_and_the_worker_goes_on(
    submit, wait_for_status, test_pages, chromium_processes
):
    before = chromium_processes()
    job = submit(
        "browser",
        {"steps": [{"action": "goto", "url": test_pages.url("/never"), "timeout_ms": 120_000}]},
        timeout_seconds=6,
    )
    wait_until(lambda: len(chromium_processes(job["id"])) >= 2, timeout=60, message="Chromium to start")
    done = wait_for_status(job["id"], "failed", "completed", timeout=60)
    assert done["status"] == "failed" and done["error"]["type"] == "Timeout"
    no_chromium_left(chromium_processes, job["id"])
    assert set(chromium_processes()) <= set(before)  # none added (earlier ones may still be ending)
    _next_job_runs(submit, wait_for_status, test_pages)


def _next_job_runs(submit, wait_for_status, test_pages):
    job = submit(
        "browser",
        {"steps": [{"action": "goto", "url": test_pages.url("/about")}, {"action": "extract", "selector": "#about"}]},
    )
    done = wait_for_status(job["id"], "completed", "failed", timeout=90)
    assert done["status"] == "completed", done["error"]
    assert done["result"]["extracted"] == {"extract-2.txt": "Longrun test site"}


@pytest.fixture
def external_chromium(tmp_path):
    """A Chromium the test starts with a DevTools port, as an operator's browser would run."""
    import os
    import signal
    import subprocess

    import requests

    port = free_port()
    process = subprocess.Popen(
        [
            "/usr/bin/chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-address=127.0.0.1",
            f"--remote-debugging-port={port}",
            f"--user-data-dir={tmp_path / 'profile'}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def answers():
        try:
            with requests.get(f"http://127.0.0.1:{port}/json/version", timeout=1) as response:
                return response.status_code == 200
        except requests.ConnectionError:
            return False

    try:
        wait_until(answers, timeout=30, message="Chromium's DevTools port")
        yield process, f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def test_a_job_can_drive_an_existing_browser_through_an_allowed_cdp_url(
    submit, wait_for_status, test_pages, external_chromium
):
    process, cdp_url = external_chromium
    job = submit(
        "browser",
        {
            "cdp_url": cdp_url,
            "steps": [
                {"action": "goto", "url": test_pages.url("/links")},
                {"action": "click", "selector": "#to-about"},
                {"action": "extract", "selector": "#about"},
            ],
        },
    )
    done = wait_for_status(job["id"], "completed", "failed", timeout=90)
    assert done["status"] == "completed", done["error"]
    assert done["result"]["extracted"] == {"extract-3.txt": "Longrun test site"}
    assert done["result"]["final_url"] == test_pages.url("/about")
    assert process.poll() is None  # the job disconnects from a browser it does not own
