"""Fixtures of the HA tests: a Sentinel-managed Redis (a master, two replicas,
three sentinels, all with passwords, on loopback ports), workers and an API
pointed at it through LONGRUN_REDIS_SENTINELS. Every process is started here
and ended by its pid."""

import os
import uuid

import pytest

from tests.support.processes import WorkerProcess, subprocess_env
from tests.support.redis_cluster import SentinelCluster
from tests.support.session import SESSION_DIR

REDIS_PASSWORD = "ha-redis-secret"
SENTINEL_PASSWORD = "ha-sentinel-secret"


@pytest.fixture
def cluster():
    nodes = SentinelCluster(
        SESSION_DIR / f"ha-{uuid.uuid4().hex[:6]}", password=REDIS_PASSWORD, sentinel_password=SENTINEL_PASSWORD
    ).start()
    yield nodes
    nodes.stop()


@pytest.fixture
def ha_settings(cluster):
    """Settings for an in-process app on the cluster (with overrides)."""
    from longrun.settings import from_env

    def make(**overrides):
        return from_env({**os.environ, **cluster.env()}, **overrides)

    return make


@pytest.fixture
def ha_workers(cluster):
    """Factory: real workers pointed at the cluster's sentinels; stopped (then killed) after the test."""
    started: list[WorkerProcess] = []

    def start(name="ha", concurrency=2, **env) -> WorkerProcess:
        proc = WorkerProcess(name, subprocess_env(**cluster.env(), **env), concurrency, log_dir=SESSION_DIR)
        started.append(proc)
        return proc.start(cluster.master().url)

    yield start
    for proc in started:
        proc.stop(timeout=10)
        proc.kill_group()


@pytest.fixture
def ha_client(ha_settings, api_headers):
    """Factory: an in-process API client on the cluster."""
    from api import create_app

    def make(**overrides):
        client = create_app({"TESTING": True, "LONGRUN_SETTINGS": ha_settings(**overrides)}).test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = api_headers["Authorization"]
        return client

    return make
