"""Do open event streams starve ordinary requests? gthread with and without the
per-process stream cap of gunicorn.conf.py.

Starts its own redis-server and one gunicorn worker (gthread, --threads T) on
free loopback ports, submits one job that stays pending (no Celery worker runs),
opens N event streams on it, then times ordinary GET /api/v1/jobs/{id}
requests and prints them as ratios against the same requests with no stream
open, measured in the same run.

    .venv/bin/python bench/sse_streams.py --threads 8 --streams 12
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
HEADERS = {"Authorization": f"Bearer {os.environ.get('LONGRUN_BENCH_API_KEY', 'bench-key')}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"{url} exited")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


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
    redis_port, api_port = free_port(), free_port()
    procs = []
    try:
        procs.append(subprocess.Popen(["redis-server", "--port", str(redis_port), "--save", "", "--dir", str(tmp)],
                                      stdout=subprocess.DEVNULL))
        env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "PYTHONPATH": str(ROOT),
               "LONGRUN_SSE_MAX_STREAMS_PER_TENANT": "10000", "LONGRUN_SSE_HEARTBEAT_SECONDS": "5"}
        config = str(ROOT / "gunicorn.conf.py") if capped else "/dev/null"
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "api.wsgi:app", "-c", config, "-b", f"127.0.0.1:{api_port}",
             "-w", "1", "-k", "gthread", "--threads", str(threads)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        base = f"http://127.0.0.1:{api_port}"
        wait_up(base + "/openapi.json", procs[-1])
        job = requests.post(base + "/api/v1/jobs", headers=HEADERS, timeout=10,
                            json={"kind": "sleep", "input": {}}).json()["id"]
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
        print(f"threads={threads:3d} streams={streams:3d} cap={'on ' if capped else 'off'} "
              f"open={len(opened):3d} refused={len(refused):3d}  GET p50 x{p50:5.2f} vs no streams "
              f"(baseline {statistics.median(baseline) * 1000:.1f} ms), {timeouts}/{n} timed out (3 s)")
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
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
