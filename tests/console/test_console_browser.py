"""The console in a real Chromium against gunicorn, a real worker and real Redis.

Screenshots go to tests/.screenshots (or $LONGRUN_SCREENSHOTS), never to git.
"""

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import expect

from longrun.jobstore import JobStore
from longrun.settings import get_settings
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

JOB_URL = re.compile(r"/console/jobs/([0-9a-f]{32})$")


def submit_api(live_api, api_headers, kind="sleep", **input) -> str:
    response = requests.post(
        f"{live_api.url}/api/v1/jobs", headers=api_headers, timeout=10, json={"kind": kind, "input": input}
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def status_is(live_api, api_headers, job_id, status):
    return lambda: api_job(live_api, api_headers, job_id).json()["status"] == status


def api_job(live_api, api_headers, job_id) -> requests.Response:
    return requests.get(f"{live_api.url}/api/v1/jobs/{job_id}", headers=api_headers, timeout=10)


def progress_value(page) -> float:
    return float(page.locator("#job-progress").evaluate("bar => bar.value"))


def test_a_wrong_key_is_refused_with_a_clear_message_and_nothing_else(browser_context, sign_in):
    page = browser_context.new_page()
    sign_in(page, "not-a-key-of-this-deployment")

    expect(page.get_by_role("alert")).to_have_text("That API key is not valid. Check it and try again.")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.locator("table").count() == 0 and page.get_by_role("link", name="Jobs").count() == 0
    cookie = next(c for c in browser_context.cookies() if c["name"] == "longrun_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


def test_submit_a_sleep_job_from_the_form_and_watch_it_live(console, screenshots):
    page = console
    page.get_by_role("link", name="Submit", exact=True).click()
    page.get_by_role("link", name="sleep").click()
    page.get_by_label("Seconds", exact=True).fill("8")
    page.get_by_label("Steps", exact=True).fill("16")
    page.get_by_role("button", name="Submit").click()
    expect(page).to_have_url(JOB_URL)
    page.evaluate("window.__notReloaded = true")

    expect(page.locator("#job-status")).to_have_text("running", timeout=20_000)
    expect(page.locator("#stream-state")).to_have_text("live")
    first = wait_until(lambda: progress_value(page) or None, interval=0.1, message="the progress bar to move")
    wait_until(lambda: progress_value(page) > first, interval=0.1, message="the progress bar to move again")
    expect(page.locator("#job-step")).to_contain_text(re.compile(r"step \d+ \(\d+ of 16\)"))
    expect(page.locator("#job-logs")).to_contain_text("step 1 of 16: sleeping 0.5s")
    page.screenshot(path=str(screenshots / "job-running.png"), full_page=True)

    expect(page.locator("#job-status")).to_have_text("completed", timeout=30_000)
    assert progress_value(page) == 100
    expect(page.locator("#job-result")).to_contain_text('"slept": 8.0')
    assert page.evaluate("window.__notReloaded") is True  # all of it without a reload


def test_cancel_a_running_job_and_see_it_cancelled(console, live_api, api_headers):
    job_id = submit_api(live_api, api_headers, seconds=60, steps=60)
    page = console
    page.goto(f"/console/jobs/{job_id}")
    expect(page.locator("#job-status")).to_have_text("running", timeout=20_000)

    page.once("dialog", lambda dialog: dialog.accept() if dialog.message == "Cancel this job?" else dialog.dismiss())
    page.get_by_role("button", name="Cancel").click()

    expect(page.locator("#job-status")).to_have_text("cancelled", timeout=20_000)
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(page.locator("#job-error-type")).to_have_text("Cancelled")
    assert api_job(live_api, api_headers, job_id).json()["status"] == "cancelled"


def test_a_dismissed_confirmation_changes_nothing_and_delete_removes_the_job(console, live_api, api_headers):
    job_id = submit_api(live_api, api_headers, seconds=0)
    wait_until(
        lambda: api_job(live_api, api_headers, job_id).json()["status"] == "completed", interval=0.1, message="the job"
    )
    page = console
    page.goto(f"/console/jobs/{job_id}")

    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete").click()
    expect(page).to_have_url(re.compile(job_id))
    assert api_job(live_api, api_headers, job_id).status_code == 200

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text(f"Job {job_id} was deleted.")
    assert api_job(live_api, api_headers, job_id).status_code == 404


def test_download_an_artifact_of_a_codegen_job(console, openai_server, datasheet_pdf, schematic_pdf, tmp_path):
    openai_server.set_default("```c\nvoid touch_init(void) { /* TK_CTRL = 0x01; */ }\n```")
    (tmp_path / "datasheet.pdf").write_bytes(datasheet_pdf)
    (tmp_path / "schematic.pdf").write_bytes(schematic_pdf)
    page = console
    page.goto("/console/submit/codegen")
    page.get_by_label("Instruction").fill("initialise the touch keys")
    page.get_by_label("Datasheet").set_input_files(str(tmp_path / "datasheet.pdf"))
    page.get_by_label("Schematic").set_input_files(str(tmp_path / "schematic.pdf"))
    page.get_by_role("button", name="Submit").click()
    expect(page).to_have_url(JOB_URL)

    expect(page.locator("#job-status")).to_have_text("completed", timeout=60_000)
    with page.expect_download() as info:
        page.get_by_role("link", name="generated.c").click()
    assert info.value.suggested_filename == "generated.c"
    assert "void touch_init(void)" in Path(info.value.path()).read_text()
    with page.expect_download() as info:
        page.get_by_role("link", name="datasheet.pdf").click()
    assert Path(info.value.path()).read_bytes() == datasheet_pdf


def test_the_form_shows_the_apis_validation_message(console):
    page = console
    page.goto("/console/submit/sleep")
    page.get_by_label("Steps", exact=True).fill("0")
    page.get_by_role("button", name="Submit").click()

    expect(page.locator("#form-error")).to_have_text(
        "invalid input: input.steps: Must be greater than or equal to 1 and less than or equal to 100000."
    )
    expect(page.locator("#f-steps-error")).to_be_visible()
    expect(page.get_by_label("Steps", exact=True)).to_have_value("0")


def test_inference_output_streams_onto_the_page(console, live_api, api_headers, openai_server):
    openai_server.reply(tokens=[f"word{n} " for n in range(30)], token_delay=0.1)
    job_id = submit_api(live_api, api_headers, kind="inference", input="count for me")
    page = console
    page.goto(f"/console/jobs/{job_id}")

    expect(page.locator("#job-output")).to_contain_text("word3", timeout=20_000)
    partial = page.locator("#job-output").text_content()
    assert "word29" not in partial  # it arrived in pieces
    expect(page.locator("#job-status")).to_have_text("completed", timeout=30_000)
    expect(page.locator("#job-output")).to_contain_text("word29")


def test_another_tenants_job_is_not_found(console, redis_client, live_api, api_headers):
    store = JobStore(redis_client, get_settings())
    other, _, _ = store.create(tenant="someone-else", kind="sleep", input={}, timeout_seconds=60)
    page = console

    response = page.goto(f"/console/jobs/{other}")

    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text(f"no job with id {other}")
    assert page.request.get(f"/api/v1/jobs/{other}/events").status == 404
    page.goto("/console/")
    page.get_by_label("Job id").fill(other)
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("alert")).to_have_text(f"No job with id {other} was found.")
    store.delete(other)  # it has no message: left alone it would wait in the sleep queue's index forever


def test_a_post_without_the_csrf_token_is_refused(console, live_api, api_headers):
    job_id = submit_api(live_api, api_headers, seconds=30, steps=30)
    page = console  # signed in: its cookie goes with page.request

    refused = page.request.post(f"/console/jobs/{job_id}/cancel", form={"confirm": "yes"})
    forged = page.request.post(f"/console/jobs/{job_id}/cancel", form={"csrf_token": "guessed"})
    api_with_cookie_only = page.request.post(f"/api/v1/jobs/{job_id}/cancel")

    assert refused.status == 403 and "CSRF" in refused.text()
    assert forged.status == 403
    assert api_with_cookie_only.status == 401  # a session never stands for the key on a state change
    assert api_job(live_api, api_headers, job_id).json().get("cancel_requested") is not True
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    accepted = page.request.post(f"/console/jobs/{job_id}/cancel", form={"csrf_token": token})
    assert accepted.ok
    wait_until(
        lambda: api_job(live_api, api_headers, job_id).json()["status"] == "cancelled",
        interval=0.1,
        message="the cancel",
    )


def test_the_jobs_list_is_newest_first_filters_and_updates_live(console, live_api, api_headers, screenshots):
    page = console
    done = submit_api(live_api, api_headers, seconds=0)
    wait_until(
        lambda: api_job(live_api, api_headers, done).json()["status"] == "completed", interval=0.1, message="the job"
    )
    page.goto("/console/")
    page.evaluate("window.__notReloaded = true")

    job_id = submit_api(live_api, api_headers, seconds=3, steps=6)
    row = page.locator(f'tr[data-job="{job_id}"]')
    expect(row).to_be_visible(timeout=10_000)  # appeared without a reload
    assert page.locator("#job-rows tr").first.get_attribute("data-job") == job_id
    expect(row.locator(".status")).to_have_text("running", timeout=15_000)
    page.screenshot(path=str(screenshots / "jobs-list.png"), full_page=False)
    expect(row.locator(".status")).to_have_text("completed", timeout=20_000)
    assert page.evaluate("window.__notReloaded") is True

    page.get_by_label("Status", exact=True).select_option("completed")
    page.get_by_role("button", name="Filter").click()
    statuses = page.locator("#job-rows tr .status").all_text_contents()
    assert statuses and set(statuses) == {"completed"}


def test_the_overview_shows_counts_queues_and_workers_and_refreshes(
    console, live_api, api_headers, worker, screenshots
):
    job_id = submit_api(live_api, api_headers, seconds=20, steps=20)
    page = console
    page.get_by_role("link", name="Overview").click()

    expect(page.get_by_role("heading", name="Jobs by status")).to_be_visible()
    expect(page.locator("#workers-h + ul")).to_contain_text(worker.hostname)
    expect(page.get_by_role("heading", name="Queues")).to_be_visible()
    expect(page.locator(".running")).to_contain_text(job_id[:12], timeout=15_000)
    expect(page.locator("#overview-updated")).to_contain_text("updated", timeout=10_000)  # by itself
    page.screenshot(path=str(screenshots / "overview.png"), full_page=True)
    requests.post(f"{live_api.url}/api/v1/jobs/{job_id}/cancel", headers=api_headers, timeout=10)


def test_readable_on_a_390_px_phone(chromium, live_api, api_headers, api_key, screenshots, sign_in):
    context = chromium.new_context(
        base_url=live_api.url,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    try:
        page = context.new_page()
        sign_in(page, api_key)
        submit_api(live_api, api_headers, seconds=0)
        page.goto("/console/")
        expect(page.locator("#job-rows tr").first).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        page.screenshot(path=str(screenshots / "phone-jobs.png"), full_page=False)
        page.locator("#job-rows tr a").first.click()
        expect(page.locator("#job-status")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(screenshots / "phone-job.png"), full_page=True)
    finally:
        context.close()


def test_everything_works_by_keyboard(console, live_api, api_headers):
    page = console
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    focused = []
    for _ in range(12):
        page.keyboard.press("Tab")
        focused.append(
            page.evaluate(
                "document.activeElement.textContent.trim() || "
                "document.activeElement.getAttribute('aria-label') || "
                "(document.activeElement.labels && document.activeElement.labels[0] && "
                "document.activeElement.labels[0].textContent)"
            )
        )
    assert {"Jobs", "Submit", "Overview", "API docs", "Sign out"} <= set(focused)
    assert all(focused), focused  # every control reached has a name
    page.get_by_label("Job id").focus()
    page.keyboard.type("0" * 32)
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("No job with id")


def test_docs_render_the_operations_with_no_network_but_loopback(browser_context, screenshots):
    blocked = []

    def only_loopback(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            return route.continue_()
        blocked.append(route.request.url)
        return route.abort()

    browser_context.route("**/*", only_loopback)
    page = browser_context.new_page()
    page.goto("/docs")

    expect(page.locator(".opblock").first).to_be_visible(timeout=20_000)
    paths = page.locator(".opblock-summary-path").all_text_contents()
    assert any(p.replace("\u200b", "") == "/api/v1/jobs" for p in paths), paths[:5]
    assert any("/events" in p for p in paths)
    expect(page.locator(".info .title")).to_contain_text("Longrun")
    assert blocked == []  # nothing even tried to leave the machine
    page.screenshot(path=str(screenshots / "docs.png"))


class CuttingProxy:
    """A TCP forwarder to the API that can cut every open connection, and
    remembers the Last-Event-ID headers the browser sent through it."""

    def __init__(self, target_port: int):
        import socket
        import threading

        self.target_port = target_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.open: list = []
        self.last_event_ids: list[str] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        import threading

        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.open += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source, sink, from_browser: bool):
        try:
            while data := source.recv(65536):
                if from_browser:
                    found = re.search(rb"(?im)^last-event-id: *(\S+)", data)
                    if found:
                        self.last_event_ids.append(found.group(1).decode())
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.close()
                except OSError:
                    pass

    def cut(self):
        import socket

        with self.lock:
            sockets, self.open = self.open, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.server.close()
        self.cut()


def test_a_dropped_stream_is_resumed_with_last_event_id_without_a_reload(
    chromium, live_api, api_headers, api_key, sign_in
):
    proxy = CuttingProxy(live_api.port)
    context = chromium.new_context(base_url=f"http://127.0.0.1:{proxy.port}", viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        sign_in(page, api_key)
        job_id = submit_api(live_api, api_headers, seconds=8, steps=16)
        page.goto(f"/console/jobs/{job_id}")
        page.evaluate("window.__notReloaded = true")
        expect(page.locator("#stream-state")).to_have_text("live")
        wait_until(lambda: progress_value(page) > 0, interval=0.1, message="progress before the cut")

        proxy.cut()
        expect(page.locator("#stream-state")).to_have_text("reconnecting…")
        expect(page.locator("#stream-state")).to_have_text("live", timeout=10_000)
        before = progress_value(page)
        wait_until(lambda: progress_value(page) > before, interval=0.1, message="progress after the cut")

        assert proxy.last_event_ids, "the browser resumed without Last-Event-ID"
        expect(page.locator("#job-status")).to_have_text("completed", timeout=30_000)
        assert page.evaluate("window.__notReloaded") is True
    finally:
        context.close()
        proxy.close()
