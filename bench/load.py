"""Load test (not a test in the suite): many submits from concurrent clients.

    .venv/bin/python -m bench.load [--submits 5000] [--clients 32] [--workers 2]

Starts everything it talks to on loopback and ends it by pid: a redis-server
on a free port (append-only, fsync every second, as in compose), gunicorn
(gthread) serving the API, and Celery workers. Then:

1. baseline: the same clients call GET /api/v1/health (HTTP stack + Redis, no job);
2. load: ``--submits`` POST /api/v1/jobs of ``sleep`` jobs (0 s) from ``--clients``
   threads, each with its own keep-alive connection;
3. waits until every job is finished and checks that none was lost or duplicated:
   every submit answered 202 with a distinct id, every id is ``completed`` with
   ``attempts == 1``, and the tenant's index holds exactly those ids.

Prints throughput and p50/p99 submit latency, and their ratio to the baseline.
Bounded: it gives up after ``--timeout`` seconds. The rate limit is off for
the bench key (the point is the system's capacity, not the limiter's).
"""

import argparse
import hashlib
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if __package__ in (None, ""):  # run as a script (python bench/load.py): the repository's packages
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis
import requests

from longrun import keys
from longrun.states import JobStatus
from tests.support.processes import ChildProcess, LiveServer, celery_worker_args, subprocess_env
from tests.support.redis_server import MISSING as REDIS_MISSING
from tests.support.redis_server import RedisServer, redis_server_binary
from tests.support.waiting import wait_until

KEY = "bench-key-" + uuid.uuid4().hex
TENANT = "bench"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Stack:
    """redis-server + gunicorn + celery workers, all ours, all on loopback."""

    def __init__(self, workdir: Path, workers: int, concurrency: int, api_workers: int):
        self.workdir = workdir
        self.workers, self.concurrency, self.api_workers = workers, concurrency, api_workers
        # Append-only, fsync every second, as in compose.
        self.redis = RedisServer(workdir / "redis", appendonly=True, appendfsync="everysec")
        self.redis_port = self.redis.port
        self.redis_url = self.redis.url
        self.processes: list[ChildProcess] = []
        self.env = subprocess_env(
            REDIS_URL=self.redis_url,
            LONGRUN_API_KEYS=f"{TENANT}={hashlib.sha256(KEY.encode()).hexdigest()}",
            LONGRUN_RATE_LIMIT_REQUESTS="0",
            LONGRUN_ARTIFACTS_DIR=str(workdir / "artifacts"),
            LONGRUN_PROGRESS_INTERVAL_SECONDS="0.2",
        )
        self.api = LiveServer(
            self.env,
            api_workers,
            "gthread",
            16,
            log_dir=workdir,
            name="gunicorn",
            options=("--timeout", "120", "--log-level", "warning"),
            ready_timeout=90,
        )
        self.api_port, self.api_url = self.api.port, self.api.url

    def start(self) -> None:
        if not shutil.which(redis_server_binary()):
            raise SystemExit(REDIS_MISSING)
        self.redis.start()
        for i in range(self.workers):
            hostname = f"bench{i}-{uuid.uuid4().hex[:4]}@loadtest"
            args = celery_worker_args("workers.celery_app", hostname, self.concurrency, loglevel="warning")
            self.processes.append(ChildProcess(f"worker{i}", args, self.env, self.workdir / f"worker{i}.log").spawn())
        self.processes.append(self.api)
        self.api.start()

        def healthy() -> bool:
            return requests.get(self.api_url + "/api/v1/health", timeout=2).status_code == 200

        wait_until(healthy, timeout=90, interval=0.2, message="the API and a worker (GET /api/v1/health)")

    def stop(self) -> None:
        for proc in reversed(self.processes):  # all shut down at once, Redis last
            proc.terminate()
        for proc in reversed(self.processes):
            proc.wait_or_kill(timeout=20)
        self.redis.stop()


