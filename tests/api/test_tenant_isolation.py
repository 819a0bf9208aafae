"""Tenant isolation: another tenant's job is, on every route, exactly an unknown id.

The routes are read from the app's URL map, so a route added later (the live
event stream, say) is covered as soon as it exists.
"""

import re

import pytest

from api import create_app
from longrun import keys
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

ARTIFACT = "out.txt"
PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


def job_routes(app) -> list[tuple[str, str]]:
    """(method, path template) of every route that takes a job id."""
    found = []
    for rule in app.url_map.iter_rules():
        if "job_id" not in rule.arguments:
            continue
        path = PARAMETER.sub(lambda m: {"job_id": "{id}", "name": ARTIFACT}.get(m.group(1), "0" * 32), rule.rule)
        found += [(method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return found


ROUTES = job_routes(create_app({"TESTING": True}))
# Headers that must not differ either (Date and the like are not compared).
COMPARED_HEADERS = ("Content-Type", "Content-Length", "Retry-After", "Location", "WWW-Authenticate")


def test_every_job_route_is_covered():
    paths = {path for _, path in ROUTES}

    assert {
        "/api/v1/jobs/{id}",
        "/api/v1/jobs/{id}/result",
        "/api/v1/jobs/{id}/cancel",
        "/api/v1/jobs/{id}/artifacts",
        f"/api/v1/jobs/{{id}}/artifacts/{ARTIFACT}",
    } <= paths
    assert ("DELETE", "/api/v1/jobs/{id}") in ROUTES


@pytest.fixture
def alices_job(as_tenant, tenants_app, worker):
    """A completed job of alice's with one file."""
    alice = as_tenant("alice")
    job = alice.post("/api/v1/jobs", json={"kind": "sleep", "input": {"seconds": 0}}).get_json()
    wait_until(
        lambda: alice.get(f"/api/v1/jobs/{job['id']}").get_json()["status"] == "completed",
        timeout=30,
        message="alice's job",
    )
    tenants_app.extensions["longrun"].artifacts.save(job["id"], ARTIFACT, b"alice's secret")
    return job["id"]


def answer(client, method, path):
    with client.open(path, method=method) as response:
        return response.status_code, response.data, {h: response.headers.get(h) for h in COMPARED_HEADERS}


@pytest.mark.parametrize("method,path", ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_another_tenants_job_is_a_404_identical_to_an_unknown_id(method, path, alices_job, as_tenant):
    alice, bob = as_tenant("alice"), as_tenant("bob")
    url = path.format(id=alices_job)

    status, body, headers = answer(bob, method, url)

    assert status == 404
    # Bob's attempt changed nothing for alice.
    assert alice.get(f"/api/v1/jobs/{alices_job}").get_json()["status"] == "completed"
    with alice.get(f"/api/v1/jobs/{alices_job}/artifacts/{ARTIFACT}") as download:
        assert download.data == b"alice's secret"
    # Once the id is really unknown, bob gets the very same bytes.
    assert alice.delete(f"/api/v1/jobs/{alices_job}").status_code == 204
    assert answer(bob, method, url) == (status, body, headers)
    assert answer(alice, method, url) == (status, body, headers)


def test_another_tenants_expired_job_is_a_404_while_its_owner_sees_410(alices_job, as_tenant, redis_client):
    alice, bob = as_tenant("alice"), as_tenant("bob")
    url = f"/api/v1/jobs/{alices_job}"
    # What retention does when it runs out: the record goes, the tombstone stays.
    redis_client.delete(keys.job(alices_job), keys.meta(alices_job))
    assert redis_client.get(keys.tombstone(alices_job)) == "alice"

    assert alice.get(url).status_code == 410
    seen_by_bob = answer(bob, "GET", url)
    redis_client.delete(keys.tombstone(alices_job))
    assert seen_by_bob[0] == 404
    assert answer(bob, "GET", url) == seen_by_bob


def test_lists_stats_and_bulk_clear_see_only_the_callers_jobs(alices_job, as_tenant):
    alice, bob = as_tenant("alice"), as_tenant("bob")

    bobs_list = bob.get("/api/v1/jobs?limit=100").get_json()
    bobs_completed = bob.get("/api/v1/jobs?status=completed&limit=100").get_json()
    bob.delete("/api/v1/jobs?status=completed")

    assert alices_job not in [job["id"] for job in bobs_list["jobs"] + bobs_completed["jobs"]]
    # Bob's counts are his own jobs only.
    assert bobs_completed["stats"]["counts"]["completed"] == len(bobs_completed["jobs"])
    # Bob's bulk clear left alice's completed job alone.
    assert alice.get(f"/api/v1/jobs/{alices_job}").status_code == 200
    assert alices_job in [job["id"] for job in alice.get("/api/v1/jobs?limit=100").get_json()["jobs"]]
