"""Redis processes on loopback for the HA tests and the chaos run (bench/chaos.py):
one Redis, or a master with replicas and ``redis-server --sentinel`` processes
watching it.

Every process is started here and ended by its pid; ports are free loopback
ports; each server keeps its files in its own directory.
"""

import shutil
import signal
import subprocess
from pathlib import Path

import redis

from tests.support.ports import free_port
from tests.support.redis_server import MISSING, redis_server_binary
from tests.support.waiting import wait_until

MASTER_NAME = "longrun"


def _wait(predicate, timeout: float, what: str):
    return wait_until(predicate, timeout=timeout, message=what)


class RedisNode:
    """One redis-server (master or replica), by default with an append-only file, fsync always."""

    def __init__(
        self,
        directory: Path,
        *,
        password: str = "",
        replica_of: int | None = None,
        appendfsync: str = "always",
        appendonly: bool = True,
    ):
        if shutil.which(redis_server_binary()) is None:
            raise RuntimeError(MISSING)
        self.directory = directory
        self.port = free_port()
        self.password = password
        self.replica_of = replica_of
        self.appendfsync = appendfsync
        self.appendonly = appendonly
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self, **kwargs) -> redis.Redis:
        return redis.Redis(
            port=self.port, password=self.password or None, socket_timeout=2, socket_connect_timeout=0.5, **kwargs
        )

    def start(self) -> "RedisNode":
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.appendfsync,
            "--dir",
            str(self.directory),
            "--logfile",
            str(self.directory / "redis.log"),
            "--maxmemory-policy",
            "noeviction",
        ]
        if self.password:
            args += ["--requirepass", self.password, "--masterauth", self.password]
        if self.replica_of:  # only at first start: afterwards Sentinel decides who replicates whom
            args += ["--replicaof", "127.0.0.1", str(self.replica_of)]
            self.replica_of = None
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = self.client()
        try:
            _wait(lambda: _pings(client), 10, f"redis on {self.port}")
        except AssertionError:
            self.kill()
            raise
        finally:
            client.close()
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.alive():
            self.process.send_signal(sig)
            self.process.wait(10)

    def restart(self) -> "RedisNode":
        """kill -9, then start again on the same port and append-only file."""
        self.kill()
        return self.start()


class SentinelNode:
    def __init__(
        self,
        directory: Path,
        master_port: int,
        *,
        password: str = "",
        sentinel_password: str = "",
        quorum: int = 2,
        down_after_ms: int = 1000,
    ):
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.password = sentinel_password
        lines = [
            f"port {self.port}",
            "bind 127.0.0.1",
            f"dir {directory}",
            f"logfile {directory / 'sentinel.log'}",
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} {quorum}",
            f"sentinel down-after-milliseconds {MASTER_NAME} {down_after_ms}",
            f"sentinel failover-timeout {MASTER_NAME} 10000",
            f"sentinel parallel-syncs {MASTER_NAME} 2",
        ]
        if password:
            lines.append(f"sentinel auth-pass {MASTER_NAME} {password}")
        if sentinel_password:
            lines += [f"requirepass {sentinel_password}", f"sentinel sentinel-pass {sentinel_password}"]
        self.config = "\n".join(lines) + "\n"

    def start(self) -> "SentinelNode":
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "sentinel.conf"  # Sentinel rewrites its own file
        conf.write_text(self.config)
        self.process = subprocess.Popen(
            [redis_server_binary(), str(conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = self.client()
        try:
            _wait(lambda: _pings(client), 10, f"sentinel on {self.port}")
        finally:
            client.close()
        return self

    def client(self) -> redis.Redis:
        return redis.Redis(
            port=self.port,
            password=self.password or None,
            socket_timeout=1,
            socket_connect_timeout=0.5,
            decode_responses=True,
        )

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class SentinelCluster:
    """A master, ``replicas`` replicas and three sentinels (quorum 2), all on loopback."""

    def __init__(
        self,
        directory: Path,
        *,
        replicas: int = 2,
        password: str = "",
        sentinel_password: str = "",
        appendfsync: str = "always",
    ):
        self.password = password
        self.sentinel_password = sentinel_password
        master = RedisNode(directory / "redis-0", password=password, appendfsync=appendfsync)
        self.nodes = [master] + [
            RedisNode(directory / f"redis-{i}", password=password, replica_of=master.port, appendfsync=appendfsync)
            for i in range(1, replicas + 1)
        ]
        self.sentinels = [
            SentinelNode(
                directory / f"sentinel-{i}", master.port, password=password, sentinel_password=sentinel_password
            )
            for i in range(3)
        ]

    def start(self) -> "SentinelCluster":
        try:
            for node in self.nodes:
                node.start()
            master = self.nodes[0].client()
            _wait(
                lambda: (
                    master.info("replication")["connected_slaves"] == len(self.nodes) - 1
                    and all(
                        node.client().info("replication").get("master_link_status") == "up" for node in self.nodes[1:]
                    )
                ),
                20,
                "replicas in sync",
            )
            for sentinel in self.sentinels:
                sentinel.start()
            _wait(
                lambda: all(self._sentinel_knows_everyone(s) for s in self.sentinels),
                30,
                "sentinels to find the replicas and each other",
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _sentinel_knows_everyone(self, sentinel: SentinelNode) -> bool:
        try:
            info = sentinel.client().sentinel_master(MASTER_NAME)
        except redis.RedisError:
            return False
        return int(info.get("num-slaves", 0)) == len(self.nodes) - 1 and int(info.get("num-other-sentinels", 0)) == 2

    @property
    def addresses(self) -> str:
        """LONGRUN_REDIS_SENTINELS."""
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    def env(self) -> dict:
        """The settings that point Longrun at this cluster."""
        return {
            "LONGRUN_REDIS_SENTINELS": self.addresses,
            "LONGRUN_REDIS_SENTINEL_MASTER": MASTER_NAME,
            "LONGRUN_REDIS_PASSWORD": self.password,
            "LONGRUN_REDIS_SENTINEL_PASSWORD": self.sentinel_password,
        }

    def master_port(self) -> int | None:
        """The master as the sentinels' majority names it now."""
        votes: dict[int, int] = {}
        for sentinel in self.sentinels:
            try:
                addr = sentinel.client().sentinel_get_master_addr_by_name(MASTER_NAME)
            except redis.RedisError:
                continue
            if addr:
                votes[int(addr[1])] = votes.get(int(addr[1]), 0) + 1
        best = max(votes.items(), key=lambda kv: kv[1], default=None)
        return best[0] if best and best[1] >= 2 else None

    def master(self) -> RedisNode:
        port = self.master_port()
        return next(node for node in self.nodes if node.port == port)

    def kill_master(self) -> RedisNode:
        """kill -9 the current master; returns it (start it again to make it a replica)."""
        node = self.master()
        node.kill()
        return node

    def wait_failover(self, old_port: int, timeout: float = 30) -> RedisNode:
        """Until the sentinels name a new master that answers as one; returns it."""

        def promoted():
            port = self.master_port()
            if port is None or port == old_port:
                return None
            node = next(n for n in self.nodes if n.port == port)
            try:
                return node if node.client().info("replication")["role"] == "master" else None
            except redis.RedisError:
                return None

        return _wait(promoted, timeout, "a replica to be promoted")

    def stop(self) -> None:
        for process in [*self.sentinels, *self.nodes]:
            process.kill()


def _pings(client) -> bool:
    try:
        return client.ping()
    except redis.RedisError:
        return False
