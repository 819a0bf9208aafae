"""Bench figures for I/O-bound jobs and for each pool (``python -m bench --only io --only pools``).

- I/O-bound throughput: ``inference`` jobs against the fake OpenAI server
  (bench/fake_llm_server.py) streaming 50 tokens over 2 s. Longrun on one
  threads-pool process (c=200) against raw Celery on prefork given the same
  memory (as many pool processes as fit in the Longrun worker's peak RSS), each
  task making the same streamed call with the same client. jobs/s = jobs /
  (last result - the moment the worker was given the queue). Ideal: c / 2 s.
- Cancel latency and timeout overshoot on prefork, threads and solo: ``sleep``
  jobs cancelled while running (request to final state), and ``sleep`` jobs of
  30 s with a timeout of 1 s (final state - start - timeout), production
  heartbeat and grace settings.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from longrun import keys
from longrun.states import JobStatus
from tests.support.processes import celery_worker_args
from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from bench.run import Bench

TOKENS, STREAM_SECONDS = 50, 2.0
IO_CONCURRENCY = 200


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _worker(bench: Bench, app: str, name: str, concurrency: int, pool: str, queues: str, env: dict | None = None):
    from bench.run import IDLE_QUEUE, log

    hostname = f"{name}-{uuid.uuid4().hex[:4]}@bench"
    args = celery_worker_args(
        app, hostname, concurrency, loglevel="warning", queues=queues or IDLE_QUEUE, extra_args=("-P", pool)
    )
    saved = bench.env
    bench.env = {**saved, **(env or {})}
    try:
        worker = bench.start(f"worker-{hostname}", args)
    finally:
        bench.env = saved
    control = bench.control()

    def ready():
        worker.check()
        return control.ping(destination=[hostname], timeout=1)

    wait_until(ready, 90, message=f"worker {hostname}")
    if pool == "prefork":
        wait_until(lambda: len(worker.children()) >= concurrency, 60, message="pool processes")
    time.sleep(1)
    log(f"worker {hostname} ({pool} -c {concurrency}) up")
    return worker, hostname


def _rss_tree(worker) -> float:
    from bench.run import rss_mb

    total = 0.0
    for pid in [worker.pid, *worker.children()]:
        try:
            total += rss_mb(pid)
        except OSError:
            pass
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _drain(
    bench: Bench, worker, hostname: str, queue: str, done, n: int, watch: dict[str, int] | None = None
) -> tuple[float, float, float]:
    """Give the worker its queue; wait for ``n`` results. Returns (jobs/s, idle RSS, peak RSS) of the worker tree.
    Logs the CPU seconds per job of the worker and of the processes in ``watch``."""
    idle = _rss_tree(worker)
    pids = {
        "worker": worker.pid,
        **{f"pool process {i + 1}": pid for i, pid in enumerate(worker.children())},
        **(watch or {}),
    }
    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    if not bench.control().add_consumer(queue, destination=[hostname], reply=True, timeout=10):
        raise RuntimeError(f"worker {hostname} did not take queue {queue}")
    t0 = time.time()
    peak = idle
    deadline = time.monotonic() + 120 + n
    while done() < n:
        worker.check()
        peak = max(peak, _rss_tree(worker))
        if time.monotonic() > deadline:
            raise RuntimeError(f"{done()} of {n} jobs done on {hostname}")
        time.sleep(0.1)
    last = bench.last_done()
    from bench.run import log

    cpu = ", ".join(f"{name} {1000 * (cpu_seconds(pid) - cpu0[name]) / n:.1f} ms" for name, pid in pids.items())
    log(f"{hostname}: CPU per job: {cpu} (over {time.time() - t0:.1f} s; load {os.getloadavg()[0]:.1f})")
    return n / (last - t0), idle, peak


def io_figures(bench: Bench) -> None:
    from api import service
    from bench.run import TENANT, log

    port_file = bench.workdir / "fake-llm.port"
    fake = bench.start(
        "fake-llm", [bench.python, "-m", "bench.fake_llm_server", str(port_file), str(TOKENS), str(STREAM_SECONDS)]
    )
    wait_until(lambda: fake.check() or (port_file.exists() and port_file.read_text()), 30, message="fake LLM")
    llm_env = {
        "LLM_BASE_URL": f"http://127.0.0.1:{port_file.read_text()}/v1",
        "LLM_MODEL": "fake-model",
        "LONGRUN_LLM_MAX_RETRIES": "0",
    }
    n = bench.size.io_jobs
    ideal = IO_CONCURRENCY / STREAM_SECONDS
    for round_no in range(bench.size.io_rounds):
        # Longrun: one process, threads pool.
        bench.redis.flushdb()
        svc = bench.services()
        ids = [uuid.uuid4().hex for _ in range(n)]
        for job_id in ids:
            service.submit(svc, TENANT, kind="inference", input={"input": "hi"}, job_id=job_id)
        worker, host = _worker(
            bench, "bench.longrun_worker", f"io-threads-{round_no}", IO_CONCURRENCY, "threads", "", llm_env
        )

        def finished() -> int:
            failed = bench.redis.zcard(keys.tenant_index(TENANT, JobStatus.FAILED))
            if failed:
                raise RuntimeError(f"{failed} inference jobs failed")
            return bench.redis.zcard(keys.tenant_index(TENANT, JobStatus.COMPLETED))

        bench.last_ids = ids
        watch = {"fake LLM": fake.pid, "redis": bench.redis_server.process.pid}
        rate, idle, peak = _drain(bench, worker, host, keys.queue("inference"), finished, n, watch)
        bench.stop(worker)
        per_job = (peak - idle) / IO_CONCURRENCY
        log(
            f"io threads: {n} jobs {rate:.1f} jobs/s ({100 * rate / ideal:.0f}% of ideal {ideal:.0f}); "
            f"RSS {idle:.0f} -> {peak:.0f} MB ({per_job:.2f} MB per in-flight job)"
        )
        bench.record("I/O-bound inference jobs/s (threads c=200 vs prefork, equal memory)", "longrun", rate)
        bench.record("I/O-bound jobs/s as % of ideal (c / 2 s)", "longrun", 100 * rate / ideal)
        bench.record("I/O-bound worker RSS at peak (MB)", "longrun", peak)
        bench.record("I/O-bound memory per in-flight job (MB)", "longrun", per_job)

        # Reference: raw Celery on the same threads pool (same calls, no Longrun), to tell
        # Longrun's own cost from what the machine and the fake server allow.
        bench.redis.flushdb()
        from bench.raw_celery import app, llm

        ref_ids = [uuid.uuid4().hex for _ in range(n)]
        with app.producer_or_acquire() as producer, producer.batch(max_size=500):
            for task_id in ref_ids:
                llm.apply_async(args=[task_id], task_id=task_id, producer=producer)
        worker, host = _worker(
            bench, "bench.raw_celery", f"io-raw-threads-{round_no}", IO_CONCURRENCY, "threads", "", llm_env
        )
        bench.last_ids = ref_ids
        ref_rate, _, ref_peak = _drain(
            bench, worker, host, "bench.raw", lambda ids=ref_ids: bench.done_count("raw", ids), n, watch
        )
        bench.stop(worker)
        log(f"io raw threads: {n} jobs {ref_rate:.1f} jobs/s; RSS peak {ref_peak:.0f} MB")
        bench.record("I/O-bound jobs/s, Longrun threads vs raw Celery threads (c=200, reference)", "longrun", rate)
        bench.record("I/O-bound jobs/s, Longrun threads vs raw Celery threads (c=200, reference)", "baseline", ref_rate)

        # Raw Celery prefork with the same memory: as many processes as fit in `peak`.
        bench.redis.flushdb()
        probe, _ = _worker(bench, "bench.raw_celery", f"io-probe-{round_no}", 2, "prefork", "", llm_env)
        main_mb = _rss_tree(probe) - sum(_child_rss(probe))
        child_mb = statistics.mean(_child_rss(probe))
        bench.stop(probe)
        processes = max(1, int((peak - main_mb) // child_mb))
        m = min(n, max(20, 10 * processes))
        raw_ids = [uuid.uuid4().hex for _ in range(m)]
        with app.producer_or_acquire() as producer, producer.batch(max_size=500):
            for task_id in raw_ids:
                llm.apply_async(args=[task_id], task_id=task_id, producer=producer)
        worker, host = _worker(bench, "bench.raw_celery", f"io-prefork-{round_no}", processes, "prefork", "", llm_env)
        bench.last_ids = raw_ids
        raw_rate, _, raw_peak = _drain(
            bench, worker, host, "bench.raw", lambda ids=raw_ids: bench.done_count("raw", ids), m
        )
        bench.stop(worker)
        log(
            f"io prefork: {m} jobs on {processes} processes ({main_mb:.0f} MB + {child_mb:.0f} MB each; "
            f"peak {raw_peak:.0f} MB): {raw_rate:.1f} jobs/s"
        )
        bench.record("I/O-bound inference jobs/s (threads c=200 vs prefork, equal memory)", "baseline", raw_rate)
        bench.record("I/O-bound worker RSS at peak (MB)", "baseline", raw_peak)
        bench.record("I/O-bound memory per in-flight job (MB)", "baseline", (raw_peak - main_mb) / processes)
        bench.notes.append(
            f"I/O-bound round {round_no + 1}: Longrun {n} jobs on 1 threads process (c=200), "
            f"raw Celery {m} jobs on {processes} prefork processes ({main_mb:.0f} MB main + "
            f"{child_mb:.0f} MB per process fit in Longrun's {peak:.0f} MB peak)"
        )
    bench.stop(fake)


def _child_rss(worker) -> list[float]:
    from bench.run import rss_mb

    return [rss_mb(pid) for pid in worker.children()]


POOL_CONCURRENCY = {"prefork": 2, "threads": 8, "solo": 1}


def pool_figures(bench: Bench) -> None:
    """Cancel latency and timeout overshoot (seconds) on each pool."""
    from api import service
    from bench.run import TENANT, log

    svc = bench.services()
    samples = bench.size.pool_samples
    for pool, concurrency in POOL_CONCURRENCY.items():
        bench.redis.flushdb()
        worker, _ = _worker(bench, "bench.longrun_worker", f"pool-{pool}", concurrency, pool, keys.queue("sleep"))
        cancel, overshoot = [], []
        while len(cancel) < samples:
            ids = [
                service.submit(svc, TENANT, kind="sleep", input={"seconds": 60, "steps": 60})[0]["id"]
                for _ in range(concurrency)
            ]
            wait_until(lambda ids=ids: all(svc.store.get(i)["status"] == "running" for i in ids), 60, message="running")
            time.sleep(0.5)
            asked = {}
            for job_id in ids:
                asked[job_id] = time.time()
                svc.store.request_cancel(job_id)
            wait_until(
                lambda ids=ids: all(svc.store.get(i)["status"] == "cancelled" for i in ids), 60, message="cancelled"
            )
            for job_id in ids:
                cancel.append(svc.store.get(job_id)["_times"]["finished_at"] - asked[job_id])
        while len(overshoot) < samples:
            ids = [
                service.submit(svc, TENANT, kind="sleep", input={"seconds": 30, "steps": 1}, timeout_seconds=1)[0]["id"]
                for _ in range(concurrency)
            ]
            wait_until(
                lambda ids=ids: all(svc.store.get(i)["status"] in ("failed", "completed") for i in ids),
                60,
                message="timed out",
            )
            for job_id in ids:
                doc = svc.store.get(job_id)
                if doc["status"] != "failed" or doc["error"]["type"] != "Timeout":
                    raise RuntimeError(f"{pool}: job past its timeout ended {doc['status']} {doc['error']}")
                overshoot.append(doc["_times"]["finished_at"] - doc["_times"]["started_at"] - 1)
        bench.stop(worker)
        for name, values in (("cancel latency", cancel), ("timeout overshoot", overshoot)):
            p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
            bench.pool_rows.append((pool, name, p50, p99, len(values)))
            log(f"{pool}: {name} p50 {p50:.2f}s p99 {p99:.2f}s ({len(values)} jobs)")
