"""Child processes the tests and the bench start: real Celery workers and gunicorn.

Each runs in its own session (process group), writes to its own log file and
is ended by its pid (SIGTERM, then SIGKILL of its group), never by name: other
runs on the machine have workers and gunicorns of their own.
"""

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import redis

from longrun import keys
from tests.support.paths import ROOT
from tests.support.ports import free_port
from tests.support.waiting import wait_until


def subprocess_env(**overrides: object) -> dict[str, str]:
    """This process's environment with the repository on PYTHONPATH, and ``overrides``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update({k: str(v) for k, v in overrides.items()})
    return env


@contextmanager
def ended_on_failure(stop: Callable[[], None]) -> Iterator[None]:
    """Run ``stop`` if the block fails: a process that never became ready is not left behind."""
    try:
        yield
    except BaseException:
        stop()
        raise


class ChildProcess:
    """A subprocess in its own session, logging to ``log_path``; ``spawn()`` starts it."""

    stop_timeout: float = 20

    def __init__(self, name: str, args: Sequence[str], env: dict[str, str], log_path: Path):
        self.name = name
        self.args = list(args)
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def spawn(self) -> "ChildProcess":
        with open(self.log_path, "ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(
                self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def check(self) -> None:
        """Fail, with the end of its log, if the process has exited."""
        if self.exited():
            assert self.process is not None
            raise RuntimeError(
                f"{self.name} exited ({self.process.returncode}); see {self.log_path}:\n{self.log()[-3000:]}"
            )

    def children(self) -> list[int]:
        """Pids of its direct children (a worker's pool, gunicorn's workers)."""
        out = subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM (a warm shutdown), then SIGKILL of its process group if it hangs."""
        self.terminate()
        self.wait_or_kill(timeout)

    def terminate(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)

    def wait_or_kill(self, timeout: float | None = None) -> None:
        """Wait for it to exit (after ``terminate``); SIGKILL its process group past ``timeout``."""
        if self.process is None:
            return
        try:
            self.process.wait(self.stop_timeout if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self.kill_group()

    def kill_group(self) -> None:
        if self.alive():
            assert self.process is not None
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def celery_worker_args(
    app: str,
    hostname: str,
    concurrency: int,
    *,
    loglevel: str = "info",
    queues: str | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """``celery worker`` as the tests and the bench run it: prefork, no gossip or mingle."""
    args = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        app,
        "worker",
        "-n",
        hostname,
        "-c",
        str(concurrency),
        "-P",
        "prefork",
        "-l",
        loglevel,
        "--without-gossip",
        "--without-mingle",
    ]
    if queues:
        args += ["-Q", queues]
    return args + list(extra_args)


class WorkerProcess(ChildProcess):
    """A real Longrun ``celery worker``; ready once its presence bootstep has written its heartbeat."""

    def __init__(
        self, name: str, env: dict[str, str], concurrency: int = 2, extra_args: Sequence[str] = (), *, log_dir: Path
    ):
        self.hostname = f"{name}-{uuid.uuid4().hex[:6]}@test"
        super().__init__(
            name,
            celery_worker_args("workers.celery_app", self.hostname, concurrency, extra_args=extra_args),
            env,
            log_dir / f"worker-{self.hostname}.log",
        )

    def start(self, redis_url: str) -> "WorkerProcess":
        self.spawn()
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        with ended_on_failure(self.kill_group):
            wait_until(
                lambda: client.zscore(keys.WORKERS, self.hostname) is not None or self.exited(),
                timeout=60,
                message=f"worker {self.hostname}",
            )
        client.close()
        if self.exited():
            raise RuntimeError(f"worker exited early; see {self.log_path}:\n{self.log()[-3000:]}")
        return self

    def pool_pids(self) -> list[int]:
        return self.children()


class LiveServer(ChildProcess):
    """gunicorn serving a WSGI app on a free loopback port, as in production.

    Ready once ``ready_path`` answers 200. ``threads=None`` leaves ``--threads``
    out (gunicorn turns a sync worker with threads into gthread).
    """

    stop_timeout = 15

    def __init__(
        self,
        env: dict[str, str],
        workers: int = 2,
        worker_class: str = "gthread",
        threads: int | None = 4,
        *,
        log_dir: Path,
        name: str | None = None,
        app: str = "api.wsgi:app",
        options: Sequence[str] = ("--graceful-timeout", "5", "--timeout", "120"),
        ready_path: str = "/openapi.json",
        ready_timeout: float = 30,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready_path = ready_path
        self.ready_timeout = ready_timeout
        args = [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "-b",
            f"127.0.0.1:{self.port}",
            "-w",
            str(workers),
            "-k",
            worker_class,
        ]
        if threads is not None:
            args += ["--threads", str(threads)]
        name = name or f"gunicorn-{self.port}"
        super().__init__(name, [*args, *options], env, log_dir / f"{name}.log")

    def start(self) -> "LiveServer":
        self.spawn()
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        def up() -> bool:
            if self.exited():
                raise RuntimeError(f"gunicorn exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=5) as response:
                    return response.status == 200
            except (urllib.error.URLError, OSError):  # still booting, or a busy machine (HTTPError: not 200)
                return False

        with ended_on_failure(self.stop):
            wait_until(up, timeout=self.ready_timeout, message=f"gunicorn at {self.url}")
