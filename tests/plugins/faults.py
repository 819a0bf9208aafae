"""Fixtures of the fault and job-store tests: a fakeredis job store for unit
tests of our Lua scripts. The helpers that find and kill the process running
a job are in tests/support/jobs.py."""

import pytest


@pytest.fixture
def fake_store():
    """A JobStore over fakeredis (with Lua), with a cap of 3 attempts."""
    import fakeredis

    from longrun.jobstore import JobStore
    from longrun.settings import Settings

    client = fakeredis.FakeRedis(decode_responses=True)
    store = JobStore(
        client, Settings(redis_url="redis://fake", max_attempts=3, lease_seconds=10, visibility_timeout_seconds=600)
    )
    yield store
    client.close()
