"""Live streams one API host holds (``python -m bench --only streams``).

The host runs the API as deployed: gunicorn gthread (gunicorn.conf.py) for
ordinary requests, and the event-stream server beside it (gunicorn gevent,
gunicorn_streams.conf.py) for GET /jobs/{id}/events. A client process
(bench/sse_client.py) opens N streams on the stream server, on a job that
stays pending, while wrk times ordinary GET /jobs/{id} on the API; each step's
p99 is compared with the same requests with no stream open, in the same run.
Target: >= 1,000 streams with p99 <= 2x idle.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from bench.run import Bench

STEPS = (250, 500, 1000, 1500)


def stream_figures(bench: Bench) -> None:
    from bench.run import AUTH, ROOT, SUBMIT_BODY, log, rss_mb

    saved = bench.env
    bench.env = {**saved, "LONGRUN_SSE_MAX_STREAMS_PER_TENANT": "100000", "LONGRUN_SSE_HEARTBEAT_SECONDS": "15"}
    try:
        api, api_url = bench.gunicorn_with("streams-api", ["-c", str(ROOT / "gunicorn.conf.py")])
        hub, hub_url = bench.gunicorn_with(
            "streams-hub",
            ["-c", str(ROOT / "gunicorn_streams.conf.py")],
            worker_class="gevent",
            workers=1,
            threads=None,
        )
    finally:
        bench.env = saved
    job_id = bench.http(api_url + "/api/v1/jobs", "POST", SUBMIT_BODY)["id"]  # no worker: stays pending
    status_url = f"{api_url}/api/v1/jobs/{job_id}"
    bench.wrk(status_url, seconds=1, connections=4)
    hub_pid = hub.children()[0]
    idle_rss = rss_mb(hub_pid)
    seconds = bench.size.http_seconds + 1
    idle = [bench.wrk(status_url, seconds=seconds, connections=4)]
    host, port = hub_url.removeprefix("http://").split(":")
    for n in STEPS:
        ready = bench.workdir / f"sse-{n}.ready"
        client = bench.start(
            f"sse-client-{n}",
            [
                bench.python,
                "-m",
                "bench.sse_client",
                host,
                port,
                f"/api/v1/jobs/{job_id}/events",
                AUTH,
                str(n),
                str(ready),
            ],
        )
        wait_until(lambda c=client, r=ready: c.check() or (r.exists() and r.read_text()), 180, message=f"{n} streams")
        opened, refused = (int(x) for x in ready.read_text().split())
        time.sleep(2)
        loaded = bench.wrk(status_url, seconds=seconds, connections=4)
        rss = rss_mb(hub_pid)
        bench.stop(client)
        time.sleep(1)
        again = bench.wrk(status_url, seconds=seconds, connections=4)  # idle again: ABA against drift
        idle.append(again)
        base_p99 = min(s["p99_us"] for s in idle[-2:]) / 1000
        p99 = loaded["p99_us"] / 1000
        log(
            f"streams {n}: {opened} open, {refused} refused; GET p99 {p99:.1f} ms vs idle {base_p99:.1f} ms; "
            f"stream server RSS {idle_rss:.0f} -> {rss:.0f} MB"
        )
        bench.stream_rows.append(
            (
                n,
                opened,
                refused,
                p99,
                base_p99,
                loaded["rps"],
                idle[-2]["rps"],
                (rss - idle_rss) * 1024 / max(1, opened),
            )
        )
    bench.stop(api)
    bench.stop(hub)
