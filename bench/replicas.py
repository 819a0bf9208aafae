"""What ``LONGRUN_REDIS_MIN_REPLICAS=1`` costs a submit: ``python -m bench.replicas [--quick]``.

A master and one replica on loopback (both redis-server processes of this
run), two API servers under gunicorn on that master, one with
``LONGRUN_REDIS_MIN_REPLICAS=1`` (each submit waits for the replica: WAIT
pipelined behind the create script) and one with 0, measured with ``wrk`` in
alternating rounds (ABBA...), as ``python -m bench`` measures its submit
figure. The ratio is what to compare: loopback replication is as fast as it
gets, a replica across a network adds its round trip to every submit.
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.run import FULL, QUICK, SUBMIT_BODY, Bench, fmt, log, machine
from tests.support.redis_cluster import RedisNode
from tests.support.waiting import wait_until


class ReplicaBench(Bench):
    def start_redis(self) -> None:
        super().start_redis()
        self.replica = RedisNode(self.workdir / "replica", replica_of=self.redis_port, appendonly=False).start()
        replica = self.replica.client(decode_responses=True)
        wait_until(
            lambda: replica.info("replication").get("master_link_status") == "up",
            timeout=20,
            message="the replica to sync",
        )

    def replica_figures(self, worker_class: str = "gthread") -> None:
        servers = {}
        for side, wanted in (("min_replicas=1", "1"), ("min_replicas=0", "0")):
            self.env["LONGRUN_REDIS_MIN_REPLICAS"] = wanted
            servers[side] = self.gunicorn(f"api-{side}", "api.wsgi:app", worker_class, "/openapi.json")
        for proc, url in servers.values():
            proc.wait_ready()
            self.wrk(url + "/api/v1/jobs", "POST", SUBMIT_BODY, seconds=1)  # warm
        sides = list(servers.items())
        for r in range(self.size.http_rounds * 2):
            for side, (_, url) in sides if r % 2 == 0 else sides[::-1]:
                st = self.wrk(url + "/api/v1/jobs", "POST", SUBMIT_BODY)
                self.record("submit req/s", side, st["rps"])
                self.record("submit p50 ms", side, st["p50_us"] / 1000)
                self.record("submit p99 ms", side, st["p99_us"] / 1000)
                log(
                    f"submit {side}: {st['rps']:.0f} req/s p50 {st['p50_us'] / 1000:.1f} ms "
                    f"p99 {st['p99_us'] / 1000:.1f} ms"
                )

    def record(self, figure: str, side: str, value: float) -> None:
        self.results.setdefault(figure, {}).setdefault(side, []).append(value)


def table(bench: ReplicaBench) -> str:
    rows = [
        "| figure | MIN_REPLICAS=1 median (min–max) | MIN_REPLICAS=0 median (min–max) | ratio 1/0 |",
        "|---|---|---|---|",
    ]
    for figure, sides in bench.results.items():
        one, zero = sides["min_replicas=1"], sides["min_replicas=0"]
        rows.append(f"| {figure} | {fmt(one)} | {fmt(zero)} | {statistics.median(one) / statistics.median(zero):.2f} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run, shorter rounds")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian/Ubuntu: apt-get install -y wrk)", file=sys.stderr)
        return 2
    size = QUICK if args.quick else FULL
    workdir = Path(tempfile.mkdtemp(prefix="longrun-bench-replicas-"))
    bench = ReplicaBench(size, workdir)
    started = time.monotonic()
    try:
        bench.start_redis()
        bench.replica_figures()
    finally:
        bench.stop_all()
        if getattr(bench, "replica", None):
            bench.replica.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"## `python -m bench.replicas{' --quick' if args.quick else ''}`\n\n{machine()}"
        f"- master + 1 replica on loopback (no append-only file); {size.http_rounds * 2} alternating rounds "
        f"of {size.http_seconds:g}s per side (wrk -t2 -c{size.connections}, gunicorn gthread 5x4); "
        f"took {time.monotonic() - started:.0f}s\n\n{table(bench)}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
