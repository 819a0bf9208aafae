"""Fixtures for the flow-control tests (tests/flow): a private Redis with an
in-process API that knows tenants alice and bob, and the helpers to watch
what fair dispatch did."""

import pytest

from tests.support.tenants import api_keys_setting, bearer
from tests.support.waiting import wait_until


class FlowRig:
    """One Redis, an API on it (own settings) and the workers a test starts."""

    def __init__(self, redis_url, make_app, start_worker, **settings):
        self.redis_url = redis_url
        self.settings = settings
        self.app = make_app(redis_url, **settings)
        self.client = self.app.test_client()
        self.svc = self.app.extensions["longrun"]
        self.redis = self.svc.store.redis
        self._start_worker = start_worker

    def worker(self, name="flow", concurrency=1, **env):
        """A real worker process on this Redis with the same flow settings as the API."""
        env = {f"LONGRUN_{k.upper()}": v for k, v in self.settings.items()} | env
        return self._start_worker(name, concurrency=concurrency, redis=self.redis_url, **env)

    def submit(self, tenant="alice", kind="sleep", input=None, status=202, **body):
        response = self.client.post(
            "/api/v1/jobs", json={"kind": kind, "input": input or {}, **body}, headers=bearer(tenant)
        )
        assert response.status_code == status, response.get_json()
        return response.get_json()

    def job(self, job_id, tenant="alice"):
        return self.client.get(f"/api/v1/jobs/{job_id}", headers=bearer(tenant)).get_json()

    def call(self, method, path, tenant="alice", **kwargs):
        return self.client.open(path, method=method, headers=bearer(tenant), **kwargs)

    def wait_status(self, job_id, *statuses, tenant="alice", timeout=30.0):
        return wait_until(
            lambda: (doc := self.job(job_id, tenant))["status"] in statuses and doc,
            timeout=timeout,
            message=f"job {job_id} to be {statuses}",
        )


@pytest.fixture
def flow_rig(redis_factory, make_app, start_worker):
    """Factory: flow_rig(**settings) -> a FlowRig on a fresh Redis."""

    def make(**settings):
        return FlowRig(redis_factory().url, make_app, start_worker, **settings)

    return make


@pytest.fixture(scope="session")
def tenant_keys_env() -> dict:
    """Env for a process (gunicorn) that must know alice's and bob's keys."""
    return {"LONGRUN_API_KEYS": api_keys_setting()}


@pytest.fixture
def wait_for():
    return wait_until
