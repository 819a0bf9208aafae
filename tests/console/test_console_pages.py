"""The console's pages in-process (Flask's test client, the session's Redis):
sessions, CSRF, LONGRUN_AUTH=off, paging that reads one page, the Retry
button once a retry route exists, and the submit form's validation."""

import hashlib
import re

import pytest
from flask import Flask

from longrun import keys

KEY = "console-test-key-0123456789"
OTHER_KEY = "console-other-key-0123456789"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture
def make_app(settings_for, redis_url):
    def make(**overrides) -> Flask:
        from api import create_app

        settings = settings_for(redis_url, api_keys=f"console={digest(KEY)},rival={digest(OTHER_KEY)}", **overrides)
        return create_app({"TESTING": True, "LONGRUN_SETTINGS": settings})

    return make


def csrf(page_html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page_html).group(1)


def signed_in(app: Flask, key: str = KEY):
    client = app.test_client()
    token = csrf(client.get("/console/sign-in").text)
    response = client.post("/console/sign-in", data={"api_key": key, "csrf_token": token})
    assert response.status_code == 303, response.text
    return client


def token_of(client) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/console/").text).group(1)


def test_the_session_cookie_is_httponly_strict_signed_and_holds_no_key(make_app):
    client = make_app().test_client()
    token = csrf(client.get("/console/sign-in").text)

    response = client.post("/console/sign-in", data={"api_key": KEY, "csrf_token": token})

    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Expires=" in cookie
    assert KEY not in cookie and digest(KEY) not in cookie
    assert client.get("/console/").status_code == 200
    # A cookie changed by hand is no session at all.
    value = client.get_cookie("longrun_session").value
    client.set_cookie("longrun_session", value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    assert client.get("/console/").status_code == 302


def test_signing_in_needs_the_forms_csrf_token_and_a_configured_key(make_app):
    client = make_app().test_client()
    assert client.post("/console/sign-in", data={"api_key": KEY}).status_code == 403
    token = csrf(client.get("/console/sign-in").text)

    wrong = client.post("/console/sign-in", data={"api_key": "nope", "csrf_token": token})

    assert wrong.status_code == 401 and "That API key is not valid" in wrong.text
    assert "job-rows" not in wrong.text
    assert client.get("/console/").status_code == 302


def test_a_removed_key_ends_its_sessions_and_sign_out_ends_one(make_app, settings_for, redis_url):
    client = signed_in(make_app())
    cookie = client.get_cookie("longrun_session").value
    from api import create_app

    without = create_app(
        {"TESTING": True, "LONGRUN_SETTINGS": settings_for(redis_url, api_keys=f"rival={digest(OTHER_KEY)}")}
    )
    other = without.test_client()
    other.set_cookie("longrun_session", cookie)  # same Redis, same secret: only the key lookup differs

    assert other.get("/console/").status_code == 302
    assert other.get("/api/v1/jobs").status_code == 401

    token = token_of(client)
    assert client.post("/console/sign-out", data={"csrf_token": token}).status_code == 303
    assert client.get("/console/").status_code == 302


def test_the_secret_is_shared_through_redis_unless_configured(make_app, redis_client):
    first, second = make_app(), make_app()
    client = signed_in(first)
    assert redis_client.get(keys.CONSOLE_SECRET)
    other = second.test_client()
    other.set_cookie("longrun_session", client.get_cookie("longrun_session").value)
    assert other.get("/console/").status_code == 200  # another API process verifies it

    configured = make_app(console_secret="s3cret-" + "x" * 32).test_client()
    configured.set_cookie("longrun_session", client.get_cookie("longrun_session").value)
    assert configured.get("/console/").status_code == 302


def test_with_auth_off_no_sign_in_is_asked_but_csrf_still_is(make_app):
    client = make_app(auth="off").test_client()

    page = client.get("/console/")

    assert page.status_code == 200 and "Sign out" not in page.text
    assert client.get("/console/sign-in").status_code == 302
    response = client.post("/console/submit/sleep", data={"input.seconds": "0"})
    assert response.status_code == 403
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    response = client.post("/console/submit/sleep", data={"input.seconds": "0", "csrf_token": token})
    assert response.status_code == 303 and "/console/jobs/" in response.headers["Location"]


def test_sign_in_never_redirects_off_the_console(make_app):
    client = make_app().test_client()
    token = csrf(client.get("/console/sign-in").text)

    response = client.post(
        "/console/sign-in", data={"api_key": KEY, "csrf_token": token, "next": "https://evil.example/console"}
    )

    assert response.headers["Location"] == "/console/"


def test_the_list_reads_one_page_of_the_index_however_many_jobs_there_are(make_app, redis_client):
    app = make_app()
    client = signed_in(app)
    from api.extensions import services

    store = services(app).store
    ids = [store.create(tenant="console", kind="sleep", input={}, timeout_seconds=60)[0] for _ in range(300)]
    before = redis_client.info("commandstats").get("cmdstat_hgetall", {}).get("calls", 0)

    first = client.get("/console/")

    reads = redis_client.info("commandstats")["cmdstat_hgetall"]["calls"] - before
    assert first.status_code == 200
    assert reads <= 50  # one batch of the index (at most max(25, 50) records), not 300 records
    shown = re.findall(r'data-job="([0-9a-f]{32})"', first.text)
    assert shown == ids[::-1][:25]  # newest first
    older = re.search(r'rel="next" href="([^"]+)"', first.text).group(1).replace("&amp;", "&")
    second = re.findall(r'data-job="([0-9a-f]{32})"', client.get(older).text)
    assert second == ids[::-1][25:50]
    for job_id in ids:
        store.delete(job_id)


def test_filters_and_bad_filters(make_app):
    client = signed_in(make_app())
    assert client.get("/console/?status=running").status_code == 200
    bad = client.get("/console/?status=asleep")
    assert bad.status_code == 400 and "unknown status" in bad.text
    assert client.get("/console/?kind=nope").status_code == 400


def test_another_tenants_job_is_not_found_in_every_console_route(make_app):
    app = make_app()
    rival = signed_in(app, OTHER_KEY)
    token = token_of(rival)
    mine = signed_in(app)
    created = mine.post("/console/submit/sleep", data={"input.seconds": "30", "csrf_token": token_of(mine)})
    job_id = created.headers["Location"].rsplit("/", 1)[1]

    for path in (f"/console/jobs/{job_id}", f"/console/jobs/{job_id}/panel", f"/api/v1/jobs/{job_id}"):
        assert rival.get(path).status_code == 404, path
    for action in ("cancel", "delete"):
        assert rival.post(f"/console/jobs/{job_id}/{action}", data={"csrf_token": token}).status_code == 404
    assert mine.get(f"/console/jobs/{job_id}").status_code == 200
    assert mine.post(f"/console/jobs/{job_id}/delete", data={"csrf_token": token_of(mine)}).status_code == 303


def test_the_submit_form_speaks_the_apis_validation_messages(make_app, client):
    console = signed_in(make_app())
    token = token_of(console)

    page = console.post("/console/submit/sleep", data={"input.steps": "0", "priority": "12", "csrf_token": token})
    api = client.post("/api/v1/jobs", json={"kind": "sleep", "input": {"steps": 0}, "priority": 12})

    assert page.status_code == 400 == api.status_code
    message = re.search(r'id="form-error">([^<]+)<', page.text).group(1).replace("&#39;", "'")
    assert message == api.get_json()["error"]["message"]
    form = console.post("/console/submit/sleep", data={"input.steps": "0", "csrf_token": token})
    api = client.post("/api/v1/jobs", json={"kind": "sleep", "input": {"steps": 0}})
    assert re.search(r'id="form-error">([^<]+)<', form.text).group(1) == api.get_json()["error"]["message"]
    assert 'id="f-steps-error"' in form.text


def test_codegen_gets_file_fields_and_the_apis_message_for_a_missing_file(make_app):
    console = signed_in(make_app())
    form = console.get("/console/submit/codegen").text
    assert 'type="file" id="f-datasheet" name="datasheet"' in form
    assert 'type="file" id="f-schematic" name="schematic"' in form
    response = console.post(
        "/console/submit/codegen", data={"input.instruction": "blink", "csrf_token": token_of(console)}
    )
    assert response.status_code == 400
    assert "missing file(s): datasheet, schematic" in response.text


def test_the_retry_button_retries_through_the_api_retry_route(make_app):
    app = make_app()
    console = signed_in(app)
    done = console.post("/console/submit/sleep", data={"input.seconds": "0", "csrf_token": token_of(console)})
    job_id = done.headers["Location"].rsplit("/", 1)[1]
    from api.extensions import services
    from longrun.states import JobStatus

    services(app).store.transition(job_id, JobStatus.FAILED, error={"type": "X", "message": "boom"})
    assert ">Retry</button>" in console.get(f"/console/jobs/{job_id}").text

    response = console.post(f"/console/jobs/{job_id}/retry", data={"csrf_token": token_of(console)})

    assert response.status_code == 303
    new_id = response.headers["Location"].rsplit("/", 1)[1]
    assert new_id != job_id
    assert services(app).store.load(new_id)["retried_from"] == job_id
