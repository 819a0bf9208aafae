"""Fixtures of the security tests: the recording internal service and the
"public" server of tests/support/recording.py, and a stack of its own (Redis, a
real worker, gunicorn) whose URL allow-list holds only the public server's port.

The stack has its own Redis so that no other worker of the session (whose
allow-list trusts all of 127.0.0.1) ever takes its jobs.
"""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.recording import InternalService, PublicService


@pytest.fixture
def internal_service():
    service = InternalService()
    yield service
    service.close()


@pytest.fixture
def public_service(internal_service):
    service = PublicService(internal_service)
    yield service
    service.close()


class Stack:
    """gunicorn + a real worker on a Redis of their own; the allow-list holds one port."""

    def __init__(self, api, headers: dict):
        self.url = api.url
        self.headers = headers

    def submit(self, kind: str, job_input: dict) -> requests.Response:
        return requests.post(
            self.url + "/api/v1/jobs", json={"kind": kind, "input": job_input}, headers=self.headers, timeout=10
        )

    def wait(self, job_id: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            doc = requests.get(f"{self.url}/api/v1/jobs/{job_id}", headers=self.headers, timeout=10).json()
            if doc["status"] in ("completed", "failed", "cancelled"):
                return doc
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} did not finish in {timeout}s")

    def run(self, kind: str, job_input: dict, timeout: float = 60) -> dict:
        response = self.submit(kind, job_input)
        assert response.status_code == 202, response.text
        return self.wait(response.json()["id"], timeout)


@pytest.fixture
def stack(public_service, redis_factory, start_worker, start_api, api_headers):
    allowlist = f"127.0.0.1:{public_service.port}"
    redis = redis_factory()
    start_worker("security", concurrency=1, redis=redis.url, LONGRUN_URL_ALLOWLIST=allowlist)
    api = start_api(env={"REDIS_URL": redis.url, "LONGRUN_URL_ALLOWLIST": allowlist})
    return Stack(api, api_headers)
