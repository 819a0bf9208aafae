"""Fixtures for the Python client and CLI tests: a client of the live server and
a runner of the ``longrun`` CLI in a subprocess."""

import subprocess
import sys
from dataclasses import dataclass

import pytest

from tests.support.paths import ROOT
from tests.support.processes import subprocess_env


def api_key(api_headers: dict) -> str:
    return api_headers["Authorization"].removeprefix("Bearer ")


@pytest.fixture
def lr_client(live_api, api_headers):
    """A longrun_client.Client of the live gunicorn server, with the test key."""
    from longrun_client import Client

    with Client(live_api.url, api_key=api_key(api_headers), timeout=30) as client:
        yield client


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(live_api, api_headers):
    """Run ``longrun ARGS`` as a subprocess against the live server (config from the env)."""

    def run(*args, timeout: float = 90, **env) -> CliRun:
        child_env = subprocess_env(**{"LONGRUN_URL": live_api.url, "LONGRUN_TOKEN": api_key(api_headers), **env})
        done = subprocess.run(
            [sys.executable, "-m", "longrun_client", *args],
            cwd=ROOT,
            env=child_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return CliRun(done.returncode, done.stdout, done.stderr)

    return run