def run_clients(total: int, clients: int, request) -> tuple[list, float]:
    """``request(session, i)`` -> (ok, latency, value) for i in range(total), over ``clients`` threads."""
    local = threading.local()
    sessions = []
    lock = threading.Lock()

    def one(i):
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers["Authorization"] = f"Bearer {KEY}"
            with lock:
                sessions.append(local.session)
        return request(local.session, i)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, range(total)))
    elapsed = time.perf_counter() - started
    for session in sessions:
        session.close()
    return results, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submits", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--baseline", type=int, default=2000, help="health calls for the baseline")
    parser.add_argument("--workers", type=int, default=2, help="celery worker processes")
    parser.add_argument("--concurrency", type=int, default=4, help="pool processes per worker")
    parser.add_argument("--api-workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--timeout", type=float, default=900, help="give up after this many seconds")
    args = parser.parse_args()
    if not (0 < args.submits <= 100_000 and 0 < args.clients <= 256):
        parser.error("keep it bounded: 1-100000 submits, 1-256 clients")

    workdir = Path(tempfile.mkdtemp(prefix="longrun-bench-"))
    stack = Stack(workdir, args.workers, args.concurrency, args.api_workers)
    deadline = time.monotonic() + args.timeout
    try:
        stack.start()
        print(
            f"stack: redis :{stack.redis_port}, gunicorn {args.api_workers}x16 threads :{stack.api_port}, "
            f"{args.workers} workers x {args.concurrency} processes; logs in {workdir}"
        )

        def health(session, i):
            t = time.perf_counter()
            r = session.get(stack.api_url + "/api/v1/health", timeout=30)
            return r.status_code == 200, time.perf_counter() - t, None

        base, base_elapsed = run_clients(args.baseline, args.clients, health)
        base_lat = [lat for _, lat, _ in base]

        def submit(session, i):
            t = time.perf_counter()
            try:
                r = session.post(
                    stack.api_url + "/api/v1/jobs", timeout=60, json={"kind": "sleep", "input": {"seconds": 0}}
                )
            except requests.RequestException as exc:
                return False, time.perf_counter() - t, repr(exc)
            lat = time.perf_counter() - t
            return (
                r.status_code == 202,
                lat,
                r.json().get("id") if r.status_code == 202 else f"{r.status_code} {r.text[:200]}",
            )

        results, elapsed = run_clients(args.submits, args.clients, submit)
        errors = [value for ok, _, value in results if not ok]
        ids = [value for ok, _, value in results if ok]
        lat = [lat for _, lat, _ in results]
        print(
            f"baseline: {args.baseline} GET /api/v1/health in {base_elapsed:.2f}s = "
            f"{args.baseline / base_elapsed:.0f} req/s; p50 {statistics.median(base_lat) * 1000:.1f} ms, "
            f"p99 {percentile(base_lat, 99) * 1000:.1f} ms"
        )
        print(
            f"submits:  {args.submits} POST /api/v1/jobs from {args.clients} clients in {elapsed:.2f}s = "
            f"{args.submits / elapsed:.0f} submits/s; p50 {statistics.median(lat) * 1000:.1f} ms, "
            f"p99 {percentile(lat, 99) * 1000:.1f} ms"
        )
        print(
            f"ratio to baseline: throughput {args.submits / elapsed / (args.baseline / base_elapsed):.2f}x, "
            f"p50 latency {statistics.median(lat) / statistics.median(base_lat):.2f}x"
        )
        print(f"errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))

        # Every accepted job must finish: watch the tenant's counts, then check each job.
        store = redis.Redis.from_url(stack.redis_url, decode_responses=True)
        finished_by = None
        drain_started = time.monotonic()
        while time.monotonic() < deadline:
            pending = store.zcard(keys.tenant_index(TENANT, JobStatus.PENDING)) + store.zcard(
                keys.tenant_index(TENANT, JobStatus.RUNNING)
            )
            if pending == 0:
                finished_by = time.monotonic()
                break
            time.sleep(0.5)
        if finished_by is None:
            print(f"FAILED: jobs still unfinished after {args.timeout:.0f}s")
            return 1
        pipe = store.pipeline(transaction=False)
        for job_id in ids:
            pipe.hmget(keys.job(job_id), "status", "attempts")
        records = pipe.execute()
        indexed = set(store.zrange(keys.tenant_index(TENANT), 0, -1))
        store.close()
        completed = sum(1 for status, attempts in records if status == "completed" and attempts == "1")
        lost = [i for i, (status, _) in zip(ids, records) if status != "completed"]
        duplicated_ids = len(ids) - len(set(ids))
        reattempted = sum(1 for status, attempts in records if attempts not in (None, "1"))
        total_elapsed = finished_by - drain_started + elapsed
        print(
            f"jobs:     {completed}/{len(ids)} completed with one attempt; lost {len(lost)}, "
            f"duplicate ids {duplicated_ids}, run more than once {reattempted}, "
            f"index holds {len(indexed)} (extra {len(indexed - set(ids))})"
        )
        print(
            f"end to end: {len(ids)} jobs submitted and finished in {total_elapsed:.1f}s = "
            f"{len(ids) / total_elapsed:.0f} jobs/s"
        )
        ok = (
            not errors
            and completed == args.submits
            and not lost
            and not duplicated_ids
            and not reattempted
            and indexed == set(ids)
        )
        print("RESULT: " + ("ok" if ok else "FAILED"))
        return 0 if ok else 1
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
