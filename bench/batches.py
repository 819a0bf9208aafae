"""Batches at scale: accepting a 10,000-item batch against 10,000 single submits,
and the status read of a 10,000-item batch against a single job's.

    .venv/bin/python -m bench.batches [--items 10000] [--rounds 2] [--output FILE]

Starts its own redis-server and gunicorn (gthread, 2 workers x 4 threads) on free
loopback ports, and no Celery worker: every job stays pending, so only accepting
and reading are measured. Each round flushes that Redis and measures, alternating
the order (ABBA): one POST /api/v1/batches of N items; N POST /api/v1/jobs from
one client in a loop; the same from 8 concurrent clients. Then GET of the batch
against GET of one job, in alternating blocks. The ratios are what to compare.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench.run import ROOT, free_port, wait_for

API_KEY = "bench-batches-key-0123456789"
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
ITEM = {"seconds": 0, "steps": 1}


class Stack:
    """redis-server + gunicorn of our own, ended by pid."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.redis_port = free_port()
        self.api_port = free_port()
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.procs: list[subprocess.Popen] = []

    def start(self) -> Stack:
        import redis

        self.procs.append(
            subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        self.redis = redis.Redis(port=self.redis_port, decode_responses=True)
        wait_for(lambda: _pings(self.redis), 10, "redis")
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "LONGRUN_API_KEYS": "default=" + hashlib.sha256(API_KEY.encode()).hexdigest(),
            "LONGRUN_RATE_LIMIT_REQUESTS": "0",
            "LONGRUN_MAX_QUEUE_DEPTH": "0",
            "LONGRUN_ARTIFACTS_DIR": str(self.workdir / "artifacts"),
        }
        with open(self.workdir / "gunicorn.log", "ab") as log:  # the child keeps its own copy
            self.procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gunicorn",
                        "api.wsgi:app",
                        "-b",
                        f"127.0.0.1:{self.api_port}",
                        "-k",
                        "gthread",
                        "-w",
                        "2",
                        "--threads",
                        "4",
                        "--timeout",
                        "300",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            )
        wait_for(lambda: _up(self.url), 60, "gunicorn")
        return self

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def _up(url: str) -> bool:
    try:
        return requests.get(url + "/openapi.json", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def accept_batch(url: str, n: int) -> tuple[float, str]:
    body = json.dumps({"kind": "sleep", "items": [ITEM] * n})
    start = time.perf_counter()
    response = requests.post(url + "/api/v1/batches", data=body, headers=HEADERS, timeout=300)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    assert response.json()["counts"]["total"] == n
    return elapsed, response.json()["id"]


def submit_singles(url: str, n: int, clients: int) -> tuple[float, str]:
    body = json.dumps({"kind": "sleep", "input": ITEM})
    per_client = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]

    def run(count: int) -> str:
        last = ""
        with requests.Session() as http:
            for _ in range(count):
                response = http.post(url + "/api/v1/jobs", data=body, headers=HEADERS, timeout=30)
                response.raise_for_status()
                last = response.json()["id"]
        return last

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        ids = list(pool.map(run, per_client))
    return time.perf_counter() - start, ids[0]


def read_latencies(url: str, paths: dict[str, str], n: int, block: int = 50) -> dict[str, list[float]]:
    """GET each path n times, alternating blocks (A B B A ...), with one keep-alive session."""
    times: dict[str, list[float]] = {name: [] for name in paths}
    names = list(paths)
    with requests.Session() as http:
        for name in names:  # warm up
            http.get(url + paths[name], headers=HEADERS, timeout=30).raise_for_status()
        for b in range(n // block):
            for name in names if b % 2 == 0 else names[::-1]:
                for _ in range(block):
                    start = time.perf_counter()
                    http.get(url + paths[name], headers=HEADERS, timeout=30).raise_for_status()
                    times[name].append((time.perf_counter() - start) * 1000)
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(items: int, rounds: int, reads: int, workdir: Path) -> dict:
    stack = Stack(workdir).start()
    try:
        figures: dict[str, list[float]] = {"batch": [], "loop": [], "concurrent": []}
        variants = [
            ("batch", lambda: accept_batch(stack.url, items)),
            ("loop", lambda: submit_singles(stack.url, items, 1)),
            ("concurrent", lambda: submit_singles(stack.url, items, 8)),
        ]
        for r in range(rounds):
            for name, measure in variants if r % 2 == 0 else variants[::-1]:
                stack.redis.flushall()
                seconds, _ = measure()
                figures[name].append(seconds)
                print(f"round {r + 1}: {name}: {seconds:.2f}s for {items} items", file=sys.stderr, flush=True)
        stack.redis.flushall()
        _, batch_id = accept_batch(stack.url, items)
        _, job_id = submit_singles(stack.url, 1, 1)
        latency = read_latencies(
            stack.url, {"batch": f"/api/v1/batches/{batch_id}", "job": f"/api/v1/jobs/{job_id}"}, reads
        )
        return {"items": items, "rounds": rounds, "accept_seconds": figures, "read_ms": latency}
    finally:
        stack.stop()


def report(data: dict) -> str:
    n = data["items"]
    acc = data["accept_seconds"]
    med = {name: statistics.median(values) for name, values in acc.items()}
    rows = [
        f"Accepting {n:,} items ({data['rounds']} rounds, median (min–max)):",
        "",
        "| how | total s | per item µs | items/s | vs one batch |",
        "|---|---|---|---|---|",
    ]
    labels = {
        "batch": "one POST /api/v1/batches",
        "loop": f"{n:,} POST /api/v1/jobs, one client",
        "concurrent": f"{n:,} POST /api/v1/jobs, 8 clients",
    }
    for name, values in acc.items():
        rows.append(
            f"| {labels[name]} | {med[name]:.2f} ({min(values):.2f}–{max(values):.2f}) | "
            f"{med[name] / n * 1e6:.0f} | {n / med[name]:,.0f} | {med[name] / med['batch']:.1f}× |"
        )
    lat = data["read_ms"]
    rows += [
        "",
        f"Status read latency, {len(lat['batch'])} GETs each, alternating blocks:",
        "",
        "| read | median ms | p90 ms | p99 ms | ratio to job |",
        "|---|---|---|---|---|",
    ]
    job_median = statistics.median(lat["job"])
    for name, label in (("batch", f"GET /api/v1/batches/{{id}} ({n:,} items)"), ("job", "GET /api/v1/jobs/{id}")):
        values = lat[name]
        rows.append(
            f"| {label} | {statistics.median(values):.2f} | {pct(values, 0.9):.2f} | {pct(values, 0.99):.2f} | "
            f"{statistics.median(values) / job_median:.2f} |"
        )
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batches", description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--reads", type=int, default=1000, help="GETs of each kind for the read latency")
    parser.add_argument("--output", type=Path, help="also write the report (markdown) to this file")
    args = parser.parse_args(argv)
    if shutil.which("redis-server") is None:
        print("redis-server is not installed", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="longrun-bench-batches-"))
    try:
        data = run(args.items, args.rounds, args.reads, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = report(data)
    print(text)
    summary = {
        **data,
        "read_ms": {
            name: {"median": statistics.median(v), "p99": pct(v, 0.99), "n": len(v)}
            for name, v in data["read_ms"].items()
        },
    }
    print("BENCH " + json.dumps(summary))
    if args.output:
        args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
