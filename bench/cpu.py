"""CPU per request in one process, Longrun against the bare baselines:
``python -m bench.cpu [status] [submit] [--profile]``.

Starts its own redis-server on a free port, then drives the Longrun app and
bench/baseline_app.py through Flask's test client (no HTTP, no gunicorn):
1,000 requests per block after 100 warm-up, Longrun and baseline alternating 4
times, ``time.process_time``; prints each block's µs per request and the
ratio of the minimums. Steadier than wrk on a shared machine, since it counts
this process's CPU only. ``--profile`` adds a cProfile of Longrun's side
(CPU clock), sorted by cumulative time.
"""

import cProfile
import hashlib
import os
import pstats
import sys
import time

from tests.support.redis_server import RedisServer

KEY = "bench-key-0123456789abcdef"
BODY = {"kind": "sleep", "input": {"seconds": 0, "steps": 1}}


def measure(longrun, baseline, rounds: int = 4, n: int = 1000) -> dict[str, list[float]]:
    for call in (longrun, baseline):
        for _ in range(100):
            call()
    result: dict[str, list[float]] = {"longrun": [], "baseline": []}
    for _ in range(rounds):
        for side, call in (("longrun", longrun), ("baseline", baseline)):
            started = time.process_time()
            for _ in range(n):
                call()
            result[side].append((time.process_time() - started) * 1e6 / n)
    return result


def main() -> None:
    import tempfile
    from pathlib import Path

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    server = RedisServer(Path(tempfile.mkdtemp(prefix="bench-cpu-"))).start()
    os.environ.update(
        {
            "REDIS_URL": server.url,
            "LONGRUN_API_KEYS": "default=" + hashlib.sha256(KEY.encode()).hexdigest(),
            "LONGRUN_RATE_LIMIT_REQUESTS": str(10**9),
            "LONGRUN_MAX_QUEUE_DEPTH": str(10**9),
        }
    )
    try:
        from api import create_app
        from bench.baseline_app import app as baseline_app

        longrun = create_app().test_client()
        longrun.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {KEY}"
        baseline = baseline_app.test_client()
        job_id = longrun.post("/api/v1/jobs", json=BODY).get_json()["id"]
        task_id = baseline.post("/submit", json={}).get_json()["id"]
        cases = {
            "status": (lambda: longrun.get(f"/api/v1/jobs/{job_id}"), lambda: baseline.get(f"/state/{task_id}")),
            "submit": (lambda: longrun.post("/api/v1/jobs", json=BODY), lambda: baseline.post("/submit", json={})),
        }
        for name in args or list(cases):
            result = measure(*cases[name])
            ratio = min(result["longrun"]) / min(result["baseline"])
            print(
                f"{name}: Longrun {[round(x) for x in result['longrun']]} µs/request, baseline "
                f"{[round(x) for x in result['baseline']]}; ratio of the minimums {ratio:.2f}"
            )
            if "--profile" in sys.argv:
                profile = cProfile.Profile(time.process_time)
                profile.enable()
                for _ in range(1000):
                    cases[name][0]()
                profile.disable()
                pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
