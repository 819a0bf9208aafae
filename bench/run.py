"""The benchmark driver: ``python -m bench [--quick]``.

Starts its own redis-server on a free loopback port, gunicorn servers (the
Longrun API and the bare-Flask baseline, gthread and sync workers) and Celery
workers (Longrun's and the raw-Celery baseline), all as subprocesses it ends
by pid. Each Longrun figure and its baseline are measured in the same run,
alternating A and B (ABBA...), and the table shows the median, the min-max
and the ratio Longrun / baseline. HTTP load comes from ``wrk`` (a separate
process, loopback only, bounded by time); job load is a fixed count of jobs.

Absolute numbers depend on the machine and whatever else runs on it; the
ratios are what to compare.
"""

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from longrun import keys
from longrun.states import JobStatus
from tests.support.paths import ROOT
from tests.support.ports import free_port
from tests.support.processes import ChildProcess, LiveServer, celery_worker_args, subprocess_env
from tests.support.redis_server import MISSING as REDIS_MISSING
from tests.support.redis_server import RedisServer, redis_server_binary
from tests.support.waiting import wait_until

API_KEY = "bench-key-0123456789abcdef"
AUTH = f"Bearer {API_KEY}"
TENANT = "default"
SUBMIT_BODY = json.dumps({"kind": "sleep", "input": {"seconds": 0, "steps": 1}})
IDLE_QUEUE = "bench.idle"  # workers start on it, so "idle" really is idle


@dataclass
class Size:
    http_seconds: float
    http_rounds: int
    jobs: int
    job_rounds: int
    progress_calls: int
    progress_rounds: int
    chatty_steps: int = 100
    step_rounds: int = 6
    connections: int = 32
    io_jobs: int = 400
    io_rounds: int = 1
    pool_samples: int = 20
    worker_classes: tuple = ("gthread", "sync")


FULL = Size(http_seconds=5, http_rounds=3, jobs=10_000, job_rounds=2, progress_calls=1000, progress_rounds=4)
QUICK = Size(
    http_seconds=2,
    http_rounds=2,
    jobs=400,
    job_rounds=2,
    progress_calls=200,
    progress_rounds=2,
    pool_samples=8,
    step_rounds=2,
)
# Work per step of the checkpoint figures: none (pure overhead), and short real steps.
STEP_WORK_MS = (0, 1, 10)

