"""Schemathesis against our own /openapi.json: every operation, schema-valid and
schema-invalid data, with a valid key, on the in-process app backed by the
session Redis and worker. No 5xx, no response that breaks the contract, no
valid request refused, no invalid one accepted.

Examples are bounded (FUZZ_EXAMPLES per operation and mode) so the whole file
stays well under a minute; raise it locally to dig deeper.
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.support.tenants import api_keys_setting, bearer

pytestmark = pytest.mark.integration

FUZZ_EXAMPLES = int(os.environ.get("LONGRUN_FUZZ_EXAMPLES", "25"))
TENANT = "bob"  # its own tenant, so that cleaning up touches nobody else's jobs


def make_fuzz_app():
    """The session Redis, with tenants alice and bob (built at import: schemathesis
    reads the schema while collecting)."""
    from api import create_app
    from longrun.settings import from_env

    return create_app({"TESTING": True, "LONGRUN_SETTINGS": from_env(api_keys=api_keys_setting())})


APP = make_fuzz_app()
schema = schemathesis.openapi.from_wsgi("/openapi.json", APP)
# The key is sent by the test, not generated: wrong keys have their own tests.
schema.config.generation.update(with_security_parameters=False)
# Every check schemathesis has, as `schemathesis run --checks all` runs them.
schema.config.checks.update(included_check_names=["all"])


@pytest.fixture(scope="module", autouse=True)
def session_worker_then_cleanup(worker):
    yield
    # Valid submits really queue jobs: cancel what is left so the session worker
    # is free again (a pending job is cancelled at once, a running one within a second).
    client = APP.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = bearer(TENANT)["Authorization"]
    for made in client.get("/api/v1/schedules").get_json()["schedules"]:  # they would go on making jobs
        client.delete(f"/api/v1/schedules/{made['id']}")
    for status in ("scheduled", "pending", "running"):
        cursor = None
        while True:
            query = {"status": status, "limit": 100, **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/v1/jobs", query_string=query).get_json()
            for job in page["jobs"]:
                client.post(f"/api/v1/jobs/{job['id']}/cancel")
            cursor = page["next_cursor"]
            if not cursor:
                break


@schema.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_contract_under_generated_requests(case):
    # A job's input carries rules JSON Schema cannot state (a URL that resolves to
    # a private network, a browser step's per-action fields), so a schema-valid
    # submit may rightly be a 400 naming the field; every other check still applies.
    # The same goes for a batch's items (each one is a job's input), for a bulk replay's filter
    # (a time bound unless "all"; a registered kind), and for a schedule's cron expression, time
    # zone and job input (checked by cronsim, zoneinfo and the kind).
    refusable = {
        ("POST", "/api/v1/jobs"),
        ("POST", "/api/v1/batches"),
        ("POST", "/api/v1/jobs/retry"),
        ("POST", "/api/v1/schedules"),
        ("PATCH", "/api/v1/schedules/{schedule_id}"),
    }
    excluded = [positive_data_acceptance] if (case.method, case.path) in refusable else []
    case.call_and_validate(headers=bearer(TENANT), excluded_checks=excluded)
