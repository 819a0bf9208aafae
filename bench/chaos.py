"""The chaos run: ``python -m bench.chaos [--sentinel] [--jobs 3000] [--seconds 900]``.

``sleep`` jobs of mixed length go through two workers (four pool processes
each) while, at random times, pool processes and whole workers are SIGKILLed
(only the pids this run started; a killed worker is replaced), Redis is
killed and restarted on its append-only file (``appendfsync always``), and,
with ``--sentinel``, the master is killed, a replica promoted, and the old
master restarted on its file to rejoin as a replica. Clients (threads over the
API app, in-process) submit every job with an Idempotency-Key and retry a 503
with that key until it is accepted.

At the end every accepted job is checked: a final state, exactly one final
event and one result, attempts within LONGRUN_MAX_ATTEMPTS, none left
running; and the API holds no job nobody was told about. It prints the counts
(accepted, completed, failed as worker-lost, lost, duplicated) and the longest
window in which a client got only 503s. Everything is loopback and bounded by
``--seconds`` (the drain included) and ``--jobs``.
"""

import argparse
import json
import os
import random
import signal
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import redis

from bench.run import log
from longrun import keys
from longrun.states import FINAL_STATUSES
from tests.support.paths import ROOT
from tests.support.processes import ChildProcess, celery_worker_args
from tests.support.redis_cluster import RedisNode, SentinelCluster

API_KEY = "chaos-key-0123456789abcdef"
TENANT = "default"
MAX_ATTEMPTS = 3
FINAL = tuple(sorted(status.value for status in FINAL_STATUSES))

# Short timings, so that a lost worker's job is re-queued in seconds, not minutes.
ENV = {
    "LONGRUN_LEASE_SECONDS": "4",
    "LONGRUN_HEARTBEAT_SECONDS": "0.5",
    "LONGRUN_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    # kombu gives back the messages a killed worker had reserved after this long.
    "LONGRUN_VISIBILITY_TIMEOUT_SECONDS": "30",
    "LONGRUN_RECONCILE_SECONDS": "6",
    "LONGRUN_RATE_LIMIT_REQUESTS": "0",
    "LONGRUN_MAX_QUEUE_DEPTH": "0",
    "LONGRUN_PROGRESS_INTERVAL_SECONDS": "0.5",
}


@dataclass
class Plan:
    jobs: int = 3000
    seconds: float = 900  # the whole run, drain included
    submit_seconds: float = 240  # submissions are spread over this long
    clients: int = 8
    fault_every: tuple[float, float] = (3.0, 8.0)
    # At most this many of each fault.
    pool_kills: int = 40
    worker_kills: int = 6
    redis_faults: int = 4
    seed: int = 1


SHORT = Plan(
    jobs=150,
    seconds=120,
    submit_seconds=20,
    clients=4,
    fault_every=(2.0, 4.0),
    pool_kills=6,
    worker_kills=2,
    redis_faults=2,
)


def job_seconds(rng: random.Random) -> float:
    """Mostly short jobs, some of a second or two, a few long enough to span a fault."""
    roll = rng.random()
    if roll < 0.7:
        return round(rng.uniform(0.02, 0.3), 3)
    if roll < 0.95:
        return round(rng.uniform(0.5, 2.0), 3)
    return round(rng.uniform(3.0, 5.0), 3)


@dataclass
class Counts:
    accepted: int = 0
    completed: int = 0
    failed_worker_lost: int = 0
    failed_other: int = 0
    lost: int = 0
    duplicated: int = 0
    left_running: int = 0
    over_attempts: int = 0
    no_result: int = 0
    http_500: int = 0
    longest_503_window_seconds: float = 0.0
    unavailable_codes: dict = field(default_factory=dict)  # error code of every 503 clients got -> how many
    faults: dict = field(default_factory=dict)
    seconds: float = 0.0


