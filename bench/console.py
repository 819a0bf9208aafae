"""Time to first byte and page weight of the console with many jobs in the store.

    .venv/bin/python -m bench.console                 # 1,000 then 10,000 jobs
    .venv/bin/python -m bench.console --jobs 1000,10000,100000 --requests 50

Starts its own redis-server and one gunicorn worker (gthread) on free loopback
ports, fills the store through the job store (``JobStore.create`` and
``transition``: 80 % completed, 10 % running, 10 % pending), signs in through
the console's form, then times ``/console/`` (the jobs list) and a job's page,
each against its baseline measured in the same run: the API's JSON for the same
data (``GET /api/v1/jobs?limit=25``, ``GET /api/v1/jobs/{id}``). TTFB is the
time from sending the request to the status line and headers arriving (the
pages are rendered before the first byte is sent). Page weight is the HTML plus
every stylesheet and script it loads, uncompressed. The list page reads one
page of the tenant's index, so its time must not grow with the store: compare
the rows for each store size (``vs first size``).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-console-key-0123456789"
ASSET = re.compile(r'<(?:link[^>]+href|script[^>]+src)="(/console/static/[^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


class Http:
    """One keep-alive connection, the way a browser reuses one."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookie = ""

    def request(self, method: str, path: str, body: str | None = None, headers: dict | None = None):
        headers = dict(headers or {})
        if self.cookie:
            headers["Cookie"] = self.cookie
        start = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        ttfb = time.perf_counter() - start
        data = response.read()
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response.status, data, ttfb

    def sign_in(self) -> None:
        status, page, _ = self.request("GET", "/console/sign-in")
        token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
        body = urlencode({"api_key": API_KEY, "csrf_token": token})
        status, _, _ = self.request(
            "POST", "/console/sign-in", body, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        if status != 303:
            raise SystemExit(f"sign-in answered {status}")


def fill(redis_url: str, total: int, have: int) -> str:
    """Add jobs until the store holds ``total``; returns a job id in the middle of the store."""
    os.environ["REDIS_URL"] = redis_url
    from longrun.jobstore import JobStore
    from longrun.settings import from_env
    from longrun.states import JobStatus

    store = JobStore.from_settings(from_env())
    middle = None
    for n in range(have, total):
        job_id, _, _ = store.create(
            tenant="default", kind="sleep", input={"seconds": 1, "steps": 4}, timeout_seconds=60, metadata={"n": n}
        )
        if n % 10 < 9:
            store.transition(job_id, JobStatus.RUNNING)
            store.transition(
                job_id,
                JobStatus.RUNNING,
                progress={"percentage": 50, "current_step": 2, "total_steps": 4, "step_name": "step 2"},
            )
        if n % 10 < 8:
            store.transition(job_id, JobStatus.COMPLETED)
        if n == (have + total) // 2:
            middle = job_id
    return middle


def timed(http: Http, path: str, n: int, headers: dict | None = None) -> tuple[float, int]:
    """Median TTFB (ms) over ``n`` requests, and the body's size."""
    times, size = [], 0
    for _ in range(n):
        status, body, ttfb = http.request("GET", path, headers=headers)
        if status != 200:
            raise SystemExit(f"GET {path} answered {status}")
        times.append(ttfb * 1000)
        size = len(body)
    return statistics.median(times), size


def page_weight(http: Http, path: str) -> tuple[int, int]:
    """(HTML bytes, HTML + stylesheets + scripts bytes)."""
    _, html, _ = http.request("GET", path)
    total = len(html)
    for asset in sorted(set(ASSET.findall(html.decode()))):
        _, data, _ = http.request("GET", asset)
        total += len(data)
    return len(html), total


def measure(port: int, job_id: str, n: int) -> dict:
    browser, api = Http(port), Http(port)
    browser.sign_in()
    auth = {"Authorization": f"Bearer {API_KEY}"}
    out = {}
    for name, page, baseline in (
        ("jobs list", "/console/", "/api/v1/jobs?limit=25"),
        ("job page", f"/console/jobs/{job_id}", f"/api/v1/jobs/{job_id}"),
    ):
        timed(browser, page, 3)  # warm: templates compiled, connections made
        timed(api, baseline, 3, auth)
        # Alternate page and baseline (ABBA) so that drift hits both alike.
        page_ms, base_ms = [], []
        for _ in range(max(1, n // 10)):
            page_ms.append(timed(browser, page, 5)[0])
            base_ms.append(timed(api, baseline, 5, auth)[0])
            base_ms.append(timed(api, baseline, 5, auth)[0])
            page_ms.append(timed(browser, page, 5)[0])
        html, total = page_weight(browser, page)
        out[name] = {
            "ttfb_ms": statistics.median(page_ms),
            "baseline_ms": statistics.median(base_ms),
            "html_bytes": html,
            "weight_bytes": total,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="1000,10000", help="store sizes to measure at, ascending")
    parser.add_argument("--requests", type=int, default=40, help="requests per figure")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.jobs.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="longrun-bench-console-"))
    redis_port, api_port = free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "PYTHONPATH": str(ROOT),
        "LONGRUN_API_KEYS": "default=" + hashlib.sha256(API_KEY.encode()).hexdigest(),
        "LONGRUN_RATE_LIMIT_REQUESTS": "0",
        "LONGRUN_ARTIFACTS_DIR": str(tmp / "artifacts"),
    }
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp)],
                stdout=subprocess.DEVNULL,
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "api.wsgi:app",
                    "-b",
                    f"127.0.0.1:{api_port}",
                    "-w",
                    "1",
                    "-k",
                    "gthread",
                    "--threads",
                    "4",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

        def up() -> bool:
            try:
                return Http(api_port).request("GET", "/openapi.json")[0] == 200
            except OSError:
                return False

        wait_for(up, 60, "gunicorn")
        rows, have = [], 0
        for size in sizes:
            started = time.monotonic()
            job_id = fill(redis_url, size, have)
            have = size
            print(f"filled the store to {size} jobs in {time.monotonic() - started:.1f} s", file=sys.stderr)
            rows.append((size, measure(api_port, job_id, args.requests)))
        first = rows[0][1]
        print(
            f"{'jobs in store':>13}  {'page':<10} {'TTFB ms':>8} {'API ms':>7} {'ratio':>6} "
            f"{'vs first size':>13} {'HTML KiB':>9} {'weight KiB':>10}"
        )
        for size, figures in rows:
            for name, f in figures.items():
                print(
                    f"{size:>13}  {name:<10} {f['ttfb_ms']:>8.2f} {f['baseline_ms']:>7.2f} "
                    f"{f['ttfb_ms'] / f['baseline_ms']:>6.2f} {f['ttfb_ms'] / first[name]['ttfb_ms']:>13.2f} "
                    f"{f['html_bytes'] / 1024:>9.1f} {f['weight_bytes'] / 1024:>10.1f}"
                )
        print("BENCH " + json.dumps({str(size): figures for size, figures in rows}))
        return 0
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