# gunicorn as the orientation numbers were taken: 5 workers (x4 threads for gthread).
GUNICORN_WORKERS = 5
GUNICORN_THREADS = {"gthread": 4, "sync": None}
GUNICORN_OPTIONS = ("--timeout", "60", "--graceful-timeout", "5", "--backlog", "2048")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Bench:
    def __init__(self, size: Size, workdir: Path):
        self.size = size
        self.workdir = workdir
        self.procs: list[ChildProcess] = []
        self.redis_server: RedisServer | None = None
        self.results: dict[str, dict] = {}  # figure -> {"longrun": [..], "baseline": [..]}
        self.memory: list[tuple[str, float, float, str]] = []
        self.notes: list[str] = []  # lines under the tables (e.g. the Redis memory of a checkpoint)
        self.pool_rows: list[tuple[str, str, float, float, int]] = []  # pool, figure, p50, p99, samples
        self.last_ids: list[str] = []
        # streams, opened, refused, p99 ms, idle p99 ms, req/s, idle req/s, stream server KB per stream
        self.stream_rows: list[tuple] = []
        self.python = sys.executable
        self.redis_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.env = subprocess_env(
            **{
                "REDIS_URL": self.redis_url,
                "LONGRUN_API_KEYS": f"{TENANT}=" + hashlib.sha256(API_KEY.encode()).hexdigest(),
                "LONGRUN_ARTIFACTS_DIR": str(workdir / "artifacts"),
                # Limits stay on (their cost is measured) but never trip: the bench
                # queues tens of thousands of jobs and sends thousands of requests a second.
                "LONGRUN_RATE_LIMIT_REQUESTS": str(10**9),
                "LONGRUN_MAX_QUEUE_DEPTH": str(10**9),
                "LONGRUN_MAX_FINISHED_JOBS": "0",
                "LONGRUN_MAX_RUNNING_PER_TENANT": "0",
            }
        )
        for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
            self.env.pop(name, None)

    def start(self, name: str, args: list[str]) -> ChildProcess:
        proc = ChildProcess(name, args, self.env, self.workdir / f"{name}.log").spawn()
        self.procs.append(proc)
        return proc

    def stop(self, proc: ChildProcess) -> None:
        proc.stop()
        self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            try:
                proc.stop()
            except Exception as exc:  # keep ending the others
                log(f"could not stop {proc.name}: {exc}")
        self.procs.clear()
        if self.redis_server:
            self.redis_server.stop()

    def record(self, figure: str, side: str, value: float) -> None:
        self.results.setdefault(figure, {"longrun": [], "baseline": []})[side].append(value)

    # -- redis ---------------------------------------------------------------

    def start_redis(self) -> None:
        if shutil.which(redis_server_binary()) is None:
            raise SystemExit(REDIS_MISSING)
        self.redis_server = RedisServer(self.workdir / "redis", port=self.redis_port).start()
        # Everything Longrun reads its settings from the environment once, at import.
        os.environ.update(self.env)
        sys.path.insert(0, str(ROOT))
        import redis

        self.redis = redis.Redis.from_url(self.redis_url, decode_responses=True)

    # -- progress events -----------------------------------------------------

    def progress_events(self) -> None:
        s = self.size
        log(f"progress events: {s.progress_rounds} rounds x {s.progress_calls} calls each side")
        out = subprocess.run(
            [sys.executable, "-m", "bench.micro", str(s.progress_calls), str(s.progress_rounds)],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
        if line is None:
            raise RuntimeError(f"bench.micro failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
        data = json.loads(line[6:])
        for side, key in (("longrun", "longrun"), ("baseline", "raw")):
            for block in data[key]:
                self.record("progress event CPU (µs)", side, block["cpu_us"])
                self.record("progress event wall (µs)", side, block["wall_us"])

    # -- checkpoints -----------------------------------------------------------

    def step_figures(self) -> None:
        s = self.size
        log(f"checkpoints: {s.step_rounds} rounds of a {s.chatty_steps}-step job each side")
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.steps",
                str(s.chatty_steps),
                str(s.step_rounds),
                *(str(ms) for ms in STEP_WORK_MS),
            ],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
        if line is None:
            raise RuntimeError(f"bench.steps failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
        data = json.loads(line[6:])
        for figure in data["figures"]:
            name = f"{data['steps']}-step job, {figure['work_ms']:g} ms steps (jobs/s)"
            for side, key in (("longrun", "with"), ("baseline", "without")):
                for seconds in figure[key]:
                    self.record(name, side, 1 / seconds)
        mem = data["memory"]
        self.notes.append(
            f"- a checkpointed step takes {mem['per_step_bytes']:.0f} bytes of Redis "
            f"(MEMORY USAGE of a {data['steps']}-step job's timeline {mem['timeline_bytes']:,} B + "
            f"outputs {mem['outputs_bytes']:,} B, outputs of {mem['output_json_bytes']} B of JSON); "
            "the outputs are dropped when the job is final"
        )

    # -- HTTP ----------------------------------------------------------------

    def gunicorn(self, name: str, wsgi: str, worker_class: str, ready_path: str) -> tuple[LiveServer, str]:
        """Spawned, not yet ready: both servers of a figure boot at once (``wait_ready``)."""
        server = LiveServer(
            self.env,
            GUNICORN_WORKERS,
            worker_class,
            GUNICORN_THREADS[worker_class],
            log_dir=self.workdir,
            name=name,
            app=wsgi,
            options=GUNICORN_OPTIONS,
            ready_path=ready_path,
            ready_timeout=60,
        )
        server.spawn()
        self.procs.append(server)
        return server, server.url

    def gunicorn_with(
        self, name: str, config: list[str], worker_class: str = "gthread", workers: int = 2, threads: int | None = 64
    ) -> tuple[LiveServer, str]:
        """gunicorn with a config file (-c), as deployed; ready when it returns."""
        server = LiveServer(
            self.env,
            workers,
            worker_class,
            threads,
            log_dir=self.workdir,
            name=name,
            options=[*config, *GUNICORN_OPTIONS],
            ready_timeout=60,
        )
        self.procs.append(server)
        server.start()
        return server, server.url

    @staticmethod
    def http(url: str, method: str = "GET", body: str | None = None) -> dict:
        req = urllib.request.Request(
            url,
            method=method,
            data=body.encode() if body else None,
            headers={"Authorization": AUTH, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def wrk(
        self,
        url: str,
        method: str = "GET",
        body: str = "",
        seconds: float | None = None,
        connections: int | None = None,
    ) -> dict:
        seconds = seconds or self.size.http_seconds
        connections = connections or self.size.connections
        env = dict(os.environ, WRK_METHOD=method, WRK_BODY=body, WRK_AUTH=AUTH)
        out = subprocess.run(
            [
                "wrk",
                f"-t{min(2, connections)}",
                f"-c{connections}",
                f"-d{seconds:g}s",
                "--timeout",
                "10s",
                "-s",
                str(ROOT / "bench" / "wrk.lua"),
                url,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
        line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
        if line is None:
            raise RuntimeError(f"wrk failed on {url}:\n{out.stdout}\n{out.stderr}")
        stats = json.loads(line[6:])
        errors = sum(stats[k] for k in ("connect", "read", "write", "status", "timeout"))
        if errors:
            raise RuntimeError(f"wrk saw {errors} errors on {method} {url}: {stats}")
        stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
        return stats

    def http_figures(self, worker_class: str) -> None:
        s = self.size
        lr_proc, lr = self.gunicorn(f"api-{worker_class}", "api.wsgi:app", worker_class, "/openapi.json")
        base_proc, base = self.gunicorn(f"baseline-{worker_class}", "bench.baseline_app:app", worker_class, "/hello")
        lr_proc.wait_ready()
        base_proc.wait_ready()
        job_id = self.http(lr + "/api/v1/jobs", "POST", SUBMIT_BODY)["id"]
        task_id = self.http(base + "/submit", "POST", "{}")["id"]
        pairs = [
            ("submit", (lr + "/api/v1/jobs", "POST", SUBMIT_BODY), (base + "/submit", "POST", "{}")),
            ("status", (lr + f"/api/v1/jobs/{job_id}", "GET", ""), (base + f"/state/{task_id}", "GET", "")),
        ]
        # Warm every worker process of both servers (imports, connections, script cache).
        for _, a, b in pairs:
            self.wrk(*a, seconds=1)
            self.wrk(*b, seconds=1)
        self.wrk(base + "/hello", seconds=1)
        workers = lr_proc.children()
        idle = [rss_mb(p) for p in workers]
        served = 0
        for r in range(s.http_rounds):
            for name, a, b in pairs:
                sides = [("longrun", a), ("baseline", b)]
                for side, (url, method, body) in sides if r % 2 == 0 else sides[::-1]:
                    st = self.wrk(url, method, body)
                    served += st["requests"] if side == "longrun" else 0
                    tag = f"{name} [{worker_class}]"
                    self.record(f"{tag} req/s", side, st["rps"])
                    self.record(f"{tag} p50 ms", side, st["p50_us"] / 1000)
                    self.record(f"{tag} p99 ms", side, st["p99_us"] / 1000)
                    log(
                        f"{tag} {side}: {st['rps']:.0f} req/s p50 {st['p50_us'] / 1000:.1f} ms "
                        f"p99 {st['p99_us'] / 1000:.1f} ms"
                    )
            st = self.wrk(base + "/hello")
            self.record(f"hello ceiling [{worker_class}] req/s", "baseline", st["rps"])
            log(f"hello [{worker_class}]: {st['rps']:.0f} req/s")
        after = [rss_mb(p) for p in workers if Path(f"/proc/{p}").exists()]
        self.memory.append(
            (
                f"API worker [{worker_class}] (mean of {len(workers)})",
                statistics.mean(idle),
                statistics.mean(after),
                f"after {served:,} Longrun requests over the pool",
            )
        )
        self.stop(lr_proc)
        self.stop(base_proc)

    # -- jobs ----------------------------------------------------------------

    def prefill(self, variant: str, n: int) -> list[str]:
        """Queue ``n`` jobs with no worker consuming their queue yet."""
        ids = [uuid.uuid4().hex for _ in range(n)]
        if variant == "raw":
            from bench.raw_celery import app, noop

            # Pipelined (kombu's publish batch): only the setup, not what is measured.
            with app.producer_or_acquire() as producer, producer.batch(max_size=500):
                for task_id in ids:
                    noop.apply_async(args=[task_id], task_id=task_id, producer=producer)
        elif variant == "quiet":
            from api import service

            svc = self.services()
            for job_id in ids:
                service.submit(svc, TENANT, kind="sleep", input={"seconds": 0, "steps": 1}, job_id=job_id)
        else:
            # The bench-only kind is not in KINDS (the API would refuse it): the
            # same two steps as service.submit, without its input validation.
            from api import service
            from bench.kinds import NAME

            svc = self.services()
            job_input = {"steps": self.size.chatty_steps, "report": variant == "chatty"}
            for job_id in ids:
                svc.store.create(tenant=TENANT, kind=NAME, input=job_input, timeout_seconds=600, job_id=job_id)
                service.enqueue(svc, job_id, NAME, 0, 600)
        return ids

    def services(self):
        if not hasattr(self, "_svc"):
            from api.extensions import Services
            from longrun.artifacts import ArtifactStore
            from longrun.jobstore import JobStore
            from longrun.settings import get_settings
            from workers.celery_app import app as celery_app

            settings = get_settings()
            self._svc = Services(
                settings, JobStore.from_settings(settings), ArtifactStore(settings.artifacts_dir), celery_app
            )
        return self._svc

    def control(self):
        from bench.raw_celery import app

        return app.control

    def done_count(self, variant: str, ids: list[str]) -> int:
        if variant == "raw":
            pipe = self.redis.pipeline(transaction=False)
            for start in range(0, len(ids), 1000):
                pipe.exists(*[keys.meta(i) for i in ids[start : start + 1000]])
            return sum(pipe.execute())
        failed = self.redis.zcard(keys.tenant_index(TENANT, JobStatus.FAILED))
        if failed:
            raise RuntimeError(f"{failed} Longrun jobs failed")
        return self.redis.zcard(keys.tenant_index(TENANT, JobStatus.COMPLETED))

    def last_done(self) -> float:
        """The latest date_done (epoch seconds) among ``last_ids``."""
        done = []
        for start in range(0, len(self.last_ids), 1000):
            for raw in self.redis.mget([keys.meta(i) for i in self.last_ids[start : start + 1000]]):
                done.append(datetime.fromisoformat(json.loads(raw)["date_done"]).timestamp())
        return max(done)

    def span_throughput(self, ids: list[str]) -> float:
        """Jobs/s between the first and the last job's date_done (worker startup excluded)."""
        done = []
        for start in range(0, len(ids), 1000):
            for raw in self.redis.mget([keys.meta(i) for i in ids[start : start + 1000]]):
                done.append(datetime.fromisoformat(json.loads(raw)["date_done"]).timestamp())
        return (len(done) - 1) / (max(done) - min(done))

    def job_run(self, variant: str, round_no: int) -> None:
        n = self.size.jobs
        self.redis.flushdb()
        t0 = time.monotonic()
        ids = self.prefill(variant, n)
        log(f"{variant}: queued {n} jobs in {time.monotonic() - t0:.1f}s")
        if variant == "raw":
            app, queue = "bench.raw_celery", "bench.raw"
        elif variant == "quiet":
            app, queue = "bench.longrun_worker", keys.queue("sleep")
        else:
            from bench.kinds import NAME

            app, queue = "bench.longrun_worker", keys.queue(NAME)
        hostname = f"{variant}-{round_no}-{uuid.uuid4().hex[:4]}@bench"
        worker = self.start(
            f"worker-{hostname}", celery_worker_args(app, hostname, 2, loglevel="warning", queues=IDLE_QUEUE)
        )
        control = self.control()

        def ready():
            worker.check()
            return control.ping(destination=[hostname], timeout=1)

        wait_until(ready, 90, message=f"worker {hostname}")
        pool = wait_until(
            lambda: worker.children() if len(worker.children()) >= 2 else None, 30, message="pool processes"
        )
        time.sleep(1)
        idle = [rss_mb(p) for p in [worker.pid, *pool]]
        reply = control.add_consumer(queue, destination=[hostname], reply=True, timeout=10)
        if not reply:
            raise RuntimeError(f"worker {hostname} did not take queue {queue}")
        t0 = time.monotonic()
        timeout = 120 + n / 10

        def finished():
            worker.check()
            return self.done_count(variant, ids) >= n

        wait_until(finished, timeout, interval=0.5, message=f"{n} {variant} jobs")
        wall = time.monotonic() - t0
        after = [rss_mb(p) for p in [worker.pid, *pool]]
        rate = self.span_throughput(ids)
        log(f"{variant}: {n} jobs, {rate:.0f} jobs/s (first to last result; {wall:.1f}s wall incl. start)")
        self.stop(worker)
        if variant == "raw":
            self.record("end-to-end no-op jobs/s", "baseline", rate)
        elif variant == "quiet":
            self.record("end-to-end no-op jobs/s", "longrun", rate)
        else:
            self.record(
                f"chatty jobs/s ({self.size.chatty_steps} reports vs none)",
                "longrun" if variant == "chatty" else "baseline",
                rate,
            )
        label = {"raw": "raw Celery", "quiet": "Longrun", "chatty": "Longrun chatty", "silent": "Longrun silent"}[
            variant
        ]
        self.memory.append((f"{label} worker main process", idle[0], after[0], f"after {n:,} jobs"))
        self.memory.append(
            (
                f"{label} worker pool process (mean of 2)",
                statistics.mean(idle[1:]),
                statistics.mean(after[1:]),
                f"after {n:,} jobs",
            )
        )

    def job_figures(self) -> None:
        variants = ["raw", "quiet", "chatty", "silent"]
        for r in range(self.size.job_rounds):
            for variant in variants if r % 2 == 0 else variants[::-1]:
                self.job_run(variant, r)


# -- report --------------------------------------------------------------------

TARGETS = {  # figure prefix -> (target text, check on Longrun / baseline ratio)
    "submit": ("≥ 1.0", lambda r: r >= 1.0),
    "status": ("≥ 1.0", lambda r: r >= 1.0),
    "end-to-end": ("≥ 1.0", lambda r: r >= 1.0),
    "progress event": ("≤ 1.2", lambda r: r <= 1.2),
    "chatty": ("≥ 0.9", lambda r: r >= 0.9),
    "I/O-bound inference": ("≥ 5.0", lambda r: r >= 5.0),
    "100-step job": ("≥ 0.8", lambda r: r >= 0.8),  # with checkpoints / without
}


def fmt(values: list[float]) -> str:
    if not values:
        return "—"
    digits = 0 if statistics.median(values) >= 100 else 1 if statistics.median(values) >= 10 else 2
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def table(bench: Bench) -> str:
    rows = [
        "| figure | Longrun median (min–max) | baseline median (min–max) | ratio L/B | target | met |",
        "|---|---|---|---|---|---|",
    ]
    res = bench.results
    for figure, sides in res.items():
        lr, base = sides["longrun"], sides["baseline"]
        ratio = statistics.median(lr) / statistics.median(base) if lr and base else None
        target, met = "", ""
        if ratio is not None and not figure.endswith(" ms"):  # targets are on throughput and cost
            for prefix, (text, check) in TARGETS.items():
                if figure.startswith(prefix):
                    target, met = text, "yes" if check(ratio) else "**no**"
        rows.append(f"| {figure} | {fmt(lr)} | {fmt(base)} | {f'{ratio:.2f}' if ratio else ''} | {target} | {met} |")
        if figure.startswith("hello ceiling"):
            wc = figure.split("[")[1].split("]")[0]
            status = res.get(f"status [{wc}] req/s", {}).get("longrun")
            if status:
                r = statistics.median(status) / statistics.median(base)
                rows.append(
                    f"| status [{wc}] / hello ceiling | {fmt(status)} | {fmt(base)} | {r:.2f} | ≥ 0.6 | "
                    f"{'yes' if r >= 0.6 else '**no**'} |"
                )
        if figure.startswith("I/O-bound jobs/s as %"):
            rows[-1] = rows[-1].rsplit("|", 3)[0] + f"| ≥ 80 | {'yes' if statistics.median(lr) >= 80 else '**no**'} |"
    if bench.pool_rows:
        rows += ["", "| pool | figure | p50 s | p99 s | jobs |", "|---|---|---|---|---|"]
        rows += [f"| {pool} | {name} | {p50:.2f} | {p99:.2f} | {n} |" for pool, name, p50, p99, n in bench.pool_rows]
    if bench.stream_rows:
        header = (
            "| SSE streams asked | open | refused | GET /jobs/{id} p99 ms (idle) | p99 / idle | req/s (idle) "
            "| stream server KB per stream | target p99 ≤ 2× idle | met |"
        )
        rows += ["", header, "|---|---|---|---|---|---|---|---|---|"]
        for n, opened, refused, p99, idle_p99, rps, idle_rps, kb in bench.stream_rows:
            r = p99 / idle_p99
            rows.append(
                f"| {n:,} | {opened:,} | {refused:,} | {p99:.1f} ({idle_p99:.1f}) | {r:.2f} | {rps:.0f} "
                f"({idle_rps:.0f}) | {kb:.0f} | ≤ 2.0 | {'yes' if r <= 2 and not refused else '**no**'} |"
            )
    rows += ["", "| memory (RSS, MB) | idle | after | growth | target | met |", "|---|---|---|---|---|---|"]
    merged: dict[tuple, list] = {}  # one row per process kind: mean over the rounds
    for label, idle, after, note in bench.memory:
        merged.setdefault((label, note), []).append((idle, after))
    for (label, note), pairs in merged.items():
        idle, after = (statistics.mean(x) for x in zip(*pairs))
        note += f", mean of {len(pairs)} runs" if len(pairs) > 1 else ""
        growth = (after / idle - 1) * 100 if idle else 0
        rows.append(
            f"| {label}, {note} | {idle:.1f} | {after:.1f} | {growth:+.1f}% | ≤ +10% | "
            f"{'yes' if growth <= 10 else '**no**'} |"
        )
    return "\n".join(rows)


def machine() -> str:
    from importlib.metadata import version

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    pkgs = ", ".join(
        f"{p} {version(p)}"
        for p in ("celery", "kombu", "redis", "hiredis", "flask", "gunicorn", "flask-smorest", "marshmallow")
    )
    redis_v = (
        subprocess.run([redis_server_binary(), "--version"], capture_output=True, text=True)
        .stdout.split()[2]
        .removeprefix("v=")
    )
    wrk_v = " ".join(subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()[:2])
    load = os.getloadavg()
    return (
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M UTC}\n"
        f"- machine: {os.cpu_count()} CPUs ({cpu}), "
        f"load average at end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}\n"
        f"- Python {platform.python_version()}; {pkgs}; redis-server {redis_v}; {wrk_v}\n"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (~1-2 min), small counts")
    parser.add_argument(
        "--only",
        choices=["progress", "steps", "http", "jobs", "io", "pools", "streams"],
        action="append",
        help="run only these parts (repeatable)",
    )
    parser.add_argument("--jobs", type=int, help="jobs per end-to-end run (default 10000; quick 400)")
    parser.add_argument("--output", type=Path, help="also write the report (markdown) to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian/Ubuntu: apt-get install -y wrk)", file=sys.stderr)
        return 2
    size = QUICK if args.quick else FULL
    if args.jobs:
        size.jobs = args.jobs
    parts = args.only or ["progress", "steps", "http", "jobs", "io", "pools", "streams"]
    workdir = Path(tempfile.mkdtemp(prefix="longrun-bench-"))
    bench = Bench(size, workdir)
    started = time.monotonic()
    try:
        bench.start_redis()
        if "progress" in parts:
            bench.progress_events()
        if "steps" in parts:
            bench.step_figures()
        if "http" in parts:
            for wc in size.worker_classes:
                bench.http_figures(wc)
        if "jobs" in parts:
            bench.job_figures()
        if "io" in parts:
            from bench import io

            io.io_figures(bench)
        if "pools" in parts:
            from bench import io

            io.pool_figures(bench)
        if "streams" in parts:
            from bench import streams

            streams.stream_figures(bench)
    except BaseException:
        log(f"failed; logs kept in {workdir}")
        args.keep = True
        raise
    finally:
        bench.stop_all()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    report = (
        f"## `python -m bench{' --quick' if args.quick else ''}`\n\n{machine()}"
        f"- {size.http_rounds} alternating rounds of {size.http_seconds:g}s per HTTP figure "
        f"(wrk -t2 -c{size.connections}); {size.job_rounds} rounds of {size.jobs:,} jobs "
        f"(celery prefork -c 2); took {time.monotonic() - started:.0f}s\n\n{table(bench)}\n"
        + ("\n" + "\n".join(bench.notes) + "\n" if bench.notes else "")
    )
    print(report)
    if args.output:
        args.output.write_text(report)
    return 0