class Redis:
    """One Redis, or a Sentinel cluster: what the run points Longrun at, and how it breaks it."""

    def __init__(self, workdir: Path, sentinel: bool, min_replicas: int):
        self.sentinel = sentinel
        self.min_replicas = min_replicas
        if sentinel:
            self.cluster = SentinelCluster(
                workdir / "redis", password="chaos-redis", sentinel_password="chaos-sentinel"
            )
            self.cluster.start()
        else:
            self.node = RedisNode(workdir / "redis").start()
        self.down: RedisNode | None = None

    def env(self) -> dict:
        env = {"LONGRUN_REDIS_MIN_REPLICAS": str(self.min_replicas)}
        if self.sentinel:
            return {**env, **self.cluster.env()}
        return {**env, "REDIS_URL": self.node.url}

    def master(self) -> RedisNode:
        return self.cluster.master() if self.sentinel else self.node

    def client(self) -> redis.Redis:
        """A client of whoever is master now (retrying through a failover)."""
        for _ in range(200):
            try:
                client = self.master().client(decode_responses=True)
                client.ping()
                return client
            except (redis.RedisError, StopIteration):
                time.sleep(0.1)
        raise RuntimeError("no Redis master")

    def fault(self) -> str:
        if not self.sentinel:
            self.node.kill()
            time.sleep(random.uniform(0.2, 1.5))
            self.node.start()  # same port, same append-only file
            return "redis restarted on its append-only file"
        if self.down is not None:  # the old master comes back on its file, as a replica
            self.down.start()
            self.down = None
        old = self.cluster.kill_master()
        self.down = old
        self.cluster.wait_failover(old.port, timeout=60)
        return "master killed, replica promoted"

    def heal(self) -> None:
        if self.sentinel and self.down is not None:
            self.down.start()
            self.down = None

    def stop(self) -> None:
        if self.sentinel:
            self.cluster.stop()
        else:
            self.node.kill()


class Workers:
    def __init__(self, workdir: Path, env: dict, redis_: Redis):
        self.workdir = workdir
        self.env = env
        self.redis = redis_
        self.procs: list[ChildProcess] = []
        self.started = 0

    def start(self) -> ChildProcess:
        self.started += 1
        hostname = f"chaos{self.started}-{uuid.uuid4().hex[:4]}@bench"
        proc = ChildProcess(
            f"worker-{self.started}",
            celery_worker_args("workers.celery_app", hostname, 4, loglevel="warning"),
            self.env,
            self.workdir / f"worker-{self.started}.log",
        ).spawn()
        self.procs.append(proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            proc.check()
            try:
                if self.redis.client().zscore(keys.WORKERS, hostname) is not None:
                    return proc
            except redis.RedisError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"worker {hostname} did not come up; see {proc.log_path}")

    def live(self) -> list[ChildProcess]:
        return [p for p in self.procs if p.alive()]

    def kill_pool_process(self, rng: random.Random) -> bool:
        pids = [(p, child) for p in self.live() for child in p.children()]
        if not pids:
            return False
        _, pid = rng.choice(pids)
        try:
            os.kill(pid, signal.SIGKILL)  # a child of a worker this run started
        except ProcessLookupError:
            return False
        return True

    def kill_worker(self, rng: random.Random) -> bool:
        live = self.live()
        if not live:
            return False
        victim = rng.choice(live)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.process.wait(10)
        threading.Thread(target=self._replace, daemon=True).start()
        return True

    def _replace(self) -> None:
        time.sleep(random.uniform(0.5, 2.0))
        try:
            self.start()
        except RuntimeError as exc:
            log(f"replacement worker failed: {exc}")

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop(timeout=15)


