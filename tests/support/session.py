"""The test session's own directory, API key and environment.

Importing this module creates the session directory; ``pytest_unconfigure``
(conftest.py) removes it. ``bench/`` does not import it.
"""

import hashlib
import tempfile
from pathlib import Path

SESSION_DIR = Path(tempfile.mkdtemp(prefix="longrun-tests-"))
"""Logs of every process the session starts, Redis data, artifacts."""

TEST_API_KEY = "test-key-0123456789abcdef"
"""The key every test request sends (the session's API is configured with it)."""

# Short timings so that cancel, lease and retention tests finish quickly.
TEST_ENV = {
    "LONGRUN_ARTIFACTS_DIR": str(SESSION_DIR / "artifacts"),
    "LONGRUN_LEASE_SECONDS": "4",
    "LONGRUN_HEARTBEAT_SECONDS": "0.3",
    "LONGRUN_CANCEL_GRACE_SECONDS": "2",
    "LONGRUN_PROGRESS_INTERVAL_SECONDS": "0.05",
    # Test servers listen on 127.0.0.1; the URL rules refuse it unless allow-listed.
    # Refusal tests use other private addresses (localhost, 10/8, 169.254.169.254).
    "LONGRUN_URL_ALLOWLIST": "127.0.0.1",
    # Every API of the session (in-process and gunicorn) knows the test key, as tenant "default".
    "LONGRUN_API_KEYS": "default=" + hashlib.sha256(TEST_API_KEY.encode()).hexdigest(),
    # Tests poll hard; the rate limit has its own tests (tests/api/test_limits.py).
    "LONGRUN_RATE_LIMIT_REQUESTS": "0",
}
