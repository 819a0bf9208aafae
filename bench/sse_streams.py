"""Do open event streams starve ordinary requests? gthread with and without the
per-process stream cap of gunicorn.conf.py.

Starts its own redis-server and one gunicorn worker (gthread, --threads T) on
free loopback ports, submits one job that stays pending (no Celery worker runs),
opens N event streams on it, then times ordinary GET /api/v1/jobs/{id}
requests and prints them as ratios against the same requests with no stream
open, measured in the same run.

    .venv/bin/python -m bench.sse_streams --threads 8 --streams 12
"""

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script (python bench/sse_streams.py): the repository's packages
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from tests.support.paths import ROOT
from tests.support.processes import LiveServer, subprocess_env
from tests.support.redis_server import RedisServer

API_KEY = os.environ.get("LONGRUN_BENCH_API_KEY", "bench-key")
HEADERS = {"Authorization": f"Bearer {API_KEY}"}


def time_requests(url: str, n: int) -> tuple[list[float], int]:
    times, timeouts = [], 0
    with requests.Session() as http:
        for _ in range(n):
            start = time.perf_counter()
            try:
                http.get(url, headers=HEADERS, timeout=3).raise_for_status()
                times.append(time.perf_counter() - start)
            except requests.Timeout:
                timeouts += 1
    return times, timeouts


def run(threads: int, streams: int, capped: bool, n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-sse-"))
    redis = RedisServer(tmp / "redis")
    api = None
    try:
        redis.start()
        env = subprocess_env(
            REDIS_URL=redis.url,
            LONGRUN_SSE_MAX_STREAMS_PER_TENANT="10000",
            LONGRUN_SSE_HEARTBEAT_SECONDS="5",
            # The API knows the key we send (it refuses every request otherwise).
            LONGRUN_API_KEYS="default=" + hashlib.sha256(API_KEY.encode()).hexdigest(),
        )
        config = str(ROOT / "gunicorn.conf.py") if capped else "/dev/null"
        api = LiveServer(env, 1, "gthread", threads, log_dir=tmp, options=("-c", config)).start()
        base = api.url
        job = requests.post(
            base + "/api/v1/jobs", headers=HEADERS, timeout=10, json={"kind": "sleep", "input": {}}
        ).json()["id"]
        url = f"{base}/api/v1/jobs/{job}"
        time_requests(url, 5)  # warm up
        baseline, _ = time_requests(url, n)

        opened, refused, stop = [], [], threading.Event()

        def hold():
            try:
                with requests.get(url + "/events", headers=HEADERS, stream=True, timeout=(3, 30)) as r:
                    if r.status_code != 200:
                        refused.append(r.status_code)
                        return
                    opened.append(1)
                    for _ in r.iter_lines():
                        if stop.is_set():
                            return
            except requests.RequestException:
                refused.append("timeout")

        holders = [threading.Thread(target=hold, daemon=True) for _ in range(streams)]
        for t in holders:
            t.start()
        time.sleep(2)
        loaded, timeouts = time_requests(url, n)
        stop.set()
        p50 = statistics.median(loaded) / statistics.median(baseline) if loaded else float("inf")
        print(
            f"threads={threads:3d} streams={streams:3d} cap={'on ' if capped else 'off'} "
            f"open={len(opened):3d} refused={len(refused):3d}  GET p50 x{p50:5.2f} vs no streams "
            f"(baseline {statistics.median(baseline) * 1000:.1f} ms), {timeouts}/{n} timed out (3 s)"
        )
    finally:
        if api:
            api.stop()
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--streams", type=int, default=12)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    for capped in (True, False):
        run(args.threads, args.streams, capped, args.requests)


if __name__ == "__main__":
    main()
