"""Fixtures for the seed compatibility tests: an HTTP session as a seed's
client would hold it, against the live API (gunicorn) and the session worker.

The one change a seed client needs is the API key header (``api_headers``);
everything else (paths, fields, polling) is the seed's own.
"""

import pytest
import requests


@pytest.fixture
def seed_session(api_headers):
    """A requests.Session sending the API key on every request, closed after the test."""
    with requests.Session() as session:
        session.headers.update(api_headers)
        yield session


@pytest.fixture
def base_url(live_api) -> str:
    return live_api.url
