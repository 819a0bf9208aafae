"""Fixtures for the security and limits tests: apps on the session Redis (or
another one) that know several tenants' API keys (tests/support/tenants.py)
and their own limits."""

import os

import pytest

from tests.support.tenants import api_keys_setting, bearer


@pytest.fixture(scope="session")
def make_app():
    """Factory: an in-process app with its own settings (tenants alice and bob known)."""
    from api import create_app
    from longrun.settings import from_env

    def make(redis_url: str | None = None, **overrides):
        env = dict(os.environ)
        if redis_url:
            env["REDIS_URL"] = redis_url
        overrides.setdefault("api_keys", api_keys_setting())
        settings = from_env(env, **overrides)
        return create_app({"TESTING": True, "LONGRUN_SETTINGS": settings})

    return make


@pytest.fixture(scope="session")
def tenants_app(make_app):
    """The session Redis and worker, with tenants alice and bob."""
    return make_app()


@pytest.fixture
def as_tenant(tenants_app):
    """as_tenant("alice") -> a test client that sends alice's key."""

    def client_for(tenant: str):
        test_client = tenants_app.test_client()
        test_client.environ_base["HTTP_AUTHORIZATION"] = bearer(tenant)["Authorization"]
        return test_client

    return client_for
