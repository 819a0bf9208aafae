"""Fixtures for batch tests: a Redis of their own (so key counts and queue depths
are exact), an in-process API on it, and real workers started per test."""

import json

import pytest

from longrun import keys
from tests.support.waiting import wait_until


class BatchStack:
    def __init__(self, server, client, settings, start_worker):
        self.server = server
        self.client = client
        self.settings = settings
        self._start_worker = start_worker
        import redis

        self.redis = redis.Redis.from_url(server.url, decode_responses=True)

    def start_worker(self, concurrency: int = 2, **env):
        return self._start_worker("batch", concurrency=concurrency, redis=self.server.url, **env)

    def submit(self, kind="sleep", items=None, expect=202, **body):
        response = self.client.post("/api/v1/batches", json={"kind": kind, "items": items or [], **body})
        assert response.status_code == expect, response.get_json()
        return response

    def batch(self, bid):
        response = self.client.get(f"/api/v1/batches/{bid}")
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def wait_batch(self, bid, *statuses, timeout=60.0):
        return wait_until(
            lambda: (doc := self.batch(bid))["status"] in statuses and doc,
            timeout=timeout,
            message=f"batch {bid} to be {statuses}",
        )

    def results(self, bid):
        response = self.client.get(f"/api/v1/batches/{bid}/results")
        assert response.status_code == 200
        assert response.mimetype == "application/x-ndjson"
        return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]

    def longrun_keys(self):
        return sorted(
            k
            for k in self.redis.scan_iter(match=keys.PREFIX + "*")
            if not k.startswith(keys.METRICS_KEYS) and k not in (keys.WORKERS, keys.JANITOR_LOCK)
        )


@pytest.fixture
def poll_until():
    """``poll_until(predicate, timeout=, message=)``: tests.support's wait_until, as a fixture."""
    return wait_until


@pytest.fixture
def batch_stack(redis_factory, start_worker, settings_for, client_for):
    server = redis_factory()

    def make(**overrides):
        settings = settings_for(server.url, **overrides)
        return BatchStack(server, client_for(settings), settings, start_worker)

    return make
