"""CPU per job by process, and Redis's work per job: ``python -m bench.jobcpu [N]``.

Where ``python -m bench --only jobs`` gives throughput, this says where a job's
cost goes. It starts its own redis-server, queues N no-op jobs (default 3,000)
of Longrun (``sleep``, seconds 0, one step) and of raw Celery (bench/raw_celery.py),
drains each with a prefork -c 2 worker, and prints for each side the CPU ms per
job of the worker's main process, its pool processes and Redis (from /proc),
the Lua scripts (EVALSHA) per job and the commands Redis ran per job
(``INFO commandstats``, which counts the commands scripts make too).
"""

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from longrun import keys
from tests.support.processes import ChildProcess, celery_worker_args, subprocess_env
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until

IDLE_QUEUE = "bench.jobcpu.idle"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def queue_jobs(variant: str, n: int) -> tuple[list[str], str, str]:
    """Queue ``n`` jobs; returns (ids, celery app, queue)."""
    ids = [uuid.uuid4().hex for _ in range(n)]
    if variant == "raw":
        from bench.raw_celery import QUEUE, app, noop

        with app.producer_or_acquire() as producer, producer.batch(max_size=500):
            for task_id in ids:
                noop.apply_async(args=[task_id], task_id=task_id, producer=producer)
        return ids, "bench.raw_celery", QUEUE
    from api import service
    from api.extensions import Services
    from longrun.artifacts import ArtifactStore
    from longrun.jobstore import JobStore
    from longrun.settings import get_settings
    from workers.celery_app import app

    settings = get_settings()
    svc = Services(settings, JobStore.from_settings(settings), ArtifactStore(settings.artifacts_dir), app)
    for job_id in ids:
        service.submit(svc, "default", kind="sleep", input={"seconds": 0, "steps": 1}, job_id=job_id)
    return ids, "bench.longrun_worker", keys.queue("sleep")


def drain(variant: str, n: int, server: RedisServer, workdir: Path) -> str:
    import redis

    client = redis.Redis.from_url(server.url, decode_responses=True)
    client.flushdb()
    ids, app_name, queue = queue_jobs(variant, n)
    hostname = f"jobcpu-{variant}-{uuid.uuid4().hex[:4]}@bench"
    worker = ChildProcess(
        hostname,
        celery_worker_args(app_name, hostname, 2, loglevel="warning", queues=IDLE_QUEUE),
        subprocess_env(),
        workdir / f"{variant}.log",
    ).spawn()
    try:
        if variant == "raw":
            from bench.raw_celery import app as control_app
        else:
            from workers.celery_app import app as control_app
        control = control_app.control
        wait_until(lambda: worker.check() or control.ping(destination=[hostname], timeout=1), 90, message=hostname)
        pool = wait_until(lambda: worker.children() if len(worker.children()) >= 2 else None, 30, message="pool")
        pids = {"main": worker.pid, "pool": pool, "redis": [server.process.pid]}
        before = {name: sum(cpu_seconds(p) for p in ([v] if isinstance(v, int) else v)) for name, v in pids.items()}
        client.config_resetstat()
        started = time.monotonic()
        control.add_consumer(queue, destination=[hostname], reply=True, timeout=10)

        def finished() -> bool:
            if variant == "raw":
                return sum(client.exists(*[keys.meta(i) for i in ids[s : s + 1000]]) for s in range(0, n, 1000)) >= n
            return client.zcard(keys.tenant_index("default", "completed")) >= n

        wait_until(finished, 120 + n / 10, interval=0.5, message=f"{n} {variant} jobs")
        wall = time.monotonic() - started
        stats = client.info("commandstats")
        after = {name: sum(cpu_seconds(p) for p in ([v] if isinstance(v, int) else v)) for name, v in pids.items()}
    finally:
        worker.stop()
    cpu = {name: 1000 * (after[name] - before[name]) / n for name in pids}
    evalsha = stats.get("cmdstat_evalsha", {"calls": 0})["calls"] / n
    commands = sum(v["calls"] for k, v in stats.items() if not k.startswith(("cmdstat_config", "cmdstat_info"))) / n
    return (
        f"| {variant} | {n / wall:.0f} | {cpu['main']:.2f} | {cpu['pool']:.2f} | {cpu['redis']:.2f} | "
        f"{sum(cpu.values()):.2f} | {evalsha:.2f} | {commands:.1f} |"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    workdir = Path(tempfile.mkdtemp(prefix="bench-jobcpu-"))
    server = RedisServer(workdir / "redis").start()
    os.environ.update(
        REDIS_URL=server.url,
        LONGRUN_ARTIFACTS_DIR=str(workdir / "artifacts"),
        LONGRUN_RATE_LIMIT_REQUESTS=str(10**9),
        LONGRUN_MAX_QUEUE_DEPTH=str(10**9),
        LONGRUN_MAX_FINISHED_JOBS="0",
        LONGRUN_MAX_RUNNING_PER_TENANT="0",
    )
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        os.environ.pop(name, None)
    try:
        rows = [drain(variant, n, server, workdir) for variant in ("raw", "longrun", "longrun", "raw")]
    finally:
        server.stop()
    print(f"{n:,} no-op jobs per drain, prefork -c 2 (wall includes the worker taking its queue)\n")
    columns = ["side", "jobs/s", "main ms/job", "pool ms/job", "Redis ms/job", "all ms/job", "scripts/job"]
    print("| " + " | ".join([*columns, "Redis commands/job"]) + " |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
