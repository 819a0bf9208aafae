"""API keys: configured hashed, mapped to tenants, one fixed 401 for every failure."""

import hashlib
import logging
import subprocess
import sys

import pytest
import requests

from api.auth import PUBLIC_PATHS, find_key, hash_key, parse_api_keys
from longrun.settings import SettingsError, from_env
from tests.support.paths import ROOT
from tests.support.processes import subprocess_env
from tests.support.tenants import TENANT_KEYS, bearer

ALICE_HASH = hashlib.sha256(TENANT_KEYS["alice"].encode()).hexdigest()


# -- the setting and the key check ------------------------------------------


def test_api_keys_setting_maps_hashed_keys_to_tenants():
    keys = parse_api_keys(f"alice={ALICE_HASH}, bob={'ab' * 32}")

    assert [(k.tenant, k.digest) for k in keys] == [("alice", ALICE_HASH), ("bob", "ab" * 32)]


@pytest.mark.parametrize(
    "raw", ["alice", "alice=notahash", f"al ice={ALICE_HASH}", f"={ALICE_HASH}", TENANT_KEYS["alice"]]
)
def test_a_malformed_api_keys_entry_is_refused_without_echoing_it(raw):
    with pytest.raises(SettingsError) as info:
        parse_api_keys(raw)

    assert "LONGRUN_API_KEYS" in str(info.value)
    assert TENANT_KEYS["alice"] not in str(info.value)


def test_a_key_is_found_by_its_hash_and_a_wrong_one_is_not():
    keys = parse_api_keys(f"bob={'ab' * 32},alice={ALICE_HASH}")

    assert find_key(TENANT_KEYS["alice"], keys).tenant == "alice"
    assert find_key(TENANT_KEYS["alice"] + "x", keys) is None
    assert find_key(ALICE_HASH, keys) is None  # the stored hash is not a key


def test_auth_is_on_unless_switched_off_explicitly():
    assert from_env({}).auth == "on"
    assert from_env({"LONGRUN_AUTH": "off"}).auth == "off"
    with pytest.raises(SettingsError):
        from_env({"LONGRUN_AUTH": "no"})


def test_the_hash_command_prints_the_setting_value_of_a_key():
    out = subprocess.run(
        [sys.executable, "-m", "api.auth", "hash", "s3cret"],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert out.strip() == hashlib.sha256(b"s3cret").hexdigest()


def test_the_new_command_makes_a_key_that_the_api_accepts(make_app):
    out = subprocess.run(
        [sys.executable, "-m", "api.auth", "new", "carol"],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    key = out.split("key:")[1].split()[0]
    setting = out.split("LONGRUN_API_KEYS=")[1].strip()

    app = make_app(api_keys=setting)

    assert app.test_client().get("/api/v1/jobs", headers={"X-API-Key": key}).status_code == 200
    assert hash_key(key) in setting and key not in setting


# -- the API -------------------------------------------------------------------


def test_bearer_and_x_api_key_headers_both_authenticate(tenants_app):
    client = tenants_app.test_client()

    assert client.get("/api/v1/jobs", headers=bearer("alice")).status_code == 200
    assert client.get("/api/v1/jobs", headers={"X-API-Key": TENANT_KEYS["alice"]}).status_code == 200
    assert client.get("/api/v1/jobs", headers={"Authorization": f"bearer {TENANT_KEYS['bob']}"}).status_code == 200


BAD_CREDENTIALS = {
    "none": {},
    "wrong bearer": {"Authorization": "Bearer not-a-key"},
    "wrong x-api-key": {"X-API-Key": "not-a-key"},
    "empty bearer": {"Authorization": "Bearer "},
    "basic scheme": {"Authorization": f"Basic {TENANT_KEYS['alice']}"},
    "the stored hash": {"X-API-Key": ALICE_HASH},
    "a key with a suffix": {"Authorization": f"Bearer {TENANT_KEYS['alice']}x"},
}


def test_every_bad_credential_gets_the_same_401(tenants_app):
    client = tenants_app.test_client()

    answers = {name: client.get("/api/v1/jobs", headers=headers) for name, headers in BAD_CREDENTIALS.items()}

    assert {r.status_code for r in answers.values()} == {401}
    assert len({r.data for r in answers.values()}) == 1, "the 401 body must not tell failures apart"
    one = next(iter(answers.values()))
    assert one.get_json() == {"error": {"code": "unauthorized", "message": "missing or invalid API key", "details": {}}}
    assert one.headers["WWW-Authenticate"].startswith("Bearer")


def test_every_route_but_the_public_ones_needs_a_key(tenants_app):
    client = tenants_app.test_client()
    job_id = "0" * 32
    checked = []
    for rule in tenants_app.url_map.iter_rules():
        if rule.endpoint in ("static", "console.static", "docs.asset"):  # files anyone may fetch
            continue
        path = rule.rule.replace("<string:job_id>", job_id).replace("<path:name>", "out.txt")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method)
            status = response.status_code
            checked.append(path)
            if path in PUBLIC_PATHS or rule.endpoint == "console.sign_in":
                assert status != 401, f"{method} {path} is public"
            elif rule.endpoint.startswith("console."):
                # The console's pages send a browser to its sign-in form; its forms refuse.
                location = response.headers.get("Location", "")
                assert (status == 302 and "/console/sign-in" in location) or status in (401, 403), (
                    f"{method} {path} answered {status} without a key or a session"
                )
            else:
                assert status == 401, f"{method} {path} answered {status} without a key"

    assert "/api/v1/jobs/<id>/cancel".replace("<id>", job_id) in checked


def test_public_routes_answer_without_a_key_and_health_reveals_no_job_counts(tenants_app, worker):
    client = tenants_app.test_client()

    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200
    health = client.get("/api/v1/health")
    assert health.status_code == 200
    assert health.get_json()["tasks_count"] is None
    assert client.get("/api/v1/health", headers=bearer("alice")).get_json()["tasks_count"] is not None


def test_switching_auth_off_serves_as_default_tenant_and_warns(make_app, caplog):
    with caplog.at_level(logging.WARNING, logger="api.auth"):
        app = make_app(auth="off")

    assert "LONGRUN_AUTH=off" in caplog.text
    assert app.test_client().get("/api/v1/jobs").status_code == 200


def test_without_any_configured_key_everything_private_is_refused(make_app, caplog):
    with caplog.at_level(logging.WARNING, logger="api.auth"):
        app = make_app(api_keys="")

    assert "no API keys configured" in caplog.text
    assert app.test_client().get("/api/v1/jobs", headers=bearer("alice")).status_code == 401


@pytest.mark.integration
def test_gunicorn_refuses_a_request_without_a_key_and_serves_one_with_it(live_api, api_headers):
    refused = requests.get(f"{live_api.url}/api/v1/jobs", timeout=10)
    served = requests.get(f"{live_api.url}/api/v1/jobs", headers=api_headers, timeout=10)

    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    assert served.status_code == 200
