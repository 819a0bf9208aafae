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
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.support.processes import LiveServer, subprocess_env
from tests.support.redis_server import RedisServer

API_KEY = "bench-batches-key-0123456789"
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
ITEM = {"seconds": 0, "steps": 1}


class Stack:
    """redis-server + gunicorn of our own (tests/support starts and ends them by pid)."""

    def __init__(self, workdir: Path):
        self.workdir = workdir

    def start(self) -> Stack:
        import redis

        self.redis_server = RedisServer(self.workdir / "redis").start()
        self.redis = redis.Redis.from_url(self.redis_server.url, decode_responses=True)
        env = subprocess_env(
            REDIS_URL=self.redis_server.url,
            LONGRUN_API_KEYS="default=" + hashlib.sha256(API_KEY.encode()).hexdigest(),
            LONGRUN_RATE_LIMIT_REQUESTS="0",
            LONGRUN_MAX_QUEUE_DEPTH="0",
            LONGRUN_ARTIFACTS_DIR=str(self.workdir / "artifacts"),
        )
        try:
            self.api = LiveServer(
                env, 2, "gthread", 4, log_dir=self.workdir, options=("--timeout", "300"), ready_timeout=60
            ).start()
        except BaseException:
            self.redis_server.stop()
            raise
        self.url = self.api.url
        return self

    def stop(self) -> None:
        self.api.stop()
        self.redis_server.stop()


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
