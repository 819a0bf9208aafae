"""Cost of checkpoints: a 100-step job with and without them, in a worker-like process.

A: the job runs its steps through ``job.step`` with a plan (longrun/steps.py): a
``lua/step.lua`` call writes steps' outputs, timeline entries and progress event
(steps finished within the progress interval of the last write go together).
B: the same job reporting each step the way kinds did before checkpoints:
``job.progress.step`` (coalesced like any progress report), nothing kept.

Each step does ``work_ms`` of work (0: pure overhead, the worst case). Blocks of
A and B alternate; then the Redis memory one checkpointed step takes is read
with MEMORY USAGE (the timeline hash and the outputs hash of a 100-step job,
divided by 100). Prints one JSON line. Run by bench/run.py:
``python -m bench.steps STEPS ROUNDS WORK_MS [WORK_MS ...]``.
"""

import json
import sys
import threading
import time


def main() -> None:
    steps, rounds = int(sys.argv[1]), int(sys.argv[2])
    work = [float(x) for x in sys.argv[3:]] or [0.0]
    from longrun import keys
    from longrun.artifacts import ArtifactStore
    from longrun.job import Job
    from longrun.jobstore import worker_lost
    from longrun.settings import get_settings
    from longrun.steps import StepRunner
    from workers.kind_tasks import JOB_TASKS
    from workers.progress import ProgressReporter
    from workers.store import job_store, step_store

    store, settings, task = job_store(), get_settings(), JOB_TASKS["sleep"]
    artifacts = ArtifactStore(settings.artifacts_dir)
    names = [f"step {i}" for i in range(1, steps + 1)]

    def new_job(checkpoints: bool) -> tuple[Job, str]:
        job_id, _, _ = store.create(tenant="bench", kind="sleep", input={}, timeout_seconds=600)
        token = f"bench:1:{job_id[:8]}"
        lost_error, lost_meta = worker_lost(settings.max_attempts)
        assert store.claim(job_id, token, lost_error=lost_error, lost_meta=lost_meta).verdict == "run"
        reporter = ProgressReporter(task, job_id, threading.Event(), settings.progress_interval_seconds)
        runner = StepRunner(step_store(), job_id, token, 1, reporter, artifacts) if checkpoints else None
        return Job(
            id=job_id, attempt=1, progress=reporter, artifacts=artifacts, timeout_seconds=600, store=store, steps=runner
        ), job_id

    def one_step(pause: float, i: int) -> dict:
        if pause:
            time.sleep(pause)
        return {"item": i, "ok": True}

    def run_job(checkpoints: bool, pause: float) -> tuple[float, str]:
        job, job_id = new_job(checkpoints)
        task.push_request(id=job_id, task=task.name)
        try:
            started = time.perf_counter()
            job.plan(names)
            for i, name in enumerate(names, start=1):
                if checkpoints:
                    job.step(name, one_step, pause, i)
                else:
                    job.progress.step(i, steps, name)
                    one_step(pause, i)
            if job.steps is not None:
                job.steps.close()  # what JobTask does when the job's function returns
            return time.perf_counter() - started, job_id
        finally:
            task.pop_request()

    results: dict = {"steps": steps, "figures": []}
    for ms in work:
        pause = ms / 1000
        run_job(True, pause)  # warm: connections, script cache
        run_job(False, pause)
        sides: dict[str, list[float]] = {"with": [], "without": []}
        for r in range(rounds):
            order = [True, False] if r % 2 == 0 else [False, True]
            for checkpoints in order:
                seconds, _ = run_job(checkpoints, pause)
                sides["with" if checkpoints else "without"].append(seconds)
        results["figures"].append({"work_ms": ms, **sides})

    _, job_id = run_job(True, 0)
    timeline = store.redis.memory_usage(keys.steps(job_id), samples=0) or 0
    outputs = store.redis.memory_usage(keys.step_outputs(job_id), samples=0) or 0
    results["memory"] = {
        "timeline_bytes": timeline,
        "outputs_bytes": outputs,
        "per_step_bytes": (timeline + outputs) / steps,
        "output_json_bytes": len(json.dumps({"value": one_step(0, steps)})),
    }
    print("BENCH " + json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