class Clients:
    """Threads submitting jobs through the API app, retrying 503s with the job's Idempotency-Key."""

    def __init__(self, app, plan: Plan, rng: random.Random):
        self.app = app
        self.plan = plan
        self.accepted: dict[str, str] = {}  # idempotency key -> job id
        self.lock = threading.Lock()
        self.windows: list[float] = []
        self.http_500 = 0
        self.codes: dict[str, int] = {}
        self.next_index = 0
        self.inputs = [{"seconds": job_seconds(rng), "steps": rng.choice([1, 2, 3])} for _ in range(plan.jobs)]
        self.started = time.monotonic()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(plan.clients)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self, timeout: float) -> None:
        for thread in self.threads:
            thread.join(max(0.0, timeout))

    def _take(self) -> int | None:
        with self.lock:
            if self.next_index >= self.plan.jobs:
                return None
            self.next_index += 1
            return self.next_index - 1

    def _run(self) -> None:
        client = self.app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {API_KEY}"
        deadline = self.started + self.plan.seconds * 0.6
        while (index := self._take()) is not None:
            # Paced: job i is due at i / jobs of the submit period.
            due = self.started + self.plan.submit_seconds * index / self.plan.jobs
            time.sleep(max(0.0, due - time.monotonic()))
            key = f"chaos-{index}"
            failing_since = None
            while time.monotonic() < deadline:
                response = client.post(
                    "/api/v1/jobs",
                    json={"kind": "sleep", "input": self.inputs[index]},
                    headers={"Idempotency-Key": key},
                )
                if response.status_code in (200, 202):
                    with self.lock:
                        self.accepted[key] = response.get_json()["id"]
                        if failing_since is not None:
                            self.windows.append(time.monotonic() - failing_since)
                    break
                with self.lock:
                    if response.status_code == 503:
                        code = (response.get_json() or {}).get("error", {}).get("code", "?")
                        self.codes[code] = self.codes.get(code, 0) + 1
                    elif response.status_code >= 500:
                        self.http_500 += 1
                if failing_since is None:
                    failing_since = time.monotonic()
                time.sleep(0.1)


def check(db: redis.Redis, accepted: dict[str, str], counts: Counts) -> list[str]:
    """Counts every accepted job's outcome; returns notes on the ones that went wrong."""
    notes = []
    ids = list(accepted.values())
    counts.accepted = len(ids)
    for start in range(0, len(ids), 200):
        chunk = ids[start : start + 200]
        pipe = db.pipeline(transaction=False)
        for job_id in chunk:
            pipe.hgetall(keys.job(job_id))
            pipe.get(keys.meta(job_id))
            pipe.xrange(keys.events(job_id))
        replies = pipe.execute()
        for job_id, record, meta, events in zip(chunk, replies[::3], replies[1::3], replies[2::3], strict=True):
            if not record:
                counts.lost += 1
                notes.append(f"{job_id}: no record")
                continue
            status = record["status"]
            finals = [e["status"] for _, e in events if e.get("status") in FINAL]
            if status == "running":
                counts.left_running += 1
            if status not in FINAL:
                counts.lost += 1
                notes.append(f"{job_id}: still {status} (attempts {record.get('attempts')})")
                continue
            if len(finals) > 1:
                counts.duplicated += 1
                notes.append(f"{job_id}: {len(finals)} final events {finals}")
            if int(record.get("attempts") or 0) > MAX_ATTEMPTS:
                counts.over_attempts += 1
                notes.append(f"{job_id}: {record.get('attempts')} attempts")
            meta_status = json.loads(meta)["status"] if meta else None
            if status == "completed":
                counts.completed += 1
                if meta_status != "SUCCESS" or json.loads(meta).get("result") is None:
                    counts.no_result += 1
                    notes.append(f"{job_id}: completed without its result ({meta_status})")
            elif status == "failed":
                error = json.loads(record.get("error") or "{}")
                if error.get("type") == "WorkerLost":
                    counts.failed_worker_lost += 1
                else:
                    counts.failed_other += 1
                    notes.append(f"{job_id}: failed {error}")
    # A job nobody was told about (a submit that made two) is a duplicate too.
    extra = db.zcard(keys.tenant_index(TENANT)) - len(set(ids))
    if extra > 0:
        counts.duplicated += extra
        notes.append(f"{extra} job record(s) beyond the accepted ones")
    return notes


