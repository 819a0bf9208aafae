"""Fixtures of the browser tests: the test site (tests/support/pages.py) on
127.0.0.1, and a way to count a job's Chromium processes."""

from pathlib import Path

import pytest

from tests.support.pages import PageServer


@pytest.fixture(scope="session")
def test_pages():
    pages = PageServer().start()
    yield pages
    pages.stop()


@pytest.fixture
def chromium_processes(redis_url):
    """``chromium_processes(job_id=None)``: pids of live Chromium processes of that
    job, or of any browser job of this test session (other sessions on the machine
    may run browsers too). Found by the job marker and the session's REDIS_URL,
    which Chromium inherits from its worker."""
    from backends.browser.processes import MARKER_ENV, marked_processes

    session = f"REDIS_URL={redis_url}".encode()

    def find(job_id: str | None = None) -> list[int]:
        if job_id is not None:
            return marked_processes(job_id)
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    env = (entry / "environ").read_bytes().split(b"\0")
                    stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                except OSError:
                    continue
                if stat != "Z" and session in env and any(v.startswith(MARKER_ENV.encode() + b"=") for v in env):
                    found.append(int(entry.name))
        return found

    return find