def run(plan: Plan, *, sentinel: bool, min_replicas: int = 0, workdir: Path | None = None) -> Counts:
    import hashlib

    rng = random.Random(plan.seed)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="longrun-chaos-"))
    started = time.monotonic()
    hard_deadline = started + plan.seconds
    counts = Counts()
    redis_ = Redis(workdir, sentinel, min_replicas)
    env = {
        **os.environ,
        **ENV,
        **redis_.env(),
        "PYTHONPATH": str(ROOT),
        "LONGRUN_ARTIFACTS_DIR": str(workdir / "artifacts"),
        "LONGRUN_API_KEYS": f"{TENANT}=" + hashlib.sha256(API_KEY.encode()).hexdigest(),
    }
    os.environ.update({k: v for k, v in env.items() if k.startswith(("LONGRUN_", "REDIS_URL"))})
    workers = Workers(workdir, env, redis_)
    try:
        workers.start()
        workers.start()
        from api import create_app
        from longrun.settings import from_env

        app = create_app({"TESTING": True, "LONGRUN_SETTINGS": from_env(env)})
        clients = Clients(app, plan, rng)
        clients.start()
        faults = {"pool process killed": 0, "worker killed": 0, redis_fault_name(sentinel): 0}
        limits = {
            "pool process killed": plan.pool_kills,
            "worker killed": plan.worker_kills,
            redis_fault_name(sentinel): plan.redis_faults,
        }
        chaos_until = time.monotonic() + plan.submit_seconds + 5
        # A slow failover on a loaded machine can fill the whole window: go on past
        # it (within the hard deadline) until at least three faults have happened.
        while time.monotonic() < hard_deadline - 30 and (time.monotonic() < chaos_until or sum(faults.values()) < 3):
            time.sleep(rng.uniform(*plan.fault_every))
            open_faults = [name for name in faults if faults[name] < limits[name]]
            if not open_faults:
                break
            name = rng.choices(open_faults, weights=[6 if "pool" in n else 2 for n in open_faults])[0]
            if name == "pool process killed":
                done = workers.kill_pool_process(rng)
            elif name == "worker killed":
                done = len(workers.live()) > 1 and workers.kill_worker(rng)
            else:
                log(redis_.fault())
                done = True
            if done:
                faults[name] += 1
                log(f"fault: {name} ({faults[name]})")
        redis_.heal()
        while len(workers.live()) < 2:  # back to two workers for the drain
            workers.start()
        clients.join(hard_deadline - time.monotonic())
        log(f"submissions done: {len(clients.accepted)} accepted; draining")
        ids = list(clients.accepted.values())

        def unfinished() -> int:
            try:
                db = redis_.client()
                pipe = db.pipeline(transaction=False)
                for job_id in ids:
                    pipe.hget(keys.job(job_id), "status")
                return sum(status not in FINAL for status in pipe.execute())
            except redis.RedisError:
                return len(ids)

        while (left := unfinished()) and time.monotonic() < hard_deadline:
            log(f"{left} jobs not final yet")
            time.sleep(3)
        notes = check(redis_.client(), clients.accepted, counts)
        for note in notes[:20]:
            log(f"  {note}")
        counts.http_500 = clients.http_500
        counts.longest_503_window_seconds = round(max(clients.windows, default=0.0), 2)
        counts.unavailable_codes = clients.codes
        counts.faults = faults
        counts.seconds = round(time.monotonic() - started, 1)
        return counts
    finally:
        workers.stop()
        redis_.stop()


def redis_fault_name(sentinel: bool) -> str:
    return "master failed over" if sentinel else "redis restarted"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentinel", action="store_true", help="a master, two replicas, three sentinels")
    parser.add_argument(
        "--min-replicas", type=int, default=None, help="LONGRUN_REDIS_MIN_REPLICAS (default: 1 with --sentinel, else 0)"
    )
    parser.add_argument("--jobs", type=int, default=Plan.jobs)
    parser.add_argument("--seconds", type=float, default=Plan.seconds)
    parser.add_argument("--short", action="store_true", help="the ~60 s version the test suite runs")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    plan = SHORT if args.short else Plan(jobs=args.jobs, seconds=args.seconds)
    plan.seed = args.seed
    min_replicas = args.min_replicas if args.min_replicas is not None else (1 if args.sentinel else 0)
    counts = run(plan, sentinel=args.sentinel, min_replicas=min_replicas)
    setup = f"sentinel, MIN_REPLICAS={min_replicas}" if args.sentinel else "single Redis, appendfsync always"
    print(
        f"chaos ({setup}): accepted {counts.accepted}, completed {counts.completed}, "
        f"failed as worker-lost {counts.failed_worker_lost}, lost {counts.lost}, duplicated {counts.duplicated}; "
        f"longest 503 window {counts.longest_503_window_seconds}s (503s by code {counts.unavailable_codes}); "
        f"faults {counts.faults}; {counts.seconds}s"
    )
    print("CHAOS " + json.dumps(counts.__dict__))
    bad = (
        counts.lost
        or counts.duplicated
        or counts.left_running
        or counts.over_attempts
        or counts.no_result
        or counts.http_500
        or counts.failed_other
    )
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
